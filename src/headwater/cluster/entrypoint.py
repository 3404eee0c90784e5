"""The JobManager process: ``python -m headwater.cluster.entrypoint``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from headwater.cluster.ray_launcher import RayUnavailable
from headwater.cluster.runner import JobManagerRunner
from headwater.config import Configuration, parse_dynamic_properties
from headwater.runtime.checkpoint.storage import CheckpointStorageError
from headwater.runtime.log_files import LOG_FORMAT, configure_file_logging


def main(argv: list[str] | None = None) -> None:
    """Run a JobManager (and its local TaskManagers) until the cluster is shut down."""
    parser = argparse.ArgumentParser(prog="headwater-jobmanager")
    parser.add_argument("--workdir", default=".headwater")
    parser.add_argument("--conf-dir")
    parser.add_argument("--taskmanagers", type=int, default=0)
    parser.add_argument("-D", dest="dynamic", action="append", default=[])
    parser.add_argument("--log-file", help="log file, rotated by size (default: "
                        "WORKDIR/log/jobmanager.log; '-' for stderr)")
    args = parser.parse_args(argv)
    log_file = args.log_file or str(Path(args.workdir) / "log" / "jobmanager.log")
    if log_file == "-":
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
    else:
        configure_file_logging(log_file)
    config = Configuration.load(args.conf_dir, parse_dynamic_properties(args.dynamic))
    try:
        asyncio.run(_run(config, args.workdir, args.taskmanagers))
    except (RayUnavailable, ValueError, CheckpointStorageError) as exc:  # cannot start: say why
        logging.getLogger(__name__).error("the JobManager cannot start: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


async def _run(config: Configuration, workdir: str, taskmanagers: int) -> None:
    runner = JobManagerRunner(config, workdir, taskmanagers)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.dispatcher.shutdown_requested.set)
    await runner.start()
    await runner.serve_until_shutdown()


if __name__ == "__main__":
    main()
