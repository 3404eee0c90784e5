"""The JobManager process: ``python -m headwater.runtime.jobmanager.entrypoint``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from headwater.config import Configuration, parse_dynamic_properties
from headwater.runtime.jobmanager.runner import JobManagerRunner


def main(argv: list[str] | None = None) -> None:
    """Run a JobManager (and its local TaskManagers) until the cluster is shut down."""
    parser = argparse.ArgumentParser(prog="headwater-jobmanager")
    parser.add_argument("--workdir", default=".headwater")
    parser.add_argument("--conf-dir")
    parser.add_argument("--taskmanagers", type=int, default=0)
    parser.add_argument("-D", dest="dynamic", action="append", default=[])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    config = Configuration.load(args.conf_dir, parse_dynamic_properties(args.dynamic))
    asyncio.run(_run(config, args.workdir, args.taskmanagers))


async def _run(config: Configuration, workdir: str, taskmanagers: int) -> None:
    runner = JobManagerRunner(config, workdir, taskmanagers)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.dispatcher.shutdown_requested.set)
    await runner.start()
    await runner.serve_until_shutdown()


if __name__ == "__main__":
    main()
