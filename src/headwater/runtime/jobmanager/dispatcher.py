"""The Dispatcher: accepts jobs, runs a JobMaster per job, keeps finished jobs.

The REST API reads it through the composition root's gateway; it routes TaskManager
messages (state updates, heartbeats, losses) to the JobMaster of the attempt's job.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from headwater.clock import now_ms
from headwater.config import Configuration
from headwater.graph.job_graph import JobGraph
from headwater.runtime.checkpoint import storage
from headwater.runtime.jobmanager.exceptions import JobAlreadyTerminated, JobNotFound
from headwater.runtime.jobmanager.execution_graph import ExecutionGraph
from headwater.runtime.jobmanager.job_master import JobMaster
from headwater.runtime.jobmanager.resource_manager import ResourceManager
from headwater.runtime.jobmanager.task_manager_launcher import TaskManagerLauncher
from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo
from headwater.runtime.rpc.messages import Heartbeat, Request, TaskStateUpdate

log = logging.getLogger(__name__)


class Dispatcher:
    """Owns the ResourceManager and every JobMaster of this JobManager."""

    def __init__(self, configuration: Configuration,
                 launcher: TaskManagerLauncher | None = None) -> None:
        self.configuration = configuration
        self.started_at = now_ms()
        self.rm = ResourceManager(configuration, self._on_task_state, self._on_heartbeat,
                                  self._on_task_manager_lost, launcher)
        self.job_masters: OrderedDict[str, JobMaster] = OrderedDict()
        self.shutdown_requested = asyncio.Event()

    # -- jobs and TaskManagers (read by REST) -----------------------------------------

    def execution_graph(self, job_id: str) -> ExecutionGraph | None:
        jm = self.job_masters.get(job_id)
        return jm.graph if jm else None

    def execution_graphs(self) -> list[ExecutionGraph]:
        return [jm.graph for jm in self.job_masters.values()]

    def task_managers(self) -> list[TaskManagerInfo]:
        return list(self.rm.task_managers.values())

    async def submit_job(self, job_graph: JobGraph) -> None:
        if job_graph.job_id in self.job_masters:
            raise ValueError(f"Job has already been submitted: {job_graph.job_id}")
        if self.shutdown_requested.is_set():
            raise RuntimeError("the cluster is shutting down")
        jm = JobMaster(job_graph, self.rm, self.configuration, self._on_job_terminal)
        self.job_masters[job_graph.job_id] = jm
        log.info("job %s (%s) submitted", job_graph.name, job_graph.job_id)
        jm.start()

    async def cancel_job(self, job_id: str) -> None:
        jm = self.job_masters.get(job_id)
        if jm is None:
            raise JobNotFound(job_id)
        if jm.graph.state.is_globally_terminal:
            raise JobAlreadyTerminated(f"Job {job_id} already reached state {jm.graph.state.value}")
        jm.cancel()

    async def shutdown_cluster(self) -> None:
        log.info("cluster shutdown requested")
        self.shutdown_requested.set()

    def job_master(self, job_id: str) -> JobMaster | None:
        """The JobMaster of a job (running or archived)."""
        return self.job_masters.get(job_id)

    async def dispose_savepoint(self, path: str) -> None:
        """Delete a savepoint (its directory with ``_metadata`` and state files)."""
        directory, _ = await asyncio.to_thread(storage.read_metadata, path)
        await asyncio.to_thread(storage.discard, directory)

    # -- helpers for executors ----------------------------------------------------------

    async def wait_for_job(self, job_id: str) -> ExecutionGraph:
        """Wait until a job reaches a globally terminal state."""
        jm = self.job_masters[job_id]
        await jm.terminated.wait()
        return jm.graph

    async def cancel_all_jobs(self, timeout: float = 10.0) -> None:
        """Cancel every running job and wait (bounded) for them to end."""
        running = [jm for jm in self.job_masters.values()
                   if not jm.graph.state.is_globally_terminal]
        for jm in running:
            jm.cancel()
        if running:
            await asyncio.wait([asyncio.ensure_future(jm.terminated.wait()) for jm in running],
                               timeout=timeout)

    # -- files and TaskManager requests (submission and operations) ----------------------

    async def request_task_manager(self, resource_id: str, request: Request,
                                   timeout: float = 10.0) -> Any:
        """Ask a TaskManager (log files, thread dump...); KeyError if it is unknown."""
        return await self.rm.request(resource_id, request, timeout)

    # -- routing ------------------------------------------------------------------------

    def _job_of(self, attempt_id: str) -> JobMaster | None:
        for jm in reversed(self.job_masters.values()):
            if jm.owns(attempt_id):
                return jm
        return None

    def _on_task_state(self, rid: str, update) -> None:
        jm = self._job_of(update.attempt_id)
        if jm is None:
            return
        if isinstance(update, TaskStateUpdate):
            jm.on_task_state(update)
        else:
            jm.on_checkpoint_message(update)

    def _on_heartbeat(self, rid: str, heartbeat: Heartbeat) -> None:
        for report in heartbeat.tasks:
            jm = self._job_of(report.attempt_id)
            if jm is not None:
                jm.on_task_io(report)

    def _on_task_manager_lost(self, rid: str, reason: str) -> None:
        for jm in list(self.job_masters.values()):
            if not jm.graph.state.is_globally_terminal:
                jm.on_task_manager_lost(rid, reason)

    def _on_job_terminal(self, jm: JobMaster) -> None:
        log.info("job %s (%s) reached %s", jm.graph.name, jm.job_id, jm.graph.state.value)
        capacity = int(self.configuration["jobstore.max-capacity"])
        finished = [jid for jid, m in self.job_masters.items()
                    if m.graph.state.is_globally_terminal]
        for jid in finished[: max(0, len(finished) - capacity)]:
            del self.job_masters[jid]
