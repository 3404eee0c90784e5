"""Word count over generated text: the bounded example job and the benchmark workload.

Each of P source subtasks emits N lines of 10 words. Word indexes come from the 64-bit
LCG ``x = x * 6364136223846793005 + 1442695040888963407 (mod 2**64)`` starting at
x = 12345, index = (x >> 33) % 1000, word = "w<index>". The job splits lines into
words, keys by word, sums, and a sink keeps each word's latest count; the final counts
come back through an accumulator.

Run it::

    python examples/wordcount.py --lines 10000 --parallelism 2 --output counts.txt
    headwater run examples/wordcount.py --lines 10000 --parallelism 2
"""

from __future__ import annotations

import argparse
import sys

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


def generate_lines(lines: int):
    """The text one source subtask emits, line by line."""
    x = SEED
    for _ in range(lines):
        words = []
        for _ in range(10):
            x = (x * MULTIPLIER + INCREMENT) & MASK
            words.append(f"w{(x >> 33) % 1000}")
        yield " ".join(words)


class GeneratedLines(SourceFunction):
    """Emits ``lines`` generated lines in every subtask."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        self.running = True

    def run(self, ctx) -> None:
        for line in generate_lines(self.lines):
            if not self.running:
                return
            ctx.collect(line)

    def cancel(self) -> None:
        self.running = False


def split(line: str):
    """One (word, 1) pair per word."""
    return [(w, 1) for w in line.split()]


class FinalCounts(SinkFunction):
    """Keeps each word's latest running count; publishes them when input ends."""

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
    """Add the word count pipeline to ``env``."""
    env.set_parallelism(parallelism)
    (env.add_source(GeneratedLines(lines), "lines")
        .flat_map(split).name("split")
        .key_by(0)
        .sum(1)
        .add_sink(FinalCounts()).name("final counts"))


def expected_counts(lines: int, parallelism: int) -> dict[str, int]:
    """The same count in plain Python, for checking."""
    counts: dict[str, int] = {}
    for line in generate_lines(lines):
        for w in line.split():
            counts[w] = counts.get(w, 0) + parallelism
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10000, help="lines per source subtask")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--output", help="write 'word count' lines sorted by word here")
    args = parser.parse_args(argv)
    env = StreamExecutionEnvironment.get_execution_environment()
    build(env, args.lines, args.parallelism)
    result = env.execute("wordcount")
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
