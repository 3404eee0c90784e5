"""Benchmark: what the metric system costs the wordcount workload.

Two mini clusters (2 TaskManagers each) run in the same invocation, runs alternating:

* metrics on: every task and operator registers its metrics, the TaskManagers sample
  their views every second, and a "dashboard" thread polls vertex metrics, subtask
  aggregations, back-pressure, accumulators and TaskManager metrics through the REST API
  every second, so the JobManager fetches from every TaskManager each second;
* metrics off: ``metrics.system.enabled: false`` (no task metric groups, no sampling, no
  fetching) and nobody polls.

Throughput is words divided by the job's duration as the JobManager measured it.
Target: metrics on >= 0.95x metrics off.

    python bench/metrics_overhead.py            # full size
    python bench/metrics_overhead.py --quick    # short mode for CI
"""

from __future__ import annotations

import argparse
import threading
import time
import urllib.request

from _common import load_wordcount_example

from headwater.api import StreamExecutionEnvironment
from headwater.cluster.minicluster import MiniCluster
from headwater.config import Configuration


def poll_dashboard(url: str, job_id: str, vertices: list[str], stop: threading.Event) -> int:
    """What an open dashboard asks for, once a second; returns the requests made."""
    paths = ["/taskmanagers/metrics?get=Status.JVM.CPU.Load,Status.JVM.Memory.Heap.Used",
             f"/jobs/{job_id}/accumulators", f"/jobs/{job_id}/metrics?get=uptime"]
    for v in vertices:
        paths += [f"/jobs/{job_id}/vertices/{v}/metrics?get=0.numRecordsInPerSecond,"
                  "0.numRecordsOutPerSecond",
                  f"/jobs/{job_id}/vertices/{v}/subtasks/metrics?get=numRecordsIn,"
                  "numRecordsOut&agg=sum",
                  f"/jobs/{job_id}/vertices/{v}/backpressure",
                  f"/jobs/{job_id}/vertices/{v}/watermarks"]
    made = 0
    while not stop.is_set():
        for path in paths:
            with urllib.request.urlopen(url + path, timeout=30) as answer:  # raises on 4xx/5xx
                answer.read()
            made += 1
        stop.wait(1.0)
    return made


def run(cluster: MiniCluster, wc, lines: int, parallelism: int, dashboard: bool) -> float:
    """Words per second of one wordcount job, by the JobManager's duration."""
    env = StreamExecutionEnvironment.get_execution_environment()
    wc.build(env, lines, parallelism)
    job_graph = env.get_job_graph(f"wordcount-p{parallelism}")
    job_id = cluster.submit(job_graph)
    stop = threading.Event()
    poller = None
    if dashboard:
        vertices = [v.vertex_id for v in job_graph.vertices]
        poller = threading.Thread(target=poll_dashboard,
                                  args=(cluster.rest_url, job_id, vertices, stop), daemon=True)
        poller.start()
    graph = cluster.wait(job_id, timeout=600)
    stop.set()
    if poller is not None:
        poller.join(30)
    assert graph.state.value == "FINISHED", graph.failure
    return lines * 10 * parallelism / (graph.duration() / 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=300_000, help="lines per source subtask")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs each")
    args = parser.parse_args()
    lines = 100_000 if args.quick else args.lines
    wc = load_wordcount_example()
    common = {"rest.port": 0, "metrics.reporter.prom.port": 0}
    on_cfg = Configuration({**common, "metrics.system.enabled": True})
    off_cfg = Configuration({**common, "metrics.system.enabled": False})
    with MiniCluster(on_cfg, taskmanagers=2) as on, MiniCluster(off_cfg, taskmanagers=2) as off:
        time.sleep(1)
        on_runs, off_runs = [], []
        for _ in range(args.repeat):  # alternate, so drifts of the machine hit both
            off_runs.append(run(off, wc, lines, args.parallelism, dashboard=False))
            on_runs.append(run(on, wc, lines, args.parallelism, dashboard=True))
    best_on, best_off = max(on_runs), max(off_runs)
    print(f"lines per subtask: {lines} (10 words each), parallelism {args.parallelism}, "
          f"best of {args.repeat}")
    print(f"metrics off        : {best_off:12,.0f} words/s")
    print(f"metrics on + polls : {best_on:12,.0f} words/s   ratio {best_on / best_off:5.3f}x "
          f"(target 0.95x)")


if __name__ == "__main__":
    main()
