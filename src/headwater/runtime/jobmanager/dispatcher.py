"""The Dispatcher: accepts jobs, runs a JobMaster per job, keeps finished jobs.

The REST API reads it through the composition root's gateway; it routes TaskManager
messages (state updates, heartbeats, losses) to the JobMaster of the attempt's job. A job
that ends is kept as an :class:`ArchivedJob` (bounded by ``jobstore.max-capacity`` and
``jobstore.expiration-time``). With an HA store (``high-availability: embedded``) it
records submitted jobs, their completed checkpoints and the archives of finished jobs,
and :meth:`Dispatcher.recover` brings them all back after a JobManager restart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from typing import Any

from headwater.clock import now_ms
from headwater.config import Configuration
from headwater.graph.job_graph import JobGraph
from headwater.graph.serialization import deserialize_job_graph, serialize_job_graph
from headwater.runtime.checkpoint import storage
from headwater.runtime.jobmanager.archived_job import ArchivedJob
from headwater.runtime.jobmanager.cluster_datasets import ClusterDataSets, release_dataset
from headwater.runtime.jobmanager.events import JOB_STATUS, ClusterEvents
from headwater.runtime.jobmanager.exceptions import JobAlreadyTerminated, JobNotFound
from headwater.runtime.jobmanager.execution_graph import ExecutionGraph, JobStatus
from headwater.runtime.jobmanager.ha_store import EmbeddedHaStore
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
        #: Job status changes, checkpoints, failures and TaskManager changes, as they happen.
        self.events = ClusterEvents()
        self.rm = ResourceManager(configuration, self._on_task_state, self._on_heartbeat,
                                  self._on_task_manager_lost, launcher, self.events)
        self.job_masters: OrderedDict[str, JobMaster | ArchivedJob] = OrderedDict()
        self.shutdown_requested = asyncio.Event()
        #: Stream results BATCH jobs kept on the TaskManagers (cache()).
        self.datasets = ClusterDataSets()
        #: The embedded HA store (None: a JobManager crash forgets every job).
        self.ha_store: EmbeddedHaStore | None = None

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
        await self._check_job_storage(job_graph)
        jm = JobMaster(job_graph, self.rm, self.configuration, self._on_job_terminal,
                       events=self.events, datasets=self.datasets)
        self.job_masters[job_graph.job_id] = jm
        self.events.publish(JOB_STATUS, job_graph.job_id, name=job_graph.name,
                            status=jm.graph.state.value, previous=JobStatus.INITIALIZING.value)
        if self.ha_store is not None:
            self.ha_store.put_job_graph(job_graph.job_id, job_graph.name,
                                        serialize_job_graph(job_graph))
            jm.checkpoint_listener = self.ha_store.put_checkpoint
        log.info("job %s (%s) submitted", job_graph.name, job_graph.job_id)
        jm.start()

    async def _check_job_storage(self, job_graph: JobGraph) -> None:
        """A job that sets its own checkpoint or savepoint directory is refused (as a
        bad request) unless that location can be written; the cluster's own were
        checked when the JobManager started."""
        for key in ("state.checkpoints.dir", "state.savepoints.dir"):
            own = str(job_graph.configuration.get(key) or "")
            if own and own != str(self.configuration.get(key) or ""):
                try:
                    await asyncio.to_thread(storage.check_location, own, key)
                except storage.CheckpointStorageError as exc:
                    raise ValueError(str(exc)) from exc

    async def recover(self) -> list[str]:
        """After a restart with an HA store: serve the archived jobs again and resume the
        jobs that had not ended, each from its latest completed checkpoint (else as
        submitted) with its own job id. Returns the resumed job ids."""
        if self.ha_store is None:
            return []
        for job_id, _, data in self.ha_store.archives():
            try:
                self.job_masters[job_id] = ArchivedJob.from_bytes(data)
            except Exception as exc:  # noqa: BLE001 - one bad archive must not stop the rest
                log.warning("cannot read the archive of job %s: %s", job_id, exc)
        resumed = []
        for stored in self.ha_store.job_graphs():
            graph = deserialize_job_graph(stored.graph)
            pointer = self.ha_store.latest_checkpoint(stored.job_id)
            if pointer is not None:
                graph.savepoint_path = pointer.location
                graph.allow_non_restored_state = False
            log.info("recovering job %s (%s) from %s", graph.name, graph.job_id,
                     pointer.location if pointer else "its submission")
            await self.submit_job(graph)
            resumed.append(graph.job_id)
        return resumed

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

    def release_dataset(self, dataset_id: str) -> None:
        """Delete a cluster data set's partitions on every TaskManager (KeyError if
        unknown)."""
        dataset = self.datasets.remove(dataset_id)
        if dataset is None:
            raise KeyError(dataset_id)
        release_dataset(self.rm, dataset)

    def job_master(self, job_id: str) -> JobMaster | ArchivedJob | None:
        """The JobMaster of a running job, or the archive of a finished one."""
        return self.job_masters.get(job_id)

    async def dispose_savepoint(self, path: str) -> None:
        """Delete a savepoint (its directory with ``_metadata`` and state files)."""
        directory, _ = await asyncio.to_thread(storage.read_metadata, path)
        await asyncio.to_thread(functools.partial(storage.discard, directory, strict=True))

    # -- helpers for executors ----------------------------------------------------------

    async def wait_for_job(self, job_id: str) -> ExecutionGraph:
        """Wait until a job reaches a globally terminal state."""
        jm = self.job_masters[job_id]
        await jm.terminated.wait()
        return jm.graph

    async def cancel_all_jobs(self, timeout: float = 10.0) -> None:
        """Cancel every running job and wait (bounded) for them to end. With an HA store
        they are suspended: their checkpoints stay and the next start resumes them."""
        running = [jm for jm in self.job_masters.values()
                   if not jm.graph.state.is_globally_terminal]
        for jm in running:
            if isinstance(jm, JobMaster):
                jm.suspended = self.ha_store is not None
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
            if isinstance(jm, JobMaster) and jm.owns(attempt_id):
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
        for dataset in self.datasets.task_manager_lost(rid):
            log.info("cached data set %s lost its partitions on %s: the next job that needs "
                     "it computes it again", dataset.dataset_id, rid)
            release_dataset(self.rm, dataset)  # what is left of it is of no use
        for jm in list(self.job_masters.values()):
            if isinstance(jm, JobMaster) and not jm.graph.state.is_globally_terminal:
                jm.on_task_manager_lost(rid, reason)

    def _on_job_terminal(self, jm: JobMaster) -> None:
        log.info("job %s (%s) reached %s", jm.graph.name, jm.job_id, jm.graph.state.value)
        archive = ArchivedJob.of(jm)
        if self.job_masters.get(jm.job_id) is jm:
            self.job_masters[jm.job_id] = archive  # the JobMaster and what it holds go
        if self.ha_store is not None and not self.shutdown_requested.is_set():
            # (A job cancelled by a cluster shutdown is not archived as ended: with HA it
            # resumes when the cluster starts again, as in Flink.)
            self.ha_store.archive_job(jm.job_id, archive.to_bytes())
        self._trim_archives()

    def _trim_archives(self) -> None:
        """Forget the oldest finished jobs beyond ``jobstore.max-capacity`` and those
        finished longer ago than ``jobstore.expiration-time``."""
        capacity = int(self.configuration["jobstore.max-capacity"])
        expiration_ms = int(self.configuration["jobstore.expiration-time"]) * 1000
        finished = [jid for jid, m in self.job_masters.items()
                    if m.graph.state.is_globally_terminal]
        now = now_ms()
        for jid in list(finished):
            ended = max(self.job_masters[jid].graph.state_timestamps.values(), default=now)
            if expiration_ms > 0 and now - ended > expiration_ms:
                del self.job_masters[jid]
                finished.remove(jid)
        for jid in finished[: max(0, len(finished) - capacity)]:
            del self.job_masters[jid]
