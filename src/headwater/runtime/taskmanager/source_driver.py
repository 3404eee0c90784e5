"""Running a source task: the source thread, the checkpoint lock and the mailbox.

The concurrency model is Flink's for legacy ``SourceFunction`` sources
(``SourceStreamTask`` with its ``LegacySourceFunctionThread``), the same mailbox model as
input tasks with one addition:

* The task thread owns the task. It runs the mailbox loop (:meth:`SourceDriver.run`):
  mails from other threads (trigger checkpoint, checkpoint complete/aborted, cancel,
  "the source ended") and, on its own clock, processing-time timers and the buffer
  timeout. Other threads never call into the chain; they post mails.
* The source's ``run`` gets a thread of its own, the *source thread*, because a user
  source is a loop the task cannot interrupt: it may sleep, block on I/O or wait for
  records for any time, and checkpoints (and timers) must not wait for it. The source
  emits records through :class:`SourceOutput`, which pushes them down the chain in the
  source thread while holding the *checkpoint lock*.
* The checkpoint lock is the one lock of a source task, and only these two threads take
  it: the source thread around each emitted batch (and, in the source's own code, around
  changes of the state it snapshots: ``SourceContext.get_checkpoint_lock()``, the
  built-in sources' ``with lock``), and the task thread around every mail and timer. So
  the chain and the source's state are only ever touched by the thread holding the lock:
  a busy source yields the lock between two batches (``ChunkSizer.pause``), an idle one
  (sleeping outside the lock) does not hold it at all, and either way a checkpoint
  snapshots a source that stands between two records.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from headwater.clock import now_ms
from headwater.runtime.network.arrow_ipc import Batches, is_arrow_batch
from headwater.runtime.network.buffers import QueueItem
from headwater.runtime.network.events import MAX_WATERMARK, CheckpointBarrier
from headwater.runtime.network.partition import TaskCancelled
from headwater.runtime.operators.base import SourceOperator
from headwater.runtime.rpc.messages import TriggerCheckpoint
from headwater.runtime.taskmanager.checkpointing import SubtaskCheckpointer
from headwater.runtime.taskmanager.io_counters import TaskMetrics
from headwater.runtime.taskmanager.mailbox import Mail, Mailbox
from headwater.runtime.taskmanager.operator_chain import OperatorChain
from headwater.runtime.taskmanager.timers import ProcessingTimeService

log = logging.getLogger(__name__)


class SourceStopped(Exception):
    """Unwinds a source after stop-with-savepoint took its final savepoint."""


class SourceOutput:
    """What the source writes to: buffers its records and pushes batches down the chain
    (in the source thread, under the checkpoint lock ``lock``).

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

    def __init__(self, chain: OperatorChain, metrics: TaskMetrics, cancelled: threading.Event,
                 batch_size: int) -> None:
        self.chain = chain
        self.metrics = metrics
        self._cancelled = cancelled
        #: The checkpoint lock (reentrant: sources hold it around their own collect calls).
        self.lock = threading.RLock()
        # Bound once: collect() takes the lock per record, and acquire()/release()
        # through bound methods cost half of a ``with`` statement (~100 ns a record).
        self._acquire = self.lock.acquire
        self._release = self.lock.release
        self.buffer: list[Any] = []
        self.ts_buffer: list[int] | None = None
        self.max_batch = batch_size
        self.batch_size = min(self.INITIAL_BATCH, batch_size)
        self.last_flush = time.monotonic()
        #: Set (under the lock) by stop-with-savepoint: nothing more is emitted.
        self.stop_requested: str | None = None
        #: A failure of the task thread; the source thread raises it at its next emit.
        self.error: BaseException | None = None

    @property
    def cancelled(self) -> bool:
        """True once the task is being cancelled: the source should return."""
        return self._cancelled.is_set()

    def collect(self, value: Any) -> None:
        """Emit one record."""
        self._acquire()
        try:
            if self.stop_requested is not None:
                raise SourceStopped()
            if self.ts_buffer is not None:
                self.flush()
            self.buffer.append(value)
            if len(self.buffer) >= self.batch_size:
                self.flush()
        finally:
            self._release()

    def collect_with_timestamp(self, value: Any, timestamp: int) -> None:
        """Emit one record with an event timestamp."""
        self._acquire()
        try:
            if self.ts_buffer is None:
                self.flush()
                self.ts_buffer = []
            self.buffer.append(value)
            self.ts_buffer.append(timestamp)
            if len(self.buffer) >= self.batch_size:
                self.flush()
        finally:
            self._release()

    def collect_batch(self, values: list[Any], timestamps: list[int] | None = None) -> None:
        """Emit many records (in chunks of the batch size, releasing the lock between)."""
        with self.lock:
            self.flush()  # raises SourceStopped after stop-with-savepoint
            if len(values) <= self.batch_size:
                if values:
                    self._emit(values, timestamps)
                return
        i = 0
        while i < len(values):
            with self.lock:
                if self.stop_requested is not None:
                    raise SourceStopped()
                end = i + self.batch_size
                self._emit(values[i:end], None if timestamps is None else timestamps[i:end])
                i = end

    def _emit(self, values: list[Any], timestamps: list[int] | None) -> None:
        """Push a batch through the chain and adapt the batch size (lock held)."""
        start = time.perf_counter()
        items = len(values)
        if items and is_arrow_batch(values[0]):
            values = Batches(values)  # columnar: the counters count rows
        self.metrics.operator_records_out[0] += len(values)
        self.chain.push(1, values, timestamps)
        elapsed = time.perf_counter() - start
        if elapsed > self.SLOW_BATCH and self.batch_size > 1:
            self.batch_size = max(1, min(self.batch_size // 2,
                                         int(items * self.TARGET_BATCH / elapsed)))
        elif elapsed < self.FAST_BATCH and items >= self.batch_size \
                and self.batch_size < self.max_batch:
            self.batch_size = min(self.max_batch, self.batch_size * 2)
        if self.error is not None:
            raise self.error
        if self._cancelled.is_set():
            raise TaskCancelled()

    def emit_watermark(self, timestamp: int) -> None:
        """Event time of this source reached ``timestamp`` (an idle source becomes active
        first, as in Flink's source context)."""
        with self.lock:
            self.flush()
            if self.chain.idle:
                self.chain.emit_watermark_status(False)
            self.metrics.input_watermark = max(self.metrics.input_watermark, timestamp)
            self.chain.push_watermark(timestamp, start=1)

    def mark_idle(self) -> None:
        """Exclude this source from downstream watermark minimums until it emits."""
        with self.lock:
            self.flush()
            self.chain.emit_watermark_status(True)

    def mark_active(self) -> None:
        """This source (marked idle before) produces records again."""
        with self.lock:
            self.chain.emit_watermark_status(False)

    def flush(self) -> None:
        """Push buffered records through the chain (caller holds the lock)."""
        if self.stop_requested is not None:
            self.buffer = []  # after the final savepoint nothing more is emitted
            raise SourceStopped()
        if self.buffer:
            values, ts = self.buffer, self.ts_buffer
            self.buffer = []
            self.ts_buffer = None if ts is None else []
            self._emit(values, ts)
        self.last_flush = time.monotonic()
        if self.error is not None:
            raise self.error
        if self._cancelled.is_set():
            raise TaskCancelled()


class SourceDriver:
    """Runs a source task's mailbox loop in the task thread and its source in the
    source thread (see the module docstring)."""

    #: How long a source stopped by stop-with-savepoint waits for the savepoint's
    #: completion notification before it ends anyway (s).
    STOP_NOTIFICATION_TIMEOUT = 30.0

    def __init__(self, name: str, source: SourceOperator, chain: OperatorChain,
                 mailbox: Mailbox, items: queue.SimpleQueue[QueueItem],
                 timers: ProcessingTimeService,
                 checkpointer: SubtaskCheckpointer, output: SourceOutput,
                 buffer_timeout: float) -> None:
        self.name = name
        self.source = source
        self.chain = chain
        self.mailbox = mailbox
        self._items = items
        self.timers = timers
        self.checkpointer = checkpointer
        self.output = output
        self.buffer_timeout = buffer_timeout
        self._ended = False
        #: The stop-with-savepoint's checkpoint id, and whether its completion (or abort)
        #: was notified: the task ends only then, so that two-phase-commit sinks commit
        #: the savepoint's transaction (Flink's synchronous savepoint).
        self._stop_checkpoint: int | None = None
        self._stop_notified = False
        self._stop_deadline: float | None = None
        self._thread = threading.Thread(target=self._run_source, daemon=True,
                                        name=f"Legacy Source Thread - {name}")

    @property
    def thread(self) -> threading.Thread:
        """The source thread (it runs the source and pushes its records down the chain)."""
        return self._thread

    # -- the task thread ----------------------------------------------------------------

    def run(self) -> None:
        """Start the source thread and run mails until the source ended; then flush and
        (for a source that ran out) move event time to the end."""
        self._thread.start()
        try:
            self._run_mailbox()
        except BaseException as exc:
            if self._thread.is_alive():
                self.output.error = exc  # the source thread stops at its next emit
                self.cancel_source()
            raise
        finally:
            self._thread.join()

    def _run_mailbox(self) -> None:
        q = self._items
        lock = self.output.lock
        timers = self.timers
        timeout = self.buffer_timeout
        output = self.output
        while not self._ended:
            if output.stop_requested is not None:  # only "source ended" is still to come
                wait = timeout
            else:
                wait = max(0.0, output.last_flush + timeout - time.monotonic())
                next_timer = timers.seconds_to_next()
                if next_timer is not None:
                    wait = min(wait, next_timer)
            try:
                item = q.get(timeout=wait)
            except queue.Empty:  # the buffer timeout or a timer is due
                with lock:
                    if output.stop_requested is not None:
                        if self._stop_deadline is not None \
                                and time.monotonic() >= self._stop_deadline:
                            log.warning("%s: no notification of savepoint %s; ending",
                                        self.name, self._stop_checkpoint)
                            self._ended = True
                        continue
                    if timers.seconds_to_next() == 0.0:
                        timers.fire_due()
                    if time.monotonic() - output.last_flush >= timeout:
                        output.flush()
                        self.chain.flush()
                continue
            if not isinstance(item, Mail):
                raise TypeError(f"unexpected input {item!r} in a source task")
            with lock:
                item.action()

    def _source_ended(self, error: BaseException | None) -> None:
        """Mail from the source thread: ``run`` returned (or raised ``error``)."""
        self._ended = True
        output = self.output
        if error is not None and output.stop_requested is None:
            raise error
        if output.cancelled:
            raise TaskCancelled()
        if output.stop_requested is not None and self._stop_checkpoint is not None \
                and not self._stop_notified:
            self._ended = False  # wait for the savepoint's notification (or a timeout)
            self._stop_deadline = time.monotonic() + self.STOP_NOTIFICATION_TIMEOUT
            return
        if output.stop_requested is None:
            output.flush()
            # A bounded source that ends moves event time to the end (Flink's
            # Watermark.MAX_WATERMARK), so every pending event-time timer fires; an idle
            # source becomes active for it (OperatorChain.push_watermark).
            self.chain.push_watermark(MAX_WATERMARK, start=1)

    def cancel_source(self) -> None:
        """Ask the source to return (any thread)."""
        try:
            self.source.cancel()
        except Exception:  # noqa: BLE001 - user code
            log.exception("source cancel failed")

    # -- the source thread --------------------------------------------------------------

    def _run_source(self) -> None:
        error: BaseException | None = None
        try:
            self.source.run(self.output)
        except SourceStopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported to the task thread
            error = exc
        self.mailbox.post(Mail(functools.partial(self._source_ended, error), "source ended"))

    # -- mails from the TaskExecutor ----------------------------------------------------

    def trigger_checkpoint(self, msg: TriggerCheckpoint,
                           decline: Callable[[], None]) -> None:
        """Mail: snapshot the chain and inject the barrier (the source stands between two
        batches: the task thread holds the checkpoint lock)."""
        output = self.output
        if self._ended or output.stop_requested is not None or output.cancelled:
            decline()
            return
        try:
            output.flush()
            if msg.stop and msg.drain:
                self.chain.push_watermark(MAX_WATERMARK, start=1)
            self.checkpointer.checkpoint(msg.checkpoint_id, msg.directory, now_ms())
            barrier = CheckpointBarrier(msg.checkpoint_id, msg.timestamp, msg.directory,
                                        is_savepoint=msg.checkpoint_type != "CHECKPOINT")
            self.chain.broadcast_event(barrier)
            if msg.stop:
                self._stop_checkpoint = msg.checkpoint_id
                output.stop_requested = "drain" if msg.drain else "suspend"
                self.cancel_source()
        except (TaskCancelled, SourceStopped, OSError):
            if not (output.cancelled or output.stop_requested is not None):
                log.exception("trigger_checkpoint of %s failed", self.name)
        except Exception:  # noqa: BLE001 - as before the mailbox: a failed trigger is logged
            log.exception("trigger_checkpoint of %s failed", self.name)

    def notify_checkpoint(self, checkpoint_id: int, complete: bool) -> None:
        """Mail: a checkpoint completed or was aborted."""
        try:
            self.chain.notify_checkpoint(checkpoint_id, complete)
        except Exception:  # noqa: BLE001 - a failing notification is logged, not fatal
            log.exception("notify_checkpoint of %s failed", self.name)
        if checkpoint_id == self._stop_checkpoint:
            self._stop_notified = True
            if self._stop_deadline is not None:  # the source already ended
                self._ended = True
