"""A task's I/O counters and the figures read from them.

:class:`TaskMetrics` holds what only the task thread counts (records read, per-operator
records and watermarks, idle time). Bytes and records written, bytes received and
back-pressure time are counted by the writers, channels and partitions themselves;
:func:`read_io` adds them up on every read, from any thread, and writes nothing.
"""

from __future__ import annotations

import dataclasses

from headwater.runtime.network.blocking_partition import BlockingResultPartition
from headwater.runtime.network.events import MIN_WATERMARK
from headwater.runtime.network.input_gate import InputGate
from headwater.runtime.network.partition import ResultPartition
from headwater.runtime.network.record_writer import RecordWriter


class TaskMetrics:
    """Counters of a task, written by its thread and read by heartbeats and metrics."""

    def __init__(self, num_operators: int) -> None:
        self.read_records = 0
        self.operator_records_in = [0] * num_operators
        self.operator_records_out = [0] * num_operators
        #: Time the task thread spent waiting for input.
        self.idle_ns = 0
        #: Watermark each operator has seen (its input watermark), Flink's Long.MIN at first.
        self.operator_watermarks = [MIN_WATERMARK] * num_operators
        self.input_watermark = MIN_WATERMARK
        self.output_watermark = MIN_WATERMARK
        #: When the task started running (perf_counter_ns), for busy-time figures.
        self.started_ns = 0


@dataclasses.dataclass(frozen=True)
class IOFigures:
    """The I/O figures of a task at one moment."""

    read_bytes: int
    write_bytes: int
    read_records: int
    write_records: int
    back_pressured_ns: int


def read_io(metrics: TaskMetrics, gate: InputGate, writers: list[RecordWriter],
            partitions: list[ResultPartition | BlockingResultPartition]) -> IOFigures:
    """Add up the task's I/O figures (a pure read: safe from any thread)."""
    return IOFigures(
        read_bytes=gate.bytes_received,
        write_bytes=sum(w.bytes_out for w in writers),
        read_records=metrics.read_records,
        write_records=sum(w.records_out for w in writers),
        back_pressured_ns=sum(p.back_pressured_ns for p in partitions))
