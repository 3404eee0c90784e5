"""A finished job as the JobManager keeps it after its JobMaster is gone (Flink's
``ArchivedExecutionGraph`` with its checkpoint statistics).

It answers every REST question about the job that a JobMaster of a finished job answers
(execution graph, checkpoint figures and configuration, accumulators) and refuses the
operations (savepoint, stop, rescale) as a job that ended does. It pickles, so the
embedded HA store keeps it across JobManager restarts.
"""

from __future__ import annotations

import asyncio
import pickle
from typing import TYPE_CHECKING

from headwater.runtime.checkpoint.config import CheckpointCoordinatorConfiguration
from headwater.runtime.checkpoint.stats import CheckpointStatsTracker
from headwater.runtime.jobmanager.exceptions import JobAlreadyTerminated
from headwater.runtime.jobmanager.execution_graph import ExecutionGraph

if TYPE_CHECKING:
    from headwater.runtime.jobmanager.job_master import JobMaster


class ArchivedJob:
    """The read-only remains of a globally terminal job."""

    def __init__(self, graph: ExecutionGraph, checkpoint_stats: CheckpointStatsTracker | None,
                 checkpoint_config: CheckpointCoordinatorConfiguration | None,
                 task_accumulators: dict[str, dict[str, str]]) -> None:
        self.graph = graph
        self.checkpoint_stats = checkpoint_stats
        self.checkpoint_config = checkpoint_config
        self._task_accumulators = task_accumulators
        self._terminated: asyncio.Event | None = None

    @classmethod
    def of(cls, job_master: JobMaster) -> ArchivedJob:
        """The archive of a JobMaster whose job has ended."""
        return cls(job_master.graph, job_master.checkpoint_stats,
                   job_master.checkpoint_config,
                   {attempt: dict(accs) for attempt, accs
                    in job_master.task_accumulator_reports().items()})

    def to_bytes(self) -> bytes:
        """The archive as bytes (for the HA store)."""
        return pickle.dumps(self, protocol=5)

    @staticmethod
    def from_bytes(data: bytes) -> ArchivedJob:
        """An archive written by :meth:`to_bytes`."""
        job = pickle.loads(data)
        if not isinstance(job, ArchivedJob):
            raise TypeError(f"not an archived job: {type(job).__name__}")
        return job

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_terminated"] = None  # an event belongs to one event loop
        return state

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self.graph.job_id

    @property
    def terminated(self) -> asyncio.Event:
        """Always set: the job has ended."""
        if self._terminated is None:
            self._terminated = asyncio.Event()
            self._terminated.set()
        return self._terminated

    def owns(self, attempt_id: str) -> bool:
        """No attempt of an archived job runs any more."""
        return False

    def task_accumulators(self, attempt_id: str) -> dict[str, str] | None:
        """The accumulators an attempt reported last (name -> base64 wire), or None."""
        return self._task_accumulators.get(attempt_id)

    def vertex_thread_info_stats(self, vertex_id: str) -> None:
        """No subtask of an archived job runs: nothing to sample."""
        return None

    def cancel(self) -> None:
        """Nothing to cancel."""

    def _ended(self) -> JobAlreadyTerminated:
        return JobAlreadyTerminated(
            f"Job {self.job_id} already reached state {self.graph.state.value}")

    async def trigger_checkpoint(self) -> int:
        """A finished job takes no checkpoint."""
        raise self._ended()

    async def trigger_savepoint(self, target_directory: str | None, cancel_job: bool) -> str:
        """A finished job takes no savepoint."""
        raise self._ended()

    async def stop_with_savepoint(self, target_directory: str | None, drain: bool) -> str:
        """A finished job cannot be stopped."""
        raise self._ended()

    async def rescale(self, parallelism: int) -> None:
        """A finished job cannot be rescaled."""
        raise self._ended()
