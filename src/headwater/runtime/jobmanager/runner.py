"""Brings a JobManager up and down: RPC port, REST server, local TaskManagers.

Used both by the cluster process (``headwater cluster start``) and by the embedded mini
cluster (``python my_job.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from headwater.config import Configuration
from headwater.runtime.jobmanager.dispatcher import Dispatcher
from headwater.runtime.jobmanager.launcher import LocalTaskManagerLauncher

log = logging.getLogger(__name__)


class JobManagerRunner:
    """A running JobManager with its REST endpoint and (optionally) local TaskManagers."""

    def __init__(self, configuration: Configuration, workdir: str | os.PathLike,
                 taskmanagers: int = 0, fallback_to_free_port: bool = False) -> None:
        self.configuration = configuration
        self.workdir = Path(workdir).absolute()
        self.log_dir = self.workdir / "log"
        self.taskmanagers = taskmanagers
        self.fallback_to_free_port = fallback_to_free_port
        self.dispatcher = Dispatcher(configuration)
        self.dispatcher.workdir = self.workdir
        self.dispatcher.log_dir = self.log_dir
        self.launcher: LocalTaskManagerLauncher | None = None
        self.rest_runner = None
        self.rest_port = 0
        self.rest_host = configuration["rest.bind-address"]

    @property
    def rest_url(self) -> str:
        """Base URL of the REST API."""
        return f"http://{self.configuration['rest.address']}:{self.rest_port}"

    async def start(self) -> None:
        """Open ports, start TaskManagers, write ``cluster.json`` in the workdir."""
        from headwater.rest.server import start_rest_server

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        rpc_port = await self.dispatcher.rm.start()
        port = int(self.configuration["rest.port"])
        try:
            self.rest_runner, self.rest_port = await start_rest_server(
                self.dispatcher, self.rest_host, port)
        except OSError:
            if not self.fallback_to_free_port:
                raise
            self.rest_runner, self.rest_port = await start_rest_server(
                self.dispatcher, self.rest_host, 0)
        if self.taskmanagers:
            self.launcher = LocalTaskManagerLauncher(
                f"{self.dispatcher.rm.rpc_host}:{rpc_port}",
                int(self.configuration["taskmanager.numberOfTaskSlots"]), self.log_dir,
                host=self.configuration["taskmanager.host"])
            self.launcher.start(self.taskmanagers)
        info = {"pid": os.getpid(), "rest_url": self.rest_url, "rest_port": self.rest_port,
                "rpc_port": rpc_port, "log_dir": str(self.log_dir)}
        (self.workdir / "cluster.json").write_text(json.dumps(info))
        log.info("JobManager up: REST %s, RPC port %d", self.rest_url, rpc_port)

    async def wait_for_taskmanagers(self, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` TaskManagers registered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.dispatcher.rm.task_managers) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"only {len(self.dispatcher.rm.task_managers)} of {count} "
                                   f"TaskManagers registered within {timeout:.0f}s")
            await asyncio.sleep(0.05)

    async def serve_until_shutdown(self) -> None:
        """Run until DELETE /cluster (or ``stop``)."""
        await self.dispatcher.shutdown_requested.wait()
        await self.stop()

    async def stop(self) -> None:
        """Cancel jobs, stop TaskManagers, close ports, remove ``cluster.json``."""
        self.dispatcher.shutdown_requested.set()
        await self.dispatcher.cancel_all_jobs()
        from headwater.runtime.rpc.messages import ShutdownTaskManager

        for rid in list(self.dispatcher.rm.connections):
            self.dispatcher.rm.send(rid, ShutdownTaskManager(reason="cluster shutdown"))
        await asyncio.sleep(0.1)
        if self.launcher is not None:
            await asyncio.to_thread(self.launcher.stop)
        await self.dispatcher.rm.stop()
        if self.rest_runner is not None:
            await self.rest_runner.cleanup()
        try:
            (self.workdir / "cluster.json").unlink()
        except FileNotFoundError:
            pass
