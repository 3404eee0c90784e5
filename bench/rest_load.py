"""Benchmark: job throughput while many REST clients poll the JobManager.

One cluster (``headwater cluster start``, 2 TaskManagers of 1 slot, its own processes)
runs the wordcount example at P=2 twice in the same invocation:

* quiet: nobody polls the REST API;
* loaded: ``--clients`` concurrent clients (default 64) poll ``GET /jobs/:id`` every
  ``--interval`` seconds (default 0.1 s: 640 requests/s offered) for the whole run.

Throughput is words divided by the job's duration as the JobManager measured it. Target:
loaded >= 0.8x quiet. It also prints the requests the JobManager answered per second
and their latency.

    python bench/rest_load.py            # full size
    python bench/rest_load.py --quick    # short mode for CI
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
from _common import local_cluster, submit_wordcount


async def _poll(session: aiohttp.ClientSession, url: str, interval: float, stop: asyncio.Event,
                latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        async with session.get(url) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(interval)


async def _run_job(base: str, lines: int, clients: int, interval: float
                   ) -> tuple[float, int, list[float]]:
    """(words per second, requests answered, latencies) of one P=2 wordcount run."""
    job_id = await asyncio.to_thread(submit_wordcount, int(base.rsplit(":", 1)[1]), lines)
    url = f"{base}/jobs/{job_id}"
    stop = asyncio.Event()
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        pollers = [asyncio.create_task(_poll(session, url, interval, stop, latencies))
                   for _ in range(clients)]
        while True:
            async with session.get(url) as resp:
                job = await resp.json()
            if job["state"] in ("FINISHED", "FAILED", "CANCELED"):
                break
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*pollers)
    assert job["state"] == "FINISHED", job["state"]
    return lines * 10 * 2 / (job["duration"] / 1000), len(latencies), latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=600_000, help="lines per source subtask")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between polls")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()
    lines = 150_000 if args.quick else args.lines
    with local_cluster(2) as port:
        base = f"http://127.0.0.1:{port}"
        quiet, loaded, served, latencies = 0.0, 0.0, 0, []
        for _ in range(args.repeat):  # alternate, so that drift hits both alike
            quiet = max(quiet, asyncio.run(_run_job(base, lines, 0, args.interval))[0])
            rate, n, lat = asyncio.run(_run_job(base, lines, args.clients, args.interval))
            if rate > loaded:
                loaded, latencies = rate, lat
                served = int(n / (lines * 10 * 2 / rate))
    lat_ms = sorted(1000 * x for x in latencies) or [0.0]
    print(f"lines per subtask: {lines} (10 words each), P=2, {args.clients} clients polling "
          f"GET /jobs/:id every {args.interval:g} s")
    print(f"quiet             : {quiet:12,.0f} words/s")
    print(f"under REST load   : {loaded:12,.0f} words/s   ratio to quiet {loaded / quiet:5.2f}x "
          "(target 0.8x)")
    print(f"REST answers      : {served:12,d} per s      latency median "
          f"{statistics.median(lat_ms):.1f} ms, p99 {lat_ms[int(0.99 * (len(lat_ms) - 1))]:.1f} ms")


if __name__ == "__main__":
    main()
