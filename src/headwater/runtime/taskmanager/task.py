"""A Task: one attempt of one subtask, running its operator chain in a thread.

The task connects its input gate and result partitions, opens the chain, and then either
drives the head source operator or consumes input buffers until every input channel has
ended. It reports RUNNING, then FINISHED, FAILED or CANCELED, to its TaskManager.
"""

from __future__ import annotations

import collections
import functools
import logging
import pickle
import threading
import time
import traceback
from collections.abc import Callable

from headwater.clock import now_ms as _now_ms
from headwater.config import DEFAULTS
from headwater.runtime.metrics.task_metrics import register_task_metrics
from headwater.runtime.network.events import (
    END_OF_PARTITION,
    MAX_WATERMARK,
    MIN_WATERMARK,
    ChannelError,
    CheckpointBarrier,
    EndOfPartition,
    Watermark,
    WatermarkStatus,
)
from headwater.runtime.network.input_gate import InputGate
from headwater.runtime.network.partition import PartitionRegistry, ResultPartition, TaskCancelled
from headwater.runtime.network.record_writer import RecordWriter
from headwater.runtime.operators.base import OperatorContext, SourceOperator
from headwater.runtime.rpc.messages import TaskDeploymentDescriptor
from headwater.runtime.state.key_groups import key_group_range_for_operator
from headwater.runtime.taskmanager.checkpointing import SubtaskCheckpointer
from headwater.runtime.taskmanager.timers import ProcessingTimeService

log = logging.getLogger(__name__)

_CANCEL = object()


class _SourceStopped(Exception):
    """Unwinds a source after stop-with-savepoint took its final savepoint."""


class _CheckpointNotification:
    """Marker in the input queue: run notify_checkpoint_complete/aborted in the task thread."""

    def __init__(self, checkpoint_id: int, complete: bool) -> None:
        self.checkpoint_id = checkpoint_id
        self.complete = complete


def create_keyed_backend(config: dict, max_parallelism: int, key_group_range):
    """The keyed state backend ``state.backend`` asks for (heap when unset)."""
    try:
        from headwater.runtime.state.backends import create_keyed_backend_for
    except ImportError:
        from headwater.runtime.state.heap import HeapKeyedStateBackend

        return HeapKeyedStateBackend(max_parallelism, key_group_range)
    return create_keyed_backend_for(config, max_parallelism, key_group_range)


class TaskMetrics:
    """I/O counters of a task, written by its thread and read by heartbeats."""

    def __init__(self, num_operators: int) -> None:
        self.read_records = 0
        self.read_bytes = 0
        self.write_records = 0
        self.write_bytes = 0
        self.operator_records_in = [0] * num_operators
        self.operator_records_out = [0] * num_operators
        self.back_pressured_ns = 0
        #: Time the task thread spent waiting for input.
        self.idle_ns = 0
        #: Watermark each operator has seen (its input watermark), Flink's Long.MIN at first.
        self.operator_watermarks = [MIN_WATERMARK] * num_operators
        self.input_watermark = MIN_WATERMARK
        self.output_watermark = MIN_WATERMARK
        #: When the task started running (perf_counter_ns), for busy-time figures.
        self.started_ns = 0


class Task:
    """Runs one attempt; ``start`` launches its thread."""

    def __init__(self, tdd: TaskDeploymentDescriptor, registry: PartitionRegistry, host: str,
                 resource_id: str, on_state: Callable[..., None],
                 send_message: Callable[[object], None] | None = None) -> None:
        self.tdd = tdd
        self.attempt_id = tdd.attempt_id
        self.registry = registry
        self.host = host
        self.resource_id = resource_id
        self.on_state = on_state
        self.cancelled = threading.Event()
        self.metrics = TaskMetrics(len(tdd.operators))
        self.operators: list = []
        self.accumulators: dict = {}
        #: The task's metric group (created in ``_setup``; operators get their own).
        self.metric_group = None
        self.state = "DEPLOYING"
        cfg = tdd.configuration
        self.batch_size = int(cfg.get("taskmanager.network.batch-size",
                                      DEFAULTS["taskmanager.network.batch-size"]))
        self.credits = int(cfg.get("taskmanager.network.credits-per-channel",
                                   DEFAULTS["taskmanager.network.credits-per-channel"]))
        self.buffer_timeout = float(cfg.get("execution.buffer-timeout", 100)) / 1000.0
        self.connect_timeout = float(cfg.get("taskmanager.network.request-timeout", 60000)) / 1000
        self.partitions = [
            ResultPartition(p.partition_id, p.num_subpartitions, self.cancelled,
                            self.connect_timeout)
            for p in tdd.outputs
        ]
        for p in self.partitions:
            registry.register(p)
        self.gate = InputGate(self.credits, self.cancelled)
        for gate_desc in tdd.inputs:
            for ch in gate_desc.channels:
                self.gate.add_channel(gate_desc.input_number, ch.partition_id,
                                      ch.subpartition_index, ch.host, ch.data_port,
                                      local=ch.resource_id == resource_id)
        self.writers: list[RecordWriter] = []
        #: Writers of side-output edges, by output tag id.
        self.side_writers: dict[str, list[RecordWriter]] = {}
        self.all_writers: list[RecordWriter] = []
        self.timers = ProcessingTimeService()
        self.keyed_backend = None
        self.key_group_range = key_group_range_for_operator(
            tdd.max_parallelism, tdd.parallelism, tdd.subtask_index)
        self.checkpointer = SubtaskCheckpointer(self, send_message or (lambda m: None))
        self.exactly_once = str(tdd.configuration.get(
            "execution.checkpointing.mode", "EXACTLY_ONCE")).upper() != "AT_LEAST_ONCE"
        #: Set by stop-with-savepoint: the source ends after the savepoint barrier.
        self._stop_requested: str | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"{tdd.vertex_name} ({tdd.subtask_index + 1}/"
                                             f"{tdd.parallelism})#{tdd.attempt_number}")
        self._source: SourceOperator | None = None
        self._output: _SourceOutput | None = None
        self._lock = threading.RLock()  # the "checkpoint lock" of source tasks

    @property
    def name(self) -> str:
        """Flink's task name with subtask: "Map (1/2)#0"."""
        return self._thread.name

    def start(self) -> None:
        """Start the task thread."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the task thread."""
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        """Whether the task thread still runs."""
        return self._thread.is_alive()

    def cancel(self) -> None:
        """Ask the task to stop; it reports CANCELED when it has."""
        if self.cancelled.is_set():
            return
        self.cancelled.set()
        if self._source is not None:
            try:
                self._source.cancel()
            except Exception:  # noqa: BLE001
                log.exception("source cancel failed")
        self.gate.queue.put((-1, _CANCEL, None))

    # -- checkpoints --------------------------------------------------------------------

    def trigger_checkpoint(self, msg) -> None:
        """Source tasks: snapshot and inject the barrier (a TaskManager thread calls this;
        the checkpoint lock keeps the source between two records)."""
        try:
            self._trigger_checkpoint(msg)
        except (TaskCancelled, _SourceStopped, OSError):
            if not (self.cancelled.is_set() or self._stop_requested is not None):
                raise

    def _trigger_checkpoint(self, msg) -> None:
        from headwater.runtime.rpc.messages import DeclineCheckpoint

        with self._lock:
            output = self._output
            if self.state != "RUNNING" or output is None or self._stop_requested is not None \
                    or output.stopped or self.cancelled.is_set():
                self.checkpointer.send(DeclineCheckpoint(
                    attempt_id=self.attempt_id, checkpoint_id=msg.checkpoint_id,
                    reason=f"task {self.name} is not running (it is {self.state.lower()})",
                    task_not_ready=True))
                return
            output.flush()
            if msg.stop and msg.drain:
                self._push_watermark(MAX_WATERMARK, start=1)
            self.checkpointer.checkpoint(msg.checkpoint_id, msg.directory, _now_ms())
            barrier = CheckpointBarrier(msg.checkpoint_id, msg.timestamp, msg.directory,
                                        is_savepoint=msg.checkpoint_type != "CHECKPOINT")
            for w in self.all_writers:
                w.broadcast_event(barrier)
            if msg.stop:
                self._stop_requested = "drain" if msg.drain else "suspend"
                try:
                    self._source.cancel()
                except Exception:  # noqa: BLE001
                    log.exception("source cancel failed")

    def notify_checkpoint(self, checkpoint_id: int, complete: bool) -> None:
        """A checkpoint completed (or was aborted): tell the operators, in the task's
        own thread for input tasks, under the checkpoint lock for sources."""
        if isinstance(self.operators[0] if self.operators else None, SourceOperator):
            with self._lock:
                self._notify_operators(checkpoint_id, complete)
        else:
            self.gate.queue.put((-1, _CheckpointNotification(checkpoint_id, complete), None))

    def _notify_operators(self, checkpoint_id: int, complete: bool) -> None:
        for op in self.operators:
            if complete:
                op.notify_checkpoint_complete(checkpoint_id)
            else:
                op.notify_checkpoint_aborted(checkpoint_id)

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        failure = None
        final = "FAILED"
        try:
            self._setup()
            self.state = "RUNNING"
            self.on_state(self, "RUNNING")
            if isinstance(self.operators[0], SourceOperator):
                self._run_source()
            else:
                self._run_input_loop()
            if self.cancelled.is_set():
                raise TaskCancelled()
            self._finish_chain(0 if not isinstance(self.operators[0], SourceOperator) else 1)
            for w in self.all_writers:
                w.broadcast_event(END_OF_PARTITION)
            final = "FINISHED"
        except TaskCancelled:
            final = "CANCELED"
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything
            if self.cancelled.is_set():
                final = "CANCELED"
            else:
                final = "FAILED"
                failure = "".join(traceback.format_exception(exc))
        finally:
            # Checkpoint writes still running may read the keyed backend (RocksDB
            # snapshots are read out by the writer): let them end before it is disposed.
            # Their acknowledgements also precede the final state, so a savepoint taken
            # at the end (stop-with-savepoint) completes before the job does.
            self.checkpointer.wait_for_writes(timeout=60.0 if final == "FINISHED" else 10.0)
            self._teardown()
        self._collect_io()
        self.state = final
        self.on_state(self, final, failure)

    def _setup(self) -> None:
        tdd = self.tdd
        self.operators = [pickle.loads(o.blob) for o in tdd.operators]
        backend = None
        if any(getattr(op, "keyed", False) for op in self.operators):
            backend = create_keyed_backend(tdd.configuration, tdd.max_parallelism,
                                           self.key_group_range)
        self.keyed_backend = backend
        self.metric_group, operator_groups = register_task_metrics(
            self, isinstance(self.operators[0], SourceOperator))
        self.metrics.started_ns = time.perf_counter_ns()
        for i, (spec, op) in enumerate(zip(tdd.operators, self.operators, strict=True)):
            op.setup(OperatorContext(
                job_id=tdd.job_id, vertex_id=tdd.vertex_id, operator_id=spec.operator_id,
                task_name=tdd.vertex_name, operator_name=spec.name,
                subtask_index=tdd.subtask_index, parallelism=tdd.parallelism,
                max_parallelism=tdd.max_parallelism, attempt_number=tdd.attempt_number,
                keyed_state_backend=backend, accumulators=self.accumulators,
                processing_time_service=self.timers,
                emit_watermark=functools.partial(self._push_watermark, start=i + 1),
                emit_side_output=functools.partial(self._emit_side_output, i + 1),
                emit_records=functools.partial(self._emit_records, i),
                emit_watermark_status=self._emit_watermark_status,
                metric_group=operator_groups[i],
                extras={"task": self}))
        for p, desc in zip(self.partitions, tdd.outputs, strict=True):
            key_selector = pickle.loads(desc.key_selector) if desc.key_selector else None
            writer = RecordWriter(
                p, desc.ship_strategy, self.batch_size, key_selector=key_selector,
                max_parallelism=desc.consumer_max_parallelism, subtask_index=tdd.subtask_index)
            if desc.side_output_tag is None:
                self.writers.append(writer)
            else:
                self.side_writers.setdefault(desc.side_output_tag, []).append(writer)
        self.all_writers = self.writers + [w for ws in self.side_writers.values() for w in ws]
        self.checkpointer.restore(tdd.restore)
        if isinstance(self.operators[0], SourceOperator):
            self._output = _SourceOutput(self)  # before RUNNING: checkpoints may come
        self.gate.connect(self.registry, self.connect_timeout)
        # Flink opens operators from the tail of the chain to the head.
        for op in reversed(self.operators):
            if self.cancelled.is_set():
                raise TaskCancelled()
            op.open()

    def _push(self, start: int, values: list, timestamps: list | None) -> None:
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
        for w in self.writers:
            w.emit(values, timestamps)

    def _push_watermark(self, watermark: int, start: int = 0) -> None:
        """Advance event time in operators[start:], then send the watermark downstream."""
        ops = self.operators
        marks = self.metrics.operator_watermarks
        for i in range(start, len(ops)):
            if watermark <= marks[i]:
                return
            marks[i] = watermark
            values, timestamps = ops[i].process_watermark(watermark)
            if values:
                self.metrics.operator_records_out[i] += len(values)
                self._push(i + 1, values, timestamps)
        if watermark > self.metrics.output_watermark:
            self.metrics.output_watermark = watermark
            event = Watermark(watermark)
            for w in self.all_writers:
                w.broadcast_event(event)

    def _emit_watermark_status(self, idle: bool) -> None:
        """Tell downstream tasks this subtask is idle (or active again)."""
        for w in self.all_writers:
            w.broadcast_event(WatermarkStatus(idle=idle))

    def _emit_records(self, index: int, values: list, timestamps: list | None) -> None:
        """Records operator ``index`` produced outside process_batch (timers)."""
        if values:
            self.metrics.operator_records_out[index] += len(values)
            self._push(index + 1, values, timestamps)

    def _emit_side_output(self, start: int, tag: str, values: list,
                          timestamps: list | None) -> None:
        """Records an operator sent to a side output (only chain tails have consumers)."""
        for w in self.side_writers.get(tag, ()):
            w.emit(values, timestamps)

    def _finish_chain(self, start: int) -> None:
        """End of input: let each operator emit its final output, head to tail."""
        for i in range(start, len(self.operators)):
            values, timestamps = self.operators[i].end_input()
            if values:
                self.metrics.operator_records_out[i] += len(values)
                self._push(i + 1, values, timestamps)
        for w in self.all_writers:
            w.flush()

    def _flush_writers(self) -> None:
        for w in self.all_writers:
            w.flush()

    # -- sources ------------------------------------------------------------------------

    def _run_source(self) -> None:
        self._source = self.operators[0]
        output = self._output
        flusher = threading.Thread(target=output.flush_periodically, daemon=True,
                                   name=f"output-flusher {self.name}")
        flusher.start()
        try:
            try:
                self._source.run(output)
            except _SourceStopped:
                pass
            except BaseException:
                if output.error is not None:
                    raise output.error from None
                if self._stop_requested is not None:
                    pass  # the source broke off after stop-with-savepoint
                else:
                    raise
            if output.error is not None:
                raise output.error
            if self.cancelled.is_set():
                raise TaskCancelled()
            with self._lock:
                if self._stop_requested is None:
                    output.flush()
                    # A bounded source that ends moves event time to the end (Flink's
                    # Watermark.MAX_WATERMARK), so every pending event-time timer fires.
                    self._push_watermark(MAX_WATERMARK, start=1)
        finally:
            output.stopped = True

    # -- inputs -------------------------------------------------------------------------

    def _run_input_loop(self) -> None:
        q = self.gate.queue
        channels = self.gate.channels
        remaining = len(channels)
        metrics = self.metrics
        push = self._push
        timers = self.timers
        timeout = self.buffer_timeout
        channel_marks = [MIN_WATERMARK] * len(channels)
        idle = [False] * len(channels)
        ended = [False] * len(channels)
        align = _Alignment(len(channels), self.exactly_once)
        replay = align.replay
        last_flush = time.monotonic()
        while remaining:
            if replay:
                idx, item, timestamps = replay.popleft()
            else:
                try:
                    idx, item, timestamps = q.get_nowait()
                except Exception:  # queue.Empty: idle, so send what we have and wait
                    self._flush_writers()
                    wait = timers.seconds_to_next()
                    if wait == 0.0:
                        timers.fire_due()
                        continue
                    started = time.perf_counter_ns()
                    try:
                        idx, item, timestamps = q.get(timeout=wait)
                    except Exception:  # timed out: a timer is due
                        metrics.idle_ns += time.perf_counter_ns() - started
                        timers.fire_due()
                        continue
                    metrics.idle_ns += time.perf_counter_ns() - started
                    last_flush = time.monotonic()
                if idx >= 0 and align.blocked[idx]:
                    align.hold(idx, item, timestamps)
                    continue
            kind = type(item)
            if kind is bytes:  # a remote buffer; its decoder travels in the third slot
                channels[idx].return_credit()
                if align.active:
                    align.processed += len(item)
                item, timestamps = timestamps(item)
                metrics.read_records += len(item)
                push(0, item, timestamps)
            elif kind is list:  # a local buffer
                channels[idx].return_credit()
                metrics.read_records += len(item)
                push(0, item, timestamps)
            elif kind is Watermark:
                if item.timestamp > channel_marks[idx]:
                    channel_marks[idx] = item.timestamp
                    self._advance_input_watermark(channel_marks, idle, ended)
                continue
            elif kind is CheckpointBarrier:
                if align.on_barrier(idx, item, ended):
                    self._checkpoint_aligned(align)
                continue
            elif kind is _CheckpointNotification:
                self._notify_operators(item.checkpoint_id, item.complete)
                continue
            elif kind is WatermarkStatus:
                idle[idx] = item.idle
                self._advance_input_watermark(channel_marks, idle, ended)
                continue
            elif item is _CANCEL:
                raise TaskCancelled()
            elif kind is EndOfPartition:
                remaining -= 1
                ended[idx] = True
                if align.active and align.complete(ended):
                    self._checkpoint_aligned(align)
                continue
            elif kind is ChannelError:
                raise ConnectionError(item.message)
            else:
                raise TypeError(f"unexpected input {item!r}")
            now = time.monotonic()
            if now - last_flush > timeout:
                self._flush_writers()
                last_flush = now
            if timers.seconds_to_next() == 0.0:
                timers.fire_due()

    def _checkpoint_aligned(self, align: _Alignment) -> None:
        """Every input delivered the barrier: snapshot, pass the barrier on, unblock."""
        barrier = align.barrier
        self.checkpointer.checkpoint(
            barrier.checkpoint_id, barrier.directory, align.barrier_timestamp,
            alignment_ns=time.perf_counter_ns() - align.started_ns,
            alignment_buffered=align.buffered, processed_data=align.processed)
        for w in self.all_writers:
            w.broadcast_event(barrier)
        align.finish()

    def _advance_input_watermark(self, marks: list[int], idle: list[bool],
                                 ended: list[bool]) -> None:
        """The task's input watermark: the minimum over active channels (Flink's
        StatusWatermarkValve); ended channels count as MAX."""
        active = [m for m, i, e in zip(marks, idle, ended, strict=True) if not i and not e]
        if not active:
            return
        combined = min(active)
        if combined > self.metrics.input_watermark:
            self.metrics.input_watermark = combined
            self._push_watermark(combined)

    # -- teardown -----------------------------------------------------------------------

    def _teardown(self) -> None:
        if self.metric_group is not None:
            self.metric_group.close()
        for op in self.operators:
            try:
                op.close()
            except Exception:  # noqa: BLE001
                log.exception("closing operator failed")
        self.gate.close()
        if self.keyed_backend is not None:
            # Pending checkpoint writes hold pickled bytes, not the backend: safe to drop.
            try:
                self.keyed_backend.dispose()
            except Exception:  # noqa: BLE001
                log.exception("disposing the keyed state backend failed")
        for p in self.partitions:
            self.registry.unregister(p.partition_id)
            if self.cancelled.is_set() or any(not sp.closed for sp in p.subpartitions):
                p.release()

    def _collect_io(self) -> None:
        m = self.metrics
        m.write_records = sum(w.records_out for w in self.all_writers)
        m.write_bytes = sum(w.bytes_out for w in self.all_writers)
        m.read_bytes = self.gate.bytes_received
        m.back_pressured_ns = sum(p.back_pressured_ns for p in self.partitions)

    def io_snapshot(self) -> dict:
        """Current I/O counters (called from other threads)."""
        self._collect_io()
        m = self.metrics
        return {"read_bytes": m.read_bytes, "write_bytes": m.write_bytes,
                "read_records": m.read_records, "write_records": m.write_records}


class _Alignment:
    """Barrier alignment of an input task (Flink's CheckpointBarrierAligner/Tracker).

    EXACTLY_ONCE: a channel that delivered the barrier is blocked (its buffers are held
    back, and their credits with them) until every channel has; AT_LEAST_ONCE: nothing is
    blocked, the snapshot is taken when the last barrier arrives."""

    def __init__(self, channels: int, exactly_once: bool) -> None:
        self.channels = channels
        self.exactly_once = exactly_once
        self.blocked = [False] * channels
        self.seen = [False] * channels
        self.held: list[list] = [[] for _ in range(channels)]
        self.replay: collections.deque = collections.deque()
        self.barrier: CheckpointBarrier | None = None
        self.last_completed = -1
        self.started_ns = 0
        self.barrier_timestamp = 0
        self.buffered = 0
        self.processed = 0

    @property
    def active(self) -> bool:
        return self.barrier is not None

    def on_barrier(self, idx: int, barrier: CheckpointBarrier, ended: list[bool]) -> bool:
        """Record a barrier; True when alignment is complete."""
        cid = barrier.checkpoint_id
        if cid <= self.last_completed:
            return False  # late barrier of a checkpoint this task already took
        if self.barrier is None or cid > self.barrier.checkpoint_id:
            if self.barrier is not None:
                self.finish(completed=False)  # a newer checkpoint overtakes the old one
            self.barrier = barrier
            self.started_ns = time.perf_counter_ns()
            self.barrier_timestamp = _now_ms()
            self.buffered = self.processed = 0
        elif cid < self.barrier.checkpoint_id:
            return False
        self.seen[idx] = True
        if self.exactly_once:
            self.blocked[idx] = True
        return self.complete(ended)

    def complete(self, ended: list[bool]) -> bool:
        """Whether every channel delivered the barrier or ended."""
        return all(s or e for s, e in zip(self.seen, ended, strict=True))

    def hold(self, idx: int, item, timestamps) -> None:
        """Keep a buffer of a blocked channel until the alignment completes."""
        if type(item) is bytes:
            self.buffered += len(item)
        self.held[idx].append((idx, item, timestamps))

    def finish(self, completed: bool = True) -> None:
        """Unblock every channel; held buffers are processed next, in arrival order."""
        if completed and self.barrier is not None:
            self.last_completed = self.barrier.checkpoint_id
        for i in range(self.channels):
            self.blocked[i] = False
            self.seen[i] = False
            if self.held[i]:
                self.replay.extend(self.held[i])
                self.held[i] = []
        self.barrier = None


class _SourceOutput:
    """Buffers a source's records and pushes batches through the chain.

    The batch size adapts to the chain's speed: a batch that takes longer than
    ``SLOW_BATCH`` seconds to push halves it, a fast one doubles it back (up to the
    network batch size). Checkpoint barriers and the buffer timeout wait for at most one
    batch, so a slow chain keeps them prompt and a fast one keeps its throughput."""

    SLOW_BATCH = 0.05
    FAST_BATCH = 0.01
    #: What a slow batch is resized to take.
    TARGET_BATCH = 0.02
    #: First batch size: small, so a slow chain is noticed after a few records.
    INITIAL_BATCH = 32

    def __init__(self, task: Task) -> None:
        self.task = task
        self.buffer: list = []
        self.ts_buffer: list | None = None
        self.max_batch = task.batch_size
        self.batch_size = min(self.INITIAL_BATCH, task.batch_size)
        self.lock = task._lock
        self.last_flush = time.monotonic()
        self.stopped = False
        self.error: BaseException | None = None

    @property
    def cancelled(self) -> bool:
        return self.task.cancelled.is_set()

    def collect(self, value) -> None:
        with self.lock:
            if self.task._stop_requested is not None:
                raise _SourceStopped()
            if self.ts_buffer is not None:
                self.flush()
            self.buffer.append(value)
            if len(self.buffer) >= self.batch_size:
                self.flush()

    def collect_with_timestamp(self, value, timestamp: int) -> None:
        with self.lock:
            if self.ts_buffer is None:
                self.flush()
                self.ts_buffer = []
            self.buffer.append(value)
            self.ts_buffer.append(timestamp)
            if len(self.buffer) >= self.batch_size:
                self.flush()

    def collect_batch(self, values: list, timestamps: list | None = None) -> None:
        with self.lock:
            self.flush()  # raises _SourceStopped after stop-with-savepoint
            if len(values) <= self.batch_size:
                if values:
                    self._emit(values, timestamps)
                return
        i = 0
        while i < len(values):  # chunks, releasing the lock between them
            with self.lock:
                if self.task._stop_requested is not None:
                    raise _SourceStopped()
                end = i + self.batch_size
                self._emit(values[i:end], None if timestamps is None else timestamps[i:end])
                i = end

    def _emit(self, values: list, timestamps: list | None) -> None:
        """Push a batch through the chain and adapt the batch size (lock held)."""
        start = time.perf_counter()
        self.task.metrics.operator_records_out[0] += len(values)
        self.task._push(1, values, timestamps)
        elapsed = time.perf_counter() - start
        if elapsed > self.SLOW_BATCH and self.batch_size > 1:
            self.batch_size = max(1, min(self.batch_size // 2,
                                         int(len(values) * self.TARGET_BATCH / elapsed)))
        elif elapsed < self.FAST_BATCH and len(values) >= self.batch_size \
                and self.batch_size < self.max_batch:
            self.batch_size = min(self.max_batch, self.batch_size * 2)
        if self.error is not None:
            raise self.error
        if self.task.cancelled.is_set():
            raise TaskCancelled()

    def emit_watermark(self, timestamp: int) -> None:
        with self.lock:
            self.flush()
            self.task.metrics.input_watermark = max(self.task.metrics.input_watermark,
                                                    timestamp)
            self.task._push_watermark(timestamp, start=1)

    def mark_idle(self) -> None:
        with self.lock:
            self.flush()
            for w in self.task.all_writers:
                w.broadcast_event(WatermarkStatus(idle=True))

    def flush(self) -> None:
        """Push buffered records through the chain (caller holds the lock)."""
        if self.task._stop_requested is not None:
            self.buffer = []  # after the final savepoint nothing more is emitted
            raise _SourceStopped()
        if self.buffer:
            values, ts = self.buffer, self.ts_buffer
            self.buffer = []
            self.ts_buffer = None if ts is None else []
            self._emit(values, ts)
        self.last_flush = time.monotonic()
        if self.error is not None:
            raise self.error
        if self.task.cancelled.is_set():
            raise TaskCancelled()

    def flush_periodically(self) -> None:
        """The source task's timer thread: honours the buffer timeout for slow sources
        and fires processing-time timers, both under the checkpoint lock."""
        timeout = self.task.buffer_timeout
        timers = self.task.timers
        while not self.stopped and not self.task.cancelled.is_set():
            wait = timers.seconds_to_next()
            time.sleep(timeout if wait is None else min(timeout, wait))
            flush_due = time.monotonic() - self.last_flush >= timeout
            timers_due = timers.seconds_to_next() == 0.0
            if self.stopped or not (flush_due or timers_due):
                continue
            try:
                with self.lock:
                    if self.stopped:
                        return
                    if timers_due:
                        timers.fire_due()
                    if flush_due:
                        self.flush()
                        self.task._flush_writers()
            except TaskCancelled:
                return
            except BaseException as exc:  # noqa: BLE001 - surfaces in the task thread
                self.error = exc
                source = self.task._source
                if source is not None:
                    source.cancel()
                return
