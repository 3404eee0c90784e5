"""Benchmark: the wordcount workload on headwater at P=1 and P=2 against a plain loop.

All three run in the same invocation on the same machine:

* baseline: one Python process generating, splitting and counting the words in a loop;
* headwater P=1 and P=2 on one cluster of 2 TaskManagers (1 slot each).

Throughput is words divided by the job's duration as the JobManager measured it (from
submission to FINISHED, so scheduling and deployment count against headwater).
Targets: P=1 >= 0.5x the baseline, P=2 >= 1.6x P=1 and >= 1.0x the baseline.

    python bench/wordcount.py            # full size
    python bench/wordcount.py --quick    # short mode for CI
"""

from __future__ import annotations

import argparse
import time

from _common import load_wordcount_example, wait_finished

from headwater.api import StreamExecutionEnvironment
from headwater.cluster.minicluster import MiniCluster
from headwater.config import Configuration


def baseline(wc, lines: int) -> float:
    """Words per second of the plain loop (generate, split, count)."""
    start = time.perf_counter()
    counts: dict[str, int] = {}
    words = 0
    for line in wc.generate_lines(lines):
        for w in line.split():
            counts[w] = counts.get(w, 0) + 1
            words += 1
    return words / (time.perf_counter() - start)


def run_headwater(cluster: MiniCluster, wc, lines: int, parallelism: int) -> float:
    """Words per second of the job, by the JobManager's duration."""
    env = StreamExecutionEnvironment.get_execution_environment()
    wc.build(env, lines, parallelism)
    job_graph = env.get_job_graph(f"wordcount-p{parallelism}")
    job_id = cluster.submit(job_graph)
    graph = wait_finished(cluster, job_id)
    words = lines * 10 * parallelism
    return words / (graph.duration() / 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=300_000, help="lines per source subtask")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()
    lines = 100_000 if args.quick else args.lines
    wc = load_wordcount_example()
    # The machine is shared: the loop runs between the headwater runs (loop, P=1, P=2,
    # loop, ...), so every figure sees the same mix of load; best of N for each.
    base = p1 = p2 = 0.0
    with MiniCluster(Configuration(), taskmanagers=2) as cluster:
        for _ in range(args.repeat):
            base = max(base, baseline(wc, lines))
            p1 = max(p1, run_headwater(cluster, wc, lines, 1))
            p2 = max(p2, run_headwater(cluster, wc, lines, 2))
    print(f"lines per subtask: {lines} (10 words each)")
    print(f"plain loop        : {base:12,.0f} words/s")
    print(f"headwater P=1     : {p1:12,.0f} words/s   ratio to loop {p1 / base:5.2f}x (target 0.5x)")
    print(f"headwater P=2     : {p2:12,.0f} words/s   ratio to P=1  {p2 / p1:5.2f}x (target 1.6x)")
    print(f"                                          ratio to loop {p2 / base:5.2f}x (target 1.0x)")

if __name__ == "__main__":
    main()
