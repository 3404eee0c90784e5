"""The operator chain of a task and the record writers at its tail (Flink's
``OperatorChain``).

A batch enters the chain at some operator index and runs through every later operator's
``process_batch``; what the tail emits goes to the record writers. Watermarks, records
produced outside ``process_batch`` (timers), side outputs, end of input and checkpoint
notifications go through the chain the same way. Only the thread that owns the chain
calls it: the task thread, or, in a source task, whichever thread holds the checkpoint
lock (see :mod:`headwater.runtime.taskmanager.source_driver`).
"""

from __future__ import annotations

import functools
import logging
import pickle
from collections.abc import Callable
from typing import Any

from headwater.api.execution_config import JOB_PARAMETERS, parse_job_parameters
from headwater.runtime.metrics.groups import MetricGroup
from headwater.runtime.network.blocking_partition import BlockingResultPartition
from headwater.runtime.network.buffers import StreamEvent
from headwater.runtime.network.events import MAX_WATERMARK, Watermark, WatermarkStatus
from headwater.runtime.network.partition import ResultPartition
from headwater.runtime.network.record_writer import RecordWriter
from headwater.runtime.operators.base import OperatorContext, StreamOperator
from headwater.runtime.rpc.messages import TaskDeploymentDescriptor
from headwater.runtime.taskmanager.io_counters import TaskMetrics
from headwater.runtime.taskmanager.timers import ProcessingTimeService

log = logging.getLogger(__name__)


def create_writers(tdd: TaskDeploymentDescriptor,
                   partitions: list[ResultPartition | BlockingResultPartition],
                   batch_size: int) -> tuple[list[RecordWriter], dict[str, list[RecordWriter]]]:
    """One record writer per output edge: (main writers, side-output writers by tag)."""
    writers: list[RecordWriter] = []
    side_writers: dict[str, list[RecordWriter]] = {}
    for p, desc in zip(partitions, tdd.outputs, strict=True):
        key_selector = pickle.loads(desc.key_selector) if desc.key_selector else None
        writer = RecordWriter(
            p, desc.ship_strategy, batch_size, key_selector=key_selector,
            max_parallelism=desc.consumer_max_parallelism, subtask_index=tdd.subtask_index,
            input_tag=desc.type_number - 1 if desc.type_number else None)
        if desc.side_output_tag is None:
            writers.append(writer)
        else:
            side_writers.setdefault(desc.side_output_tag, []).append(writer)
    return writers, side_writers


class OperatorChain:
    """The chained operators of one task and the writers of its output edges."""

    def __init__(self, operators: list[StreamOperator], writers: list[RecordWriter],
                 side_writers: dict[str, list[RecordWriter]], metrics: TaskMetrics,
                 batch: bool = False) -> None:
        self.operators = operators
        #: BATCH mode: event time stands still until the final watermark.
        self.batch = batch
        self.writers = writers
        #: Writers of side-output edges, by output tag id.
        self.side_writers = side_writers
        self.all_writers = writers + [w for ws in side_writers.values() for w in ws]
        self.metrics = metrics
        #: Whether this subtask last announced itself idle downstream.
        self.idle = False

    def setup(self, tdd: TaskDeploymentDescriptor, keyed_backend: Any,
              accumulators: dict[str, Any], timers: ProcessingTimeService,
              metric_groups: list[MetricGroup]) -> None:
        """Give every operator its context (its emit hooks lead into this chain)."""
        parameters = parse_job_parameters(tdd.configuration.get(JOB_PARAMETERS))
        for i, (spec, op) in enumerate(zip(tdd.operators, self.operators, strict=True)):
            op.setup(OperatorContext(
                job_id=tdd.job_id, vertex_id=tdd.vertex_id, operator_id=spec.operator_id,
                task_name=tdd.vertex_name, operator_name=spec.name,
                subtask_index=tdd.subtask_index, parallelism=tdd.parallelism,
                max_parallelism=tdd.max_parallelism, attempt_number=tdd.attempt_number,
                keyed_state_backend=keyed_backend, accumulators=accumulators,
                processing_time_service=timers,
                emit_watermark=functools.partial(self.push_watermark, start=i + 1),
                emit_side_output=functools.partial(self.emit_side_output, i + 1),
                emit_records=functools.partial(self.emit_records, i),
                emit_watermark_status=self.emit_watermark_status,
                metric_group=metric_groups[i], job_parameters=parameters))

    def open(self, cancelled: Callable[[], bool]) -> bool:
        """Open the operators, tail first as Flink does; False if ``cancelled()`` became
        true meanwhile (the rest stay unopened)."""
        for op in reversed(self.operators):
            if cancelled():
                return False
            op.open()
        return True

    def close(self) -> None:
        """Close every operator (also after failure); errors are logged."""
        for op in self.operators:
            try:
                op.close()
            except Exception:  # noqa: BLE001 - user code; every operator gets closed
                log.exception("closing operator failed")

    # -- records ------------------------------------------------------------------------

    def push(self, start: int, values: list[Any], timestamps: list[int] | None) -> None:
        """Run a batch through operators[start:] and emit the result."""
        ops = self.operators
        rin = self.metrics.operator_records_in
        rout = self.metrics.operator_records_out
        for i in range(start, len(ops)):
            rin[i] += len(values)
            values, timestamps = ops[i].process_batch(values, timestamps)
            rout[i] += len(values)
            if not values:
                return
        writers = self.writers
        if len(writers) == 1:  # hand the batch over: see RecordWriter.take
            holder = [values]
            del values
            writers[0].take(holder, timestamps)
            return
        for w in writers:
            w.emit(values, timestamps)

    def emit_records(self, index: int, values: list[Any], timestamps: list[int] | None) -> None:
        """Records operator ``index`` produced outside process_batch (timers)."""
        if values:
            self.metrics.operator_records_out[index] += len(values)
            self.push(index + 1, values, timestamps)

    def emit_side_output(self, start: int, tag: str, values: list[Any],
                         timestamps: list[int] | None) -> None:
        """Records an operator sent to a side output (only chain tails have consumers)."""
        for w in self.side_writers.get(tag, ()):
            w.emit(values, timestamps)

    # -- events -------------------------------------------------------------------------

    def push_watermark(self, watermark: int, start: int = 0) -> None:
        """Advance event time in operators[start:], then send the watermark downstream."""
        if self.batch and watermark < MAX_WATERMARK:
            return
        ops = self.operators
        metrics = self.metrics
        marks = metrics.operator_watermarks
        for i in range(start, len(ops)):
            if watermark <= marks[i]:
                return
            marks[i] = watermark
            values, timestamps = ops[i].process_watermark(watermark)
            if values:
                metrics.operator_records_out[i] += len(values)
                self.push(i + 1, values, timestamps)
        if watermark > metrics.output_watermark:
            metrics.output_watermark = watermark
            if watermark == MAX_WATERMARK and self.idle:
                # Downstream valves ignore the watermarks of idle channels: the end of
                # event time makes this output active first (as Flink's sources and
                # TimestampsAndWatermarksOperator do), or pending timers never fire.
                self.emit_watermark_status(False)
            self.broadcast_event(Watermark(watermark))

    def emit_watermark_status(self, idle: bool) -> None:
        """Tell downstream tasks this subtask is idle (or active again)."""
        self.idle = idle
        self.broadcast_event(WatermarkStatus(idle=idle))

    def broadcast_event(self, event: StreamEvent) -> None:
        """Send an event on every output edge (after the records before it)."""
        for w in self.all_writers:
            w.broadcast_event(event)

    def flush(self) -> None:
        """Send every buffered record."""
        for w in self.all_writers:
            w.flush()

    def finish(self, start: int) -> None:
        """End of input: let each operator emit its final output, head to tail."""
        ops = self.operators
        for i in range(start, len(ops)):
            values, timestamps = ops[i].end_input()
            if values:
                self.metrics.operator_records_out[i] += len(values)
                self.push(i + 1, values, timestamps)
        self.flush()

    def notify_checkpoint(self, checkpoint_id: int, complete: bool) -> None:
        """A checkpoint completed (or was aborted): tell every operator."""
        for op in self.operators:
            if complete:
                op.notify_checkpoint_complete(checkpoint_id)
            else:
                op.notify_checkpoint_aborted(checkpoint_id)
