"""Benchmark: the columnar word count against the plain loop, pyarrow and the record path.

All run in the same invocation on the same machine:

* plain loop: one Python process generating, splitting and counting the words;
* pyarrow: one process generating the same words as batches (numpy) and counting them
  with ``pyarrow.compute.value_counts``; then two such processes at once, which shows how
  much parallelism the machine gives at the moment (the ceiling for P=2 / P=1);
* headwater record path (``examples/wordcount.py``) at P=2;
* headwater columnar path (``examples/wordcount_columnar.py``) at P=1 and P=2,

the headwater jobs on one mini cluster of 2 TaskManagers (1 slot each). Throughput is
words divided by the job's duration as the JobManager measured it (submission to
FINISHED). Targets: columnar P=2 >= 3x the plain loop and >= 1.6x columnar P=1.

    python bench/columnar.py            # full size
    python bench/columnar.py --quick    # short mode for CI
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time

import numpy as np
from _common import REPO, load_wordcount_example, wait_finished

from headwater.api import StreamExecutionEnvironment
from headwater.cluster.minicluster import MiniCluster
from headwater.config import Configuration


def load_columnar_example():
    """examples/wordcount_columnar.py as a module."""
    spec = importlib.util.spec_from_file_location(
        "wordcount_columnar_example", REPO / "examples" / "wordcount_columnar.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["wordcount_columnar_example"] = module
    spec.loader.exec_module(module)
    return module


def plain_loop(wc, lines: int) -> float:
    """Words per second of the plain loop (generate, split, count)."""
    start = time.perf_counter()
    counts: dict[str, int] = {}
    words = 0
    for line in wc.generate_lines(lines):
        for w in line.split():
            counts[w] = counts.get(w, 0) + 1
            words += 1
    return words / (time.perf_counter() - start)


def pyarrow_program(wcc, lines: int) -> float:
    """Words per second of one process counting the same batches with pyarrow."""
    start = time.perf_counter()
    totals = np.zeros(wcc.VOCABULARY, dtype=np.int64)
    for batch in wcc.WordBatches().batches(lines * 10):
        counted = batch.column(0).indices.value_counts()
        totals[counted.field("values").to_numpy()] += counted.field("counts").to_numpy()
    assert totals.sum() == lines * 10
    return lines * 10 / (time.perf_counter() - start)


def _pyarrow_seconds(lines: int) -> float:
    """Seconds of :func:`pyarrow_program` in a worker process."""
    sys.path.insert(0, str(REPO / "examples"))
    import wordcount_columnar

    return lines * 10 / pyarrow_program(wordcount_columnar, lines)


def pyarrow_two_processes(lines: int) -> float:
    """Words per second of two pyarrow programs at once: how much parallelism this machine
    gives right now (the ceiling of any P=2 / P=1 ratio)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        start = time.perf_counter()
        list(pool.map(_pyarrow_seconds, [lines, lines]))
        return 2 * lines * 10 / (time.perf_counter() - start)


def run_job(cluster: MiniCluster, module, lines: int, parallelism: int, name: str) -> float:
    """Words per second of one job, by the JobManager's duration."""
    env = StreamExecutionEnvironment.get_execution_environment()
    module.build(env, lines, parallelism)
    job_id = cluster.submit(env.get_job_graph(f"{name}-p{parallelism}"))
    graph = wait_finished(cluster, job_id)
    return lines * 10 * parallelism / (graph.duration() / 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=3_000_000,
                        help="lines per source subtask (columnar jobs)")
    parser.add_argument("--record-lines", type=int, default=200_000,
                        help="lines per source subtask (plain loop and record path)")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()
    lines = 500_000 if args.quick else args.lines
    record_lines = 50_000 if args.quick else args.record_lines
    wc, wcc = load_wordcount_example(), load_columnar_example()
    loop = max(plain_loop(wc, record_lines) for _ in range(args.repeat))
    arrow = max(pyarrow_program(wcc, lines) for _ in range(args.repeat))
    arrow2 = max(pyarrow_two_processes(lines) for _ in range(args.repeat))
    with MiniCluster(Configuration(), taskmanagers=2) as cluster:
        record = max(run_job(cluster, wc, record_lines, 2, "wordcount")
                     for _ in range(args.repeat))
        c1 = max(run_job(cluster, wcc, lines, 1, "columnar") for _ in range(args.repeat))
        c2 = max(run_job(cluster, wcc, lines, 2, "columnar") for _ in range(args.repeat))
    print(f"lines per subtask: {lines} columnar, {record_lines} loop/record (10 words each)")
    print(f"plain loop              : {loop:13,.0f} words/s")
    print(f"pyarrow, one process    : {arrow:13,.0f} words/s   {arrow / loop:5.2f}x loop")
    print(f"pyarrow, two processes  : {arrow2:13,.0f} words/s   {arrow2 / arrow:5.2f}x one "
          "process (the parallelism this machine gives now)")
    print(f"headwater record P=2    : {record:13,.0f} words/s   {record / loop:5.2f}x loop")
    print(f"headwater columnar P=1  : {c1:13,.0f} words/s   {c1 / loop:5.2f}x loop")
    print(f"headwater columnar P=2  : {c2:13,.0f} words/s   {c2 / loop:5.2f}x loop "
          f"(target 3x), {c2 / c1:4.2f}x columnar P=1 (target 1.6x)")


if __name__ == "__main__":
    main()
