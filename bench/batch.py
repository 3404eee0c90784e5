"""Benchmark: a bounded wordcount in BATCH and in STREAMING mode, against a plain loop.

All three run in the same invocation on the same machine:

* baseline: one Python process making the same lines, splitting and counting the words;
* headwater P=2 STREAMING and P=2 BATCH: the same program (a bounded sequence source,
  each index made into a line of 10 words, split, key_by word, sum, a sink keeping each
  word's count) on one cluster of 2 TaskManagers (1 slot each). In STREAMING the sum
  emits a running count per word; in BATCH the exchange is written to files, the sum sees
  each key's records together and emits one final count per word.

Throughput is words divided by the job's duration as the JobManager measured it.
Target: BATCH >= 1.5x STREAMING.

    python bench/batch.py            # full size
    python bench/batch.py --quick    # short mode for CI
"""

from __future__ import annotations

import argparse
import time

from _common import wait_finished

from headwater.api import (
    ListAccumulator,
    RuntimeExecutionMode,
    SinkFunction,
    StreamExecutionEnvironment,
)
from headwater.cluster.minicluster import MiniCluster
from headwater.config import Configuration
from headwater.runtime.accumulators import deserialize_result

VOCABULARY = 1000


def words_of(i: int) -> list[tuple[str, int]]:
    """The 10 words of line ``i``, each with a count of 1."""
    return [(f"w{(i * 7919 + k * 104729) % VOCABULARY}", 1) for k in range(10)]


class LatestCounts(SinkFunction):
    """Keeps each word's latest count; publishes how many words it saw at the end."""

    def open(self, runtime_context) -> None:
        self.latest: dict[str, int] = {}
        self.result = ListAccumulator()
        runtime_context.add_accumulator("counts", self.result)

    def invoke(self, value, context=None) -> None:
        self.latest[value[0]] = value[1]

    def close(self) -> None:
        self.result.add(sum(self.latest.values()))


def baseline(lines: int) -> float:
    """Words per second of the plain loop."""
    start = time.perf_counter()
    counts: dict[str, int] = {}
    for i in range(lines):
        for w, n in words_of(i):
            counts[w] = counts.get(w, 0) + n
    assert sum(counts.values()) == lines * 10
    return lines * 10 / (time.perf_counter() - start)


def run_headwater(cluster: MiniCluster, lines: int, mode: RuntimeExecutionMode) -> float:
    """Words per second of the job at P=2 in ``mode``, by the JobManager's duration."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_runtime_mode(mode)
    (env.from_sequence(0, lines - 1).flat_map(words_of)
        .key_by(lambda p: p[0]).sum(1).add_sink(LatestCounts()))
    job_id = cluster.submit(env.get_job_graph(f"wordcount-{mode.name.lower()}"))
    graph = wait_finished(cluster, job_id)
    counted = sum(deserialize_result(graph.accumulator_results["counts"]))
    assert counted == lines * 10, f"{mode.name} counted {counted} words of {lines * 10}"
    return lines * 10 / (graph.duration() / 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=400_000, help="lines in all")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()
    lines = 300_000 if args.quick else args.lines
    base = streaming = batch = 0.0
    with MiniCluster(Configuration(), taskmanagers=2) as cluster:
        for _ in range(args.repeat):  # interleaved: every figure sees the same load
            base = max(base, baseline(lines))
            streaming = max(streaming, run_headwater(cluster, lines,
                                                     RuntimeExecutionMode.STREAMING))
            batch = max(batch, run_headwater(cluster, lines, RuntimeExecutionMode.BATCH))
    print(f"lines: {lines} (10 words each)")
    print(f"plain loop            : {base:12,.0f} words/s")
    print(f"headwater P=2 STREAMING: {streaming:12,.0f} words/s   ratio to loop "
          f"{streaming / base:5.2f}x")
    print(f"headwater P=2 BATCH    : {batch:12,.0f} words/s   ratio to loop "
          f"{batch / base:5.2f}x")
    print(f"BATCH / STREAMING      : {batch / streaming:5.2f}x (target 1.5x)")


if __name__ == "__main__":
    main()
