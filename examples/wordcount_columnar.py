"""Word count on the columnar fast path: the words of ``examples/wordcount.py`` as Arrow
record batches, keyed by the word column and counted vectorized.

Each of P source subtasks emits the same words as the record example (N lines of 10
words from the 64-bit LCG ``x = x * 6364136223846793005 + 1442695040888963407`` starting
at x = 12345, word = ``"w<(x >> 33) % 1000>"``). The LCG is jumped ahead so that numpy
generates a whole batch at once; the word column is dictionary-encoded. The final counts
equal the record example's.

Run it::

    python examples/wordcount_columnar.py --lines 10000 --parallelism 2 --output counts.txt
    headwater run examples/wordcount_columnar.py --lines 10000 --parallelism 2
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pyarrow as pa

from headwater.api import (
    ListAccumulator,
    SinkFunction,
    SourceFunction,
    StreamExecutionEnvironment,
)

MASK = (1 << 64) - 1
MULTIPLIER = 6364136223846793005
INCREMENT = 1442695040888963407
SEED = 12345
VOCABULARY = 1000
#: Words per batch (a multiple of the 10 words of a line).
BATCH_WORDS = 65_530


class WordBatches:
    """The LCG's words, ``size`` at a time: ``x[base + k] = A[k] * x[base] + C[k]``."""

    def __init__(self, size: int = BATCH_WORDS) -> None:
        a, c = [], []
        ak, ck = 1, 0
        for _ in range(size):
            ak, ck = (ak * MULTIPLIER) & MASK, (ck * MULTIPLIER + INCREMENT) & MASK
            a.append(ak)
            c.append(ck)
        self.a = np.array(a, dtype=np.uint64)
        self.c = np.array(c, dtype=np.uint64)
        self.dictionary = pa.array([f"w{i}" for i in range(VOCABULARY)])
        self.schema = pa.schema([("word", pa.dictionary(pa.int32(), pa.string()))])

    def indexes(self, words: int):
        """Yield numpy arrays of word indexes, ``words`` in all."""
        x = np.uint64(SEED)
        done = 0
        while done < words:
            n = min(len(self.a), words - done)
            xs = self.a[:n] * x + self.c[:n]
            x = xs[-1]
            done += n
            yield ((xs >> np.uint64(33)) % np.uint64(VOCABULARY)).astype(np.int32)

    def batches(self, words: int):
        """Yield the words as RecordBatches with a dictionary-encoded ``word`` column."""
        for idx in self.indexes(words):
            column = pa.DictionaryArray.from_arrays(pa.array(idx), self.dictionary)
            yield pa.RecordBatch.from_arrays([column], schema=self.schema)


class GeneratedWordBatches(SourceFunction):
    """Emits the words of ``lines`` generated lines in every subtask, as batches."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        self.running = True

    def run(self, ctx) -> None:
        for batch in WordBatches().batches(self.lines * 10):
            if not self.running:
                return
            ctx.collect(batch)

    def cancel(self) -> None:
        self.running = False


class FinalCounts(SinkFunction):
    """Keeps each word's count; publishes them when input ends."""

    def open(self, runtime_context) -> None:
        self.latest: dict[str, int] = {}
        self.result = ListAccumulator()
        runtime_context.add_accumulator("word-counts", self.result)

    def invoke(self, value, context=None) -> None:
        self.latest[value[0]] = value[1]

    def close(self) -> None:
        for word, count in self.latest.items():
            self.result.add((word, count))


def build(env: StreamExecutionEnvironment, lines: int, parallelism: int) -> None:
    """Add the columnar word count pipeline to ``env``."""
    env.set_parallelism(parallelism)
    (env.from_batch_source(GeneratedWordBatches(lines), "words")
        .key_by("word")
        .count(emit="final").name("count")
        .to_records()
        .add_sink(FinalCounts()).name("final counts"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10000, help="lines per source subtask")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--output", help="write 'word count' lines sorted by word here")
    args = parser.parse_args(argv)
    env = StreamExecutionEnvironment.get_execution_environment()
    build(env, args.lines, args.parallelism)
    result = env.execute("wordcount-columnar")
    counts = dict(result.get_accumulator_result("word-counts") or [])
    text = "".join(f"{w} {counts[w]}\n" for w in sorted(counts))
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {len(counts)} words to {args.output} "
              f"(job {result.get_job_id()}, {result.get_net_runtime()} ms)")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
