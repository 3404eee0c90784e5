"""Brings a JobManager up and down: RPC port, REST server, local TaskManagers.

Used both by the cluster process (``headwater cluster start``) and by the embedded mini
cluster (``python my_job.py``). This is where the runtime, the REST API and the
TaskManager launcher are wired together.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from aiohttp import web

from headwater.cluster.gateway import DispatcherGateway
from headwater.cluster.process_launcher import ProcessTaskManagerLauncher
from headwater.config import Configuration
from headwater.rest.security import BearerTokenCheck, configured_token
from headwater.rest.server import start_rest_server
from headwater.runtime import filesystem
from headwater.runtime.checkpoint import storage
from headwater.runtime.jobmanager.dispatcher import Dispatcher
from headwater.runtime.jobmanager.ha_store import EmbeddedHaStore
from headwater.runtime.jobmanager.task_manager_launcher import TaskManagerLauncher
from headwater.runtime.metrics.fetcher import MetricFetcher
from headwater.runtime.metrics.prometheus import start_prometheus_server
from headwater.runtime.rpc.handshake import generate_secret, read_secret_file, write_secret_file
from headwater.runtime.rpc.messages import ShutdownTaskManager

log = logging.getLogger(__name__)


async def check_storage(configuration: Configuration) -> None:
    """Apply the storage settings (``s3.*``) and make sure the configured checkpoint and
    savepoint directories can be written: raises :class:`CheckpointStorageError` with the
    reason before anything is started."""
    filesystem.configure(configuration)
    for key in ("state.checkpoints.dir", "state.savepoints.dir"):
        if configuration.get(key):
            await asyncio.to_thread(storage.check_location, str(configuration[key]), key)


class JobManagerRunner:
    """A running JobManager with its REST endpoint and (optionally) local TaskManagers."""

    def __init__(self, configuration: Configuration, workdir: str | os.PathLike[str],
                 taskmanagers: int = 0, fallback_to_free_port: bool = False,
                 inherit_stdout: bool = False) -> None:
        self.workdir = Path(workdir).absolute()
        if not configuration.get("state.checkpoints.dir"):
            configuration = configuration.with_overrides(
                {"state.checkpoints.dir": str(self.workdir / "checkpoints")})
        self.configuration = configuration
        self.log_dir = self.workdir / "log"
        self.taskmanagers = taskmanagers
        self.fallback_to_free_port = fallback_to_free_port
        #: Seconds to wait for TaskManagers of a previous JobManager to reconnect (HA).
        self._reconnect_grace = 0.0
        #: The cluster secret: TaskManagers prove they know it on every connection.
        self.secret_file = Path(configuration["security.cluster.secret-file"]
                                or self.workdir / "cluster.secret").absolute()
        self.launcher = self._launcher(inherit_stdout)
        self.dispatcher = Dispatcher(configuration, self.launcher)
        self.rest_runner: web.AppRunner | None = None
        #: Pulls TaskManager metrics for the REST API.
        self.metric_fetcher = MetricFetcher.from_configuration(self.dispatcher, configuration)
        self.gateway = DispatcherGateway(self.dispatcher, self.metric_fetcher, self.workdir,
                                         self.log_dir)
        self.prometheus_runner: web.AppRunner | None = None
        self.prometheus_port = 0
        self.rest_port = 0
        self.rest_host: str = configuration["rest.bind-address"]

    def _launcher(self, inherit_stdout: bool) -> TaskManagerLauncher:
        """Where TaskManagers run: local processes, or actors on a Ray cluster
        (``deployment.target: ray``). Raises RayUnavailable when Ray cannot be used."""
        config = self.configuration
        slots = int(config["taskmanager.numberOfTaskSlots"])
        target = str(config["deployment.target"] or "process").strip().lower()
        if target == "ray":
            from headwater.cluster.ray_launcher import RayTaskManagerLauncher

            return RayTaskManagerLauncher(config, slots, self.secret_file)
        if target not in ("process", "local"):
            raise ValueError(f"deployment.target: {target!r} is not supported (process or ray)")
        return ProcessTaskManagerLauncher(slots, self.log_dir, host=config["taskmanager.host"],
                                          inherit_stdout=inherit_stdout,
                                          secret_file=self.secret_file)

    @property
    def rest_url(self) -> str:
        """Base URL of the REST API (https with ``security.ssl.rest.enabled``)."""
        tls = self.configuration.get_bool("security.ssl.rest.enabled")
        return f"{'https' if tls else 'http'}://{self.configuration['rest.address']}:{self.rest_port}"

    async def start(self) -> None:
        """Open ports, start TaskManagers, write ``cluster.json`` in the workdir."""
        await check_storage(self.configuration)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.dispatcher.rm.secret = self._cluster_secret()
        rpc_port = await self._start_rpc()
        self.metric_fetcher.start()
        if self.metric_fetcher.enabled:
            served = await start_prometheus_server(
                self.metric_fetcher, self.rest_host,
                self.configuration["metrics.reporter.prom.port"],
                BearerTokenCheck(configured_token(self.configuration)).accepts)
            if served is not None:
                self.prometheus_runner, self.prometheus_port = served
        port = int(self.configuration["rest.port"])
        try:
            self.rest_runner, self.rest_port = await start_rest_server(
                self.gateway, self.rest_host, port)
        except OSError:
            if not self.fallback_to_free_port:
                raise
            self.rest_runner, self.rest_port = await start_rest_server(
                self.gateway, self.rest_host, 0)
        if self.taskmanagers:
            await self._start_task_managers()
        resumed = await self.dispatcher.recover()
        if resumed:
            log.info("resumed %d job(s) after a JobManager restart: %s", len(resumed),
                     ", ".join(resumed))
        info = {"pid": os.getpid(), "rest_url": self.rest_url, "rest_port": self.rest_port,
                "rpc_port": rpc_port, "log_dir": str(self.log_dir),
                "prometheus_port": self.prometheus_port,
                # Where local clients find the REST token and the CA to trust (files the
                # cluster's user can read; never the token itself).
                "rest_token_file": str(self.configuration["security.rest.auth.token-file"]),
                "rest_ca_file": str(self.configuration["security.ssl.rest.ca"]
                                    or self.configuration["security.ssl.rest.cert"])}
        (self.workdir / "cluster.json").write_text(json.dumps(info))
        log.info("JobManager up: REST %s, RPC port %d", self.rest_url, rpc_port)

    @property
    def high_availability(self) -> bool:
        """Whether jobs survive a JobManager crash (``high-availability: embedded``)."""
        mode = str(self.configuration["high-availability"]).strip().lower()
        if mode not in ("none", "embedded"):
            raise ValueError(f"high-availability: {mode!r} is not supported here (NONE or "
                             "embedded)")
        return mode == "embedded"

    @property
    def _ha_dir(self) -> Path:
        return Path(self.configuration["high-availability.storageDir"]
                    or self.workdir / "ha").absolute()

    async def _start_rpc(self) -> int:
        """Open the RPC port. With HA, a restarted JobManager takes the port of the one
        before it, where TaskManagers that survived it try to reconnect."""
        if not self.high_availability:
            return await self.dispatcher.rm.start()
        self.dispatcher.ha_store = EmbeddedHaStore(
            self._ha_dir, int(self.configuration["jobstore.max-capacity"]),
            int(self.configuration["jobstore.expiration-time"]) * 1000)
        address_file = self._ha_dir / "jobmanager.json"
        previous = None
        if int(self.configuration["jobmanager.rpc.port"]) == 0 and address_file.is_file():
            previous = int(json.loads(address_file.read_text())["rpc_port"])
        try:
            port = await self.dispatcher.rm.start(previous)
        except OSError as exc:
            log.warning("cannot take the previous RPC port %s again (%s); TaskManagers of "
                        "the previous JobManager will not find this one", previous, exc)
            self._reconnect_grace = 0.0
            port = await self.dispatcher.rm.start()
        else:
            self._reconnect_grace = 3.0 if previous is not None else 0.0
        address_file.write_text(json.dumps({"rpc_port": port}))
        return port

    async def _start_task_managers(self) -> None:
        """Start the configured number of TaskManagers, less those of a previous
        JobManager that reconnect within a grace period (HA)."""
        if self._reconnect_grace > 0:
            try:
                await self.wait_for_taskmanagers(self.taskmanagers, self._reconnect_grace)
            except TimeoutError:
                pass
        missing = max(0, self.taskmanagers - len(self.dispatcher.rm.task_managers))
        self.dispatcher.rm.start_task_managers(missing, minimum=self.taskmanagers)

    def _cluster_secret(self) -> bytes:
        """The secret in ``security.cluster.secret-file`` (default: ``cluster.secret`` in
        the workdir), generated (mode 600) when the file does not exist yet."""
        if not self.secret_file.exists():
            write_secret_file(self.secret_file, generate_secret())
        return read_secret_file(self.secret_file)

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
        self.dispatcher.rm.stopping = True
        await self.dispatcher.cancel_all_jobs()
        for rid in list(self.dispatcher.rm.connections):
            self.dispatcher.rm.send(rid, ShutdownTaskManager(reason="cluster shutdown"))
        await asyncio.sleep(0.1)
        await self.dispatcher.rm.stop()
        if self.rest_runner is not None:
            await self.rest_runner.cleanup()
        self.metric_fetcher.stop()
        if self.dispatcher.ha_store is not None:
            self.dispatcher.ha_store.close()
        if self.prometheus_runner is not None:
            await self.prometheus_runner.cleanup()
        try:
            (self.workdir / "cluster.json").unlink()
        except FileNotFoundError:
            pass
