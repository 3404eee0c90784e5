"""Benchmark: TaskManagers as Ray actors against TaskManager processes.

In one invocation, on this machine:

* a local Ray cluster (head plus two worker nodes of 2 CPUs, all on 127.0.0.1, as the
  tests build it) and ``headwater cluster start --ray`` with 2 TaskManagers: the time
  from the command to all TaskManagers registered;
* wordcount P=2 on those actors against wordcount P=2 on 2 process TaskManagers (best of
  ``--repeat``, alternating). Throughput is words over the job's duration as the
  JobManager measured it. Target: Ray >= 0.9x processes;
* the resident memory of one TaskManager actor against one TaskManager process, both idle
  after a job.

    python bench/ray.py            # full size
    python bench/ray.py --quick    # short mode for CI
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from _common import free_port, headwater_cli, submit_wordcount

# This file is named like the ray package: take its folder off the import path so that
# `import ray` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]


def _run_wordcount(port: int, lines: int) -> float:
    job_id = submit_wordcount(port, lines)
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/jobs/{job_id}") as resp:
            job = json.loads(resp.read())
        if job["state"] in ("FINISHED", "FAILED", "CANCELED"):
            break
        time.sleep(0.2)
    assert job["state"] == "FINISHED", job["state"]
    return lines * 10 * 2 / (job["duration"] / 1000)


def _taskmanager_rss(port: int) -> int:
    """Resident memory of the process behind the first registered TaskManager."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/taskmanagers") as resp:
        tm = json.loads(resp.read())["taskmanagers"][0]["id"]
    data_port = int(tm.rsplit("-", 1)[0].rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == data_port and conn.status == psutil.CONN_LISTEN:
            return psutil.Process(conn.pid).memory_info().rss
    raise RuntimeError(f"no process listens on {data_port}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=400_000, help="lines per source subtask")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()
    lines = 100_000 if args.quick else args.lines
    repeat = 1 if args.quick else args.repeat
    try:
        import ray  # noqa: F401

        from headwater.testing.ray_cluster import local_ray_cluster
    except ImportError:
        print("bench/ray.py: skipped (pip install 'headwater[ray]')")
        return
    with tempfile.TemporaryDirectory(prefix="headwater-bench-") as tmp, \
            local_ray_cluster(workers=2, cpus_per_worker=2) as ray_cluster:
        local_port, ray_port = free_port(), free_port()
        local_dir, ray_dir = os.path.join(tmp, "local"), os.path.join(tmp, "ray")
        headwater_cli("cluster", "start", "-n", "2", "--port", str(local_port),
                      "--workdir", local_dir, "-D", "metrics.reporter.prom.port=0")
        started = time.perf_counter()
        headwater_cli("cluster", "start", "-n", "2", "--port", str(ray_port),
                      "--workdir", ray_dir, "--ray", ray_cluster.address,
                      "-D", "metrics.reporter.prom.port=0", "--timeout", "180")
        startup = time.perf_counter() - started
        try:
            local, on_ray = 0.0, 0.0
            for _ in range(repeat):
                local = max(local, _run_wordcount(local_port, lines))
                on_ray = max(on_ray, _run_wordcount(ray_port, lines))
            local_rss, ray_rss = _taskmanager_rss(local_port), _taskmanager_rss(ray_port)
        finally:
            headwater_cli("cluster", "stop", "--workdir", local_dir)
            headwater_cli("cluster", "stop", "--workdir", ray_dir)
    print(f"lines per subtask: {lines} (10 words each), P=2, 2 TaskManagers of 1 slot")
    print(f"process TaskManagers : {local:12,.0f} words/s")
    print(f"Ray actor TaskManagers: {on_ray:11,.0f} words/s   ratio {on_ray / local:5.2f}x "
          "(target 0.9x)")
    print(f"cluster start --ray to 2 TaskManagers registered: {startup:5.1f} s")
    print(f"TaskManager RSS: actor {ray_rss / 2**20:6.0f} MiB, process "
          f"{local_rss / 2**20:6.0f} MiB ({ray_rss / local_rss:4.2f}x)")


if __name__ == "__main__":
    main()
