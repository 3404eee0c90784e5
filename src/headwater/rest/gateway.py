"""The cluster as the REST layer sees it (Flink's ``RestfulGateway``).

Handlers depend only on these protocols; the composition root
(:class:`headwater.cluster.gateway.DispatcherGateway`) implements them over the
Dispatcher, its JobMasters, the MetricFetcher and the cluster's directories. Everything a
handler returns is read from these objects, which the engine keeps up to date.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from headwater.config import Configuration
from headwater.graph.job_graph import JobGraph
from headwater.runtime import filesystem
from headwater.runtime.checkpoint.config import CheckpointCoordinatorConfiguration
from headwater.runtime.checkpoint.stats import CheckpointStatsTracker
from headwater.runtime.jobmanager.cluster_datasets import ClusterDataSet
from headwater.runtime.jobmanager.events import ClusterEvents
from headwater.runtime.jobmanager.execution_graph import ExecutionGraph
from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo
from headwater.runtime.jobmanager.thread_info import JobVertexThreadInfoStats
from headwater.runtime.metrics.fetcher import MetricFetcher
from headwater.runtime.rpc.messages import Request


class JobMasterGateway(Protocol):
    """One job's JobMaster: its graph, checkpoint figures, final accumulators and the
    operations the savepoint, stop and rescaling endpoints trigger.

    The three operations raise an exception (``CheckpointException`` and the like) when
    they cannot be carried out; REST reports it as the operation's ``failure-cause``.
    """

    @property
    def graph(self) -> ExecutionGraph:
        """The job's ExecutionGraph."""

    @property
    def checkpoint_stats(self) -> CheckpointStatsTracker | None:
        """Checkpoint statistics; None without a checkpoint coordinator."""

    @property
    def checkpoint_config(self) -> CheckpointCoordinatorConfiguration | None:
        """The coordinator's configuration; None without a checkpoint coordinator."""

    def task_accumulators(self, attempt_id: str) -> dict[str, str] | None:
        """The final accumulators (wire form) an ended attempt reported, or None."""

    def vertex_thread_info_stats(self, vertex_id: str) -> JobVertexThreadInfoStats | None:
        """The latest thread samples of a vertex's running subtasks, for its flame graph
        (None while the first sampling runs); starts a sampling when there are none or
        they are older than ``rest.flamegraph.refresh-interval``."""

    async def trigger_checkpoint(self) -> int:
        """Take a checkpoint now (Flink 1.17's manual checkpoint); returns its id."""

    async def trigger_savepoint(self, target_directory: str, cancel_job: bool) -> str:
        """Take a savepoint below ``target_directory`` (then cancel the job if asked);
        returns its location (``file:/.../savepoint-xxxx``)."""

    async def stop_with_savepoint(self, target_directory: str, drain: bool) -> str:
        """Take a synchronous savepoint and finish the job (``drain``: emit the final
        watermark first); returns the savepoint's location."""

    async def rescale(self, parallelism: int) -> None:
        """Restart the job from a fresh savepoint with a new parallelism."""


class RestfulGateway(Protocol):
    """Read access to the cluster and the operations REST can trigger."""

    @property
    def configuration(self) -> Configuration:
        """The JobManager's configuration."""

    @property
    def started_at(self) -> int:
        """ms since epoch when the JobManager started."""

    @property
    def workdir(self) -> Path | None:
        """The cluster's working directory (job files live below it), if it has one."""

    @property
    def log_dir(self) -> Path | None:
        """The JobManager's log directory, if it has one."""

    @property
    def upload_dir(self) -> Path:
        """Where uploaded jars are stored (see :func:`default_upload_dir`)."""

    @property
    def metric_fetcher(self) -> MetricFetcher | None:
        """Pulls TaskManager metrics and live accumulators; None: no metrics."""

    def execution_graph(self, job_id: str) -> ExecutionGraph | None:
        """The job's graph (running or archived), or None if unknown."""

    def execution_graphs(self) -> list[ExecutionGraph]:
        """All known jobs, running and archived."""

    def job_master(self, job_id: str) -> JobMasterGateway | None:
        """The job's JobMaster, also once the job has ended (its checkpoint statistics stay
        readable, as Flink archives them), or None if unknown or not yet created."""

    def task_managers(self) -> list[TaskManagerInfo]:
        """Registered TaskManagers."""

    @property
    def events(self) -> ClusterEvents:
        """The cluster's events (job status, checkpoints, failures, TaskManagers)."""

    async def submit_job(self, job_graph: JobGraph) -> None:
        """Accept a job (returns once it is accepted, not finished).
        Raises ValueError for an invalid graph or a duplicate job id."""

    async def cancel_job(self, job_id: str) -> None:
        """Cancel a job. Raises JobNotFound, JobAlreadyTerminated."""

    async def shutdown_cluster(self) -> None:
        """Stop every job, every TaskManager and then the JobManager itself."""

    def datasets(self) -> list[ClusterDataSet]:
        """The cluster data sets (cached stream results), complete or not."""

    async def release_dataset(self, dataset_id: str) -> None:
        """Delete a cluster data set everywhere (KeyError if unknown)."""

    async def dispose_savepoint(self, path: str) -> None:
        """Delete the savepoint at ``path``. Raises CheckpointStorageError for a path that
        is not a savepoint."""

    async def request_task_manager(self, resource_id: str, request: Request,
                                   timeout: float) -> Any:
        """Send a request to a TaskManager and return its answer's payload.
        Raises KeyError (unknown TaskManager), RequestFailed, TimeoutError."""


def default_upload_dir(configuration: Configuration, workdir: Path | None) -> Path:
    """``web.upload.dir``, else ``<workdir>/web-upload``, else a per-process temp dir.
    When ``web.upload.dir`` is a URL this is the local working copy (see
    :func:`upload_url`)."""
    configured = str(configuration.get("web.upload.dir") or "")
    if configured and upload_url(configuration) is None:
        return Path(filesystem.local_path(configured)).absolute()
    if workdir is not None:
        return Path(workdir) / "web-upload"
    return Path(tempfile.gettempdir()) / f"headwater-web-{os.getpid()}" / "web-upload"


def upload_url(configuration: Configuration) -> str | None:
    """``web.upload.dir`` when it is a URL of another file system (``s3://...``), where
    uploaded artifacts are stored; None for a local directory."""
    configured = str(configuration.get("web.upload.dir") or "")
    return configured if configured and not filesystem.is_local(configured) else None
