"""The JobManager as the REST layer sees it.

REST handlers depend only on this protocol; the Dispatcher implements it. Everything a
handler returns is read from these objects, which the engine keeps up to date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from headwater.config import Configuration
from headwater.graph.job_graph import JobGraph
from headwater.runtime.jobmanager.execution_graph import ExecutionGraph
from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo
from headwater.runtime.rpc.messages import Request


class JobNotFound(KeyError):
    """No job with that id is known to the dispatcher."""


class JobAlreadyTerminated(RuntimeError):
    """The job already reached a globally terminal state."""


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

    # Optional (handlers fall back when absent): files and TaskManager requests.
    #: The cluster's working directory (uploads live below it) and log directory.
    workdir: Path | None
    log_dir: Path | None

    async def request_task_manager(self, resource_id: str, request: Request,
                                   timeout: float = 10.0) -> Any:
        """Send a request to a TaskManager and return its answer's payload.
        Raises KeyError (unknown TaskManager), RequestFailed, TimeoutError."""
