"""Checkpoint statistics, as Flink's CheckpointStatsTracker keeps them for the REST API.

The CheckpointCoordinator records every checkpoint it triggers here: per subtask
acknowledgements (state size, sync/async durations, alignment), completion or failure,
and restores. Everything is measured: durations come from the tasks' own clocks around
the snapshot, sizes are the bytes written to checkpoint storage.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections import deque

#: Flink's external path for checkpoints that are not retained.
NOT_EXTERNALLY_ADDRESSABLE = "<checkpoint-not-externally-addressable>"


class CheckpointStatus(enum.StrEnum):
    """Flink's CheckpointStatsStatus."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class CheckpointType(enum.StrEnum):
    """Flink 1.12's CheckpointType names."""

    CHECKPOINT = "CHECKPOINT"
    SAVEPOINT = "SAVEPOINT"
    SYNC_SAVEPOINT = "SYNC_SAVEPOINT"


@dataclasses.dataclass
class SubtaskCheckpointStats:
    """One subtask's acknowledgement of a checkpoint (Flink's SubtaskStateStats)."""

    subtask_index: int
    ack_timestamp: int
    state_size: int
    sync_duration: int  # ms
    async_duration: int  # ms
    alignment_duration: int  # ms
    alignment_buffered: int  # bytes held back while aligning
    processed_data: int  # bytes processed during alignment
    start_delay: int  # ms from trigger to the barrier reaching the subtask
    #: bytes of in-flight data persisted (unaligned checkpoints; aligned ones persist none)
    persisted_data: int = 0


@dataclasses.dataclass
class CheckpointStats:
    """One checkpoint or savepoint."""

    checkpoint_id: int
    checkpoint_type: CheckpointType
    trigger_timestamp: int
    #: vertex id -> parallelism (the subtasks that must acknowledge)
    vertex_parallelism: dict[str, int]
    status: CheckpointStatus = CheckpointStatus.IN_PROGRESS
    #: vertex id -> subtask index -> stats
    subtasks: dict[str, dict[int, SubtaskCheckpointStats]] = dataclasses.field(
        default_factory=dict)
    external_path: str = NOT_EXTERNALLY_ADDRESSABLE
    discarded: bool = False
    failure_timestamp: int = 0
    failure_message: str | None = None

    @property
    def is_savepoint(self) -> bool:
        return self.checkpoint_type != CheckpointType.CHECKPOINT

    @property
    def num_subtasks(self) -> int:
        return sum(self.vertex_parallelism.values())

    @property
    def num_acknowledged_subtasks(self) -> int:
        return sum(len(s) for s in self.subtasks.values())

    @property
    def state_size(self) -> int:
        return sum(s.state_size for v in self.subtasks.values() for s in v.values())

    @property
    def alignment_buffered(self) -> int:
        return sum(s.alignment_buffered for v in self.subtasks.values() for s in v.values())

    @property
    def processed_data(self) -> int:
        return sum(s.processed_data for v in self.subtasks.values() for s in v.values())

    @property
    def persisted_data(self) -> int:
        return sum(s.persisted_data for v in self.subtasks.values() for s in v.values())

    @property
    def latest_ack_timestamp(self) -> int:
        acks = [s.ack_timestamp for v in self.subtasks.values() for s in v.values()]
        return max(acks) if acks else -1

    @property
    def end_to_end_duration(self) -> int:
        """ms from trigger to the latest acknowledgement (or failure)."""
        if self.status == CheckpointStatus.FAILED and self.failure_timestamp:
            return self.failure_timestamp - self.trigger_timestamp
        latest = self.latest_ack_timestamp
        return max(0, latest - self.trigger_timestamp) if latest >= 0 else -1

    def acknowledge(self, vertex_id: str, stats: SubtaskCheckpointStats) -> None:
        """Record a subtask's acknowledgement."""
        self.subtasks.setdefault(vertex_id, {})[stats.subtask_index] = stats


@dataclasses.dataclass
class RestoredCheckpointStats:
    """The checkpoint or savepoint the job last restored from."""

    checkpoint_id: int
    restore_timestamp: int
    is_savepoint: bool
    external_path: str


class StatsSummary:
    """Flink's ``StatsSummary``: count, min, max and average over every value ever added
    (constant memory), and percentiles over the latest ``window`` values (Flink 1.14+)."""

    PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999))

    def __init__(self, window: int = 1000) -> None:
        self.count = 0
        self.sum = 0
        self.min = 0
        self.max = 0
        self.latest: deque[int] = deque(maxlen=window)

    def add(self, value: int) -> None:
        """Count one value."""
        self.min = value if self.count == 0 else min(self.min, value)
        self.max = value if self.count == 0 else max(self.max, value)
        self.count += 1
        self.sum += value
        self.latest.append(value)

    @property
    def avg(self) -> int:
        """The average, rounded down (0 without values), as Flink reports it."""
        return self.sum // self.count if self.count else 0

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of the latest values (0.0 without values), interpolated as
        Flink's DescriptiveStatisticsHistogram (Apache Commons Math's default) does."""
        values = sorted(self.latest)
        if not values:
            return 0.0
        position = q * (len(values) + 1)
        if position < 1:
            return float(values[0])
        if position >= len(values):
            return float(values[-1])
        low = math.floor(position)
        return values[low - 1] + (position - low) * (values[low] - values[low - 1])

    def to_json(self) -> dict[str, float | int]:
        """``{"min", "max", "avg", "p50", "p90", "p95", "p99", "p999"}``."""
        return {"min": self.min, "max": self.max, "avg": self.avg,
                **{name: self.quantile(q) for name, q in self.PERCENTILES}}


#: The figures summarized over completed checkpoints (REST ``summary`` keys).
SUMMARY_FIGURES = ("state_size", "end_to_end_duration", "alignment_buffered",
                   "processed_data", "persisted_data")


class CheckpointStatsTracker:
    """Counts, history (bounded) and latest checkpoints of one job."""

    def __init__(self, history_size: int = 10) -> None:
        self.history: deque[CheckpointStats] = deque(maxlen=history_size)
        self.all: dict[int, CheckpointStats] = {}
        self.completed = 0
        self.failed = 0
        self.restored = 0
        self.latest_completed: CheckpointStats | None = None
        self.latest_savepoint: CheckpointStats | None = None
        self.latest_failed: CheckpointStats | None = None
        self.latest_restored: RestoredCheckpointStats | None = None
        #: Summaries of the completed checkpoints' figures (REST ``summary``).
        self.summaries = {figure: StatsSummary() for figure in SUMMARY_FIGURES}

    @property
    def in_progress(self) -> int:
        return sum(1 for c in self.all.values() if c.status == CheckpointStatus.IN_PROGRESS)

    @property
    def total(self) -> int:
        return self.completed + self.failed + self.in_progress

    def report_pending(self, stats: CheckpointStats) -> None:
        """A checkpoint was triggered."""
        self.all[stats.checkpoint_id] = stats
        self.history.appendleft(stats)
        # Keep the lookup table bounded like the history.
        while len(self.all) > 10 * (self.history.maxlen or 10):
            del self.all[min(self.all)]

    def report_completed(self, stats: CheckpointStats) -> None:
        """A checkpoint completed."""
        stats.status = CheckpointStatus.COMPLETED
        self.completed += 1
        for figure, summary in self.summaries.items():
            summary.add(getattr(stats, figure))
        # As Flink's CheckpointStatsHistory: a savepoint is the latest savepoint, not the
        # latest completed checkpoint.
        if stats.is_savepoint:
            self.latest_savepoint = stats
        else:
            self.latest_completed = stats

    def report_failed(self, stats: CheckpointStats, timestamp: int, message: str) -> None:
        """A checkpoint failed or was declined/expired."""
        stats.status = CheckpointStatus.FAILED
        stats.failure_timestamp = timestamp
        stats.failure_message = message
        self.failed += 1
        self.latest_failed = stats

    def report_restored(self, restored: RestoredCheckpointStats) -> None:
        """The job restored from a checkpoint or savepoint."""
        self.restored += 1
        self.latest_restored = restored

    def get(self, checkpoint_id: int) -> CheckpointStats | None:
        """A checkpoint still in the history."""
        return self.all.get(checkpoint_id)
