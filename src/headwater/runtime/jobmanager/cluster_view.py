"""The JobManager as the REST layer sees it.

REST handlers depend only on this protocol; the Dispatcher implements it. Everything a
handler returns is read from these objects, which the engine keeps up to date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from headwater.config import Configuration
from headwater.graph.job_graph import JobGraph
from headwater.runtime.checkpoint.config import CheckpointCoordinatorConfiguration
from headwater.runtime.checkpoint.stats import CheckpointStatsTracker
from headwater.runtime.jobmanager.execution_graph import ExecutionGraph
from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo
from headwater.runtime.rpc.messages import Request


class JobNotFound(KeyError):
    """No job with that id is known to the dispatcher."""


class JobAlreadyTerminated(RuntimeError):
    """The job already reached a globally terminal state."""


class JobMasterView(Protocol):
    """One job's JobMaster as the REST layer sees it: checkpoint figures and the
    operations the savepoint, stop and rescaling endpoints trigger.

    The three operations raise an exception (``CheckpointException`` and the like) when
    they cannot be carried out; REST reports it as the operation's ``failure-cause``.
    """

    graph: ExecutionGraph
    #: None for a job without a checkpoint coordinator (Flink: checkpointing not enabled)
    checkpoint_stats: CheckpointStatsTracker | None
    checkpoint_config: CheckpointCoordinatorConfiguration | None

    async def trigger_savepoint(self, target_directory: str, cancel_job: bool) -> str:
        """Take a savepoint below ``target_directory`` (then cancel the job if asked);
        returns its location (``file:/.../savepoint-xxxx``)."""

    async def stop_with_savepoint(self, target_directory: str, drain: bool) -> str:
        """Take a synchronous savepoint and finish the job (``drain``: emit the final
        watermark first); returns the savepoint's location."""

    async def rescale(self, parallelism: int) -> None:
        """Restart the job from a fresh savepoint with a new parallelism."""


class ClusterView(Protocol):
    """Read access to the cluster and the operations REST can trigger."""

    configuration: Configuration
    #: ms since epoch when the JobManager started
    started_at: int

    def execution_graph(self, job_id: str) -> ExecutionGraph | None:
        """The job's graph (running or archived), or None if unknown."""

    def execution_graphs(self) -> list[ExecutionGraph]:
        """All known jobs, running and archived."""

    def task_managers(self) -> list[TaskManagerInfo]:
        """Registered TaskManagers."""

    async def submit_job(self, job_graph: JobGraph) -> None:
        """Accept a job (returns once it is accepted, not finished).
        Raises ValueError for an invalid graph or a duplicate job id."""

    async def cancel_job(self, job_id: str) -> None:
        """Cancel a job. Raises JobNotFound, JobAlreadyTerminated."""

    async def shutdown_cluster(self) -> None:
        """Stop every job, every TaskManager and then the JobManager itself."""

    def job_master(self, job_id: str) -> JobMasterView | None:
        """The job's JobMaster, also once the job has ended (its checkpoint statistics stay
        readable, as Flink archives them), or None if unknown or not yet created."""

    async def dispose_savepoint(self, path: str) -> None:
        """Delete the savepoint at ``path``. Raises CheckpointStorageError for a path that
        is not a savepoint."""

    # Optional (handlers fall back when absent): files and TaskManager requests.
    #: The cluster's working directory (uploads live below it) and log directory.
    workdir: Path | None
    log_dir: Path | None

    async def request_task_manager(self, resource_id: str, request: Request,
                                   timeout: float = 10.0) -> Any:
        """Send a request to a TaskManager and return its answer's payload.
        Raises KeyError (unknown TaskManager), RequestFailed, TimeoutError."""
