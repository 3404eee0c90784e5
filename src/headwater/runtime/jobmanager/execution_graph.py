"""The ExecutionGraph: the JobMaster's live picture of a job.

Plain data, mutated only on the JobManager's event loop by the JobMaster and read by the
REST handlers. State names and the meaning of every timestamp follow Flink's
``ExecutionGraph`` / ``ExecutionJobVertex`` / ``ExecutionVertex`` / ``Execution``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from typing import Any

from headwater.clock import now_ms
from headwater.graph.job_graph import JobGraph, JobVertex


class JobStatus(enum.StrEnum):
    """Flink's JobStatus, in Flink's declaration order (INITIALIZING only in timestamps)."""

    INITIALIZING = "INITIALIZING"
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    FAILING = "FAILING"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELED = "CANCELED"
    FINISHED = "FINISHED"
    RESTARTING = "RESTARTING"
    SUSPENDED = "SUSPENDED"
    RECONCILING = "RECONCILING"

    @property
    def is_globally_terminal(self) -> bool:
        """FINISHED, CANCELED and FAILED end a job for good."""
        return self in (JobStatus.FINISHED, JobStatus.CANCELED, JobStatus.FAILED)


class ExecutionState(enum.StrEnum):
    """Flink's ExecutionState, in Flink's declaration order."""

    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    DEPLOYING = "DEPLOYING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    RECONCILING = "RECONCILING"

    @property
    def is_terminal(self) -> bool:
        """FINISHED, CANCELED and FAILED end an attempt."""
        return self in (ExecutionState.FINISHED, ExecutionState.CANCELED, ExecutionState.FAILED)


@dataclasses.dataclass
class IOMetrics:
    """Records and bytes a subtask read and wrote, as reported by its TaskManager."""

    read_bytes: int = 0
    write_bytes: int = 0
    read_records: int = 0
    write_records: int = 0
    #: False while the figures are still being updated by a running task.
    complete: bool = False


@dataclasses.dataclass
class TaskManagerLocation:
    """Where an attempt runs."""

    resource_id: str
    host: str
    data_port: int


@dataclasses.dataclass
class FailureInfo:
    """An exception that failed a task or the job."""

    exception: str  # stringified, with traceback
    timestamp: int
    task_name: str | None = None
    location: str | None = None  # "host:port" of the TaskManager


@dataclasses.dataclass
class Execution:
    """One attempt to run a subtask."""

    attempt_number: int
    state: ExecutionState = ExecutionState.CREATED
    state_timestamps: dict[ExecutionState, int] = dataclasses.field(default_factory=dict)
    location: TaskManagerLocation | None = None
    io: IOMetrics = dataclasses.field(default_factory=IOMetrics)
    failure: FailureInfo | None = None
    #: Latest user accumulators of this attempt: name -> (type name, value).
    accumulators: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Attempt id used on the wire (unique per job).
    attempt_id: str = ""
    #: Slot of the TaskManager the attempt runs in.
    slot_index: int = -1
    #: Latest task metrics from heartbeats (per-operator counts, back-pressure time...).
    task_metrics: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.state_timestamps:
            self.state_timestamps = {self.state: now_ms()}

    def transition(self, state: ExecutionState, timestamp: int | None = None) -> bool:
        """Move to ``state``; terminal states are final. Returns whether it moved."""
        if self.state.is_terminal or self.state == state:
            return False
        self.state = state
        self.state_timestamps[state] = timestamp if timestamp is not None else now_ms()
        return True

    def timestamp(self, state: ExecutionState) -> int:
        """When this attempt entered ``state``, 0 if never."""
        return self.state_timestamps.get(state, 0)


@dataclasses.dataclass
class ExecutionVertex:
    """One parallel subtask of a job vertex, with all its attempts."""

    subtask_index: int
    current: Execution
    prior: list[Execution] = dataclasses.field(default_factory=list)

    def attempt(self, number: int) -> Execution | None:
        """The attempt with this number, current or prior."""
        if self.current.attempt_number == number:
            return self.current
        for e in self.prior:
            if e.attempt_number == number:
                return e
        return None

    def new_attempt(self) -> Execution:
        """Archive the current attempt and start a new one (a redeployment)."""
        self.prior.append(self.current)
        self.current = Execution(attempt_number=self.current.attempt_number + 1)
        return self.current


@dataclasses.dataclass
class ExecutionJobVertex:
    """The runtime side of a job vertex: its subtasks."""

    job_vertex: JobVertex
    subtasks: list[ExecutionVertex]

    @property
    def vertex_id(self) -> str:
        return self.job_vertex.vertex_id

    @property
    def name(self) -> str:
        return self.job_vertex.name

    @property
    def parallelism(self) -> int:
        return len(self.subtasks)

    @property
    def max_parallelism(self) -> int:
        return self.job_vertex.max_parallelism

    def state_counts(self) -> dict[ExecutionState, int]:
        """How many subtasks are in each ExecutionState (every state present)."""
        counts = {s: 0 for s in ExecutionState}
        for sv in self.subtasks:
            counts[sv.current.state] += 1
        return counts


@dataclasses.dataclass
class ExecutionGraph:
    """A job's live state: status, timestamps, vertices, failures and results."""

    job_graph: JobGraph
    vertices: list[ExecutionJobVertex]
    state: JobStatus = JobStatus.CREATED
    state_timestamps: dict[JobStatus, int] = dataclasses.field(default_factory=dict)
    #: The exception that ended (or last failed) the job.
    failure: FailureInfo | None = None
    #: Every task failure in order (the root exception history).
    failure_history: list[FailureInfo] = dataclasses.field(default_factory=list)
    #: Final (merged) accumulator values: name -> value, set when the job ends.
    accumulator_results: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Kind (class name) of each merged accumulator.
    accumulator_kinds: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Number of restarts so far.
    num_restarts: int = 0

    @classmethod
    def from_job_graph(cls, job_graph: JobGraph, initialized_at: int | None = None) -> ExecutionGraph:
        """Build a fresh graph (all subtasks CREATED, attempt 0)."""
        ts = initialized_at if initialized_at is not None else now_ms()
        vertices = [
            ExecutionJobVertex(
                job_vertex=jv,
                subtasks=[ExecutionVertex(i, Execution(0)) for i in range(jv.parallelism)],
            )
            for jv in job_graph.vertices
        ]
        eg = cls(job_graph=job_graph, vertices=vertices)
        eg.state_timestamps = {JobStatus.INITIALIZING: ts, JobStatus.CREATED: now_ms()}
        return eg

    @property
    def job_id(self) -> str:
        return self.job_graph.job_id

    @property
    def name(self) -> str:
        return self.job_graph.name

    def vertex(self, vertex_id: str) -> ExecutionJobVertex | None:
        """The vertex with this id, or None."""
        for v in self.vertices:
            if v.vertex_id == vertex_id:
                return v
        return None

    def edge_end(self, vertex_id: str) -> ExecutionJobVertex:
        """The vertex at the other end of one of the graph's own edges (always there)."""
        v = self.vertex(vertex_id)
        if v is None:
            raise KeyError(f"no vertex {vertex_id} in job {self.job_id}")
        return v

    def transition(self, state: JobStatus) -> bool:
        """Move the job to ``state``; globally terminal states are final."""
        if self.state.is_globally_terminal or self.state == state:
            return False
        self.state = state
        self.state_timestamps[state] = now_ms()
        return True

    def timestamp(self, state: JobStatus) -> int:
        """When the job entered ``state``, 0 if never."""
        return self.state_timestamps.get(state, 0)

    @property
    def start_time(self) -> int:
        """Flink reports the INITIALIZING timestamp as a job's start time."""
        return self.timestamp(JobStatus.INITIALIZING)

    @property
    def end_time(self) -> int:
        """When the job reached a globally terminal state, -1 while it has not."""
        if self.state.is_globally_terminal:
            return self.timestamp(self.state)
        return -1

    def duration(self, now: int | None = None) -> int:
        """Milliseconds from start to end (or to now while running)."""
        end = self.end_time
        return (end if end >= 0 else (now if now is not None else now_ms())) - self.start_time

    def all_executions(self
                       ) -> Iterator[tuple[ExecutionJobVertex, ExecutionVertex, Execution]]:
        """Yield (vertex, subtask, current execution) for every subtask."""
        for v in self.vertices:
            for sv in v.subtasks:
                yield v, sv, sv.current
