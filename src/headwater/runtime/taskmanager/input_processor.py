"""The input side of a task: the loop that reads its input gate (Flink's
``StreamInputProcessor`` running in the mailbox thread), checkpoint barrier alignment
and the watermark valve.

The task thread takes items off the gate's queue: buffers (run through the chain),
channel events (watermarks, watermark status, barriers, end of partition, channel
errors) and mails from other threads (see :mod:`headwater.runtime.taskmanager.mailbox`).
When the queue is empty it flushes the writers and sleeps until the next item or the
next processing-time timer, whichever comes first. Everything here runs in that one
thread; :class:`BarrierAligner` and :class:`StatusWatermarkValve` are plain state
machines without threads of their own.
"""

from __future__ import annotations

import collections
import logging
import queue
import time
from collections.abc import Callable

from headwater.clock import now_ms
from headwater.runtime.network.buffers import Buffer, ChannelEvent, QueueItem, SerializedBuffer
from headwater.runtime.network.events import (
    MIN_WATERMARK,
    CheckpointBarrier,
    EndOfPartition,
    Watermark,
    WatermarkStatus,
)
from headwater.runtime.network.input_gate import InputGate
from headwater.runtime.taskmanager.checkpointing import SubtaskCheckpointer
from headwater.runtime.taskmanager.io_counters import TaskMetrics
from headwater.runtime.taskmanager.mailbox import Mail
from headwater.runtime.taskmanager.operator_chain import OperatorChain
from headwater.runtime.taskmanager.timers import ProcessingTimeService

log = logging.getLogger(__name__)


class BarrierAligner:
    """Checkpoint barrier alignment over the input channels (Flink's
    ``CheckpointBarrierAligner`` / ``CheckpointBarrierTracker``).

    EXACTLY_ONCE: a channel that delivered the barrier is blocked (the task holds its
    buffers back, and their credits with them) until every channel has delivered it or
    ended; AT_LEAST_ONCE: nothing is blocked, the snapshot is taken when the last barrier
    arrives. A barrier of a newer checkpoint aborts the alignment in progress."""

    def __init__(self, channels: int, exactly_once: bool,
                 clock_ns: Callable[[], int] = time.perf_counter_ns,
                 wall_clock_ms: Callable[[], int] = now_ms) -> None:
        self.channels = channels
        self.exactly_once = exactly_once
        self.blocked = [False] * channels
        self.seen = [False] * channels
        self.ended = [False] * channels
        self.held: list[list[QueueItem]] = [[] for _ in range(channels)]
        #: Items of unblocked channels, to be processed before anything new.
        self.replay: collections.deque[QueueItem] = collections.deque()
        self.barrier: CheckpointBarrier | None = None
        self.last_completed = -1
        self.started_ns = 0
        self.barrier_timestamp = 0
        #: Bytes held back (buffered) and processed during the current alignment.
        self.buffered = 0
        self.processed = 0
        self._clock_ns = clock_ns
        self._wall_clock_ms = wall_clock_ms

    @property
    def active(self) -> bool:
        """Whether an alignment is in progress."""
        return self.barrier is not None

    def on_barrier(self, idx: int, barrier: CheckpointBarrier) -> bool:
        """Record channel ``idx``'s barrier; True when the alignment is complete."""
        cid = barrier.checkpoint_id
        if cid <= self.last_completed:
            return False  # late barrier of a checkpoint this task already took
        if self.barrier is None or cid > self.barrier.checkpoint_id:
            if self.barrier is not None:
                self.abort()  # a newer checkpoint overtakes the old one
            self.barrier = barrier
            self.started_ns = self._clock_ns()
            self.barrier_timestamp = self._wall_clock_ms()
            self.buffered = self.processed = 0
        elif cid < self.barrier.checkpoint_id:
            return False
        self.seen[idx] = True
        if self.exactly_once:
            self.blocked[idx] = True
        return self.complete()

    def on_end_of_partition(self, idx: int) -> bool:
        """Channel ``idx`` ended; True when that completes the alignment in progress."""
        self.ended[idx] = True
        return self.barrier is not None and self.complete()

    def complete(self) -> bool:
        """Whether every channel delivered the barrier or ended."""
        return all(s or e for s, e in zip(self.seen, self.ended, strict=True))

    def hold(self, item: QueueItem) -> None:
        """Keep an item of a blocked channel until the alignment ends."""
        if isinstance(item, SerializedBuffer):
            self.buffered += len(item.data)
        self.held[item.channel].append(item)

    def finish(self) -> CheckpointBarrier:
        """The alignment completed: unblock every channel (held items are processed next,
        in arrival order) and return the barrier."""
        barrier = self.barrier
        assert barrier is not None, "no alignment in progress"
        self.last_completed = barrier.checkpoint_id
        self._release()
        return barrier

    def abort(self) -> None:
        """Give up the alignment in progress (a newer checkpoint overtook it)."""
        self._release()

    def _release(self) -> None:
        for i in range(self.channels):
            self.blocked[i] = False
            self.seen[i] = False
            if self.held[i]:
                self.replay.extend(self.held[i])
                self.held[i] = []
        self.barrier = None


class StatusWatermarkValve:
    """The task's input watermark from its channels' watermarks (Flink's
    ``StatusWatermarkValve``): the minimum over the channels that are neither idle nor
    ended; it never goes back, and while every channel is idle (or ended) it stays."""

    def __init__(self, channels: int) -> None:
        self.marks = [MIN_WATERMARK] * channels
        self.idle = [False] * channels
        self.ended = [False] * channels
        #: The last watermark the valve let through.
        self.current = MIN_WATERMARK

    def input_watermark(self, idx: int, timestamp: int) -> int | None:
        """Channel ``idx`` advanced to ``timestamp``; the new input watermark or None."""
        if timestamp <= self.marks[idx]:
            return None
        self.marks[idx] = timestamp
        return self._advance()

    def input_status(self, idx: int, idle: bool) -> int | None:
        """Channel ``idx`` became idle or active; the new input watermark or None."""
        self.idle[idx] = idle
        return self._advance()

    def end_of_partition(self, idx: int) -> None:
        """Channel ``idx`` ended: it no longer holds the minimum back."""
        self.ended[idx] = True

    def _advance(self) -> int | None:
        active = [m for m, i, e in zip(self.marks, self.idle, self.ended, strict=True)
                  if not i and not e]
        if not active:
            return None
        combined = min(active)
        if combined <= self.current:
            return None
        self.current = combined
        return combined


class InputProcessor:
    """Runs an input task: reads the gate until every channel has ended.

    When the last barrier before the end was a savepoint's (stop-with-savepoint), the
    task waits (running mails) until it was told that the savepoint completed or was
    aborted, at most ``SAVEPOINT_NOTICE_TIMEOUT`` seconds, so that two-phase-commit sinks
    commit the savepoint's transaction (Flink's synchronous savepoint)."""

    SAVEPOINT_NOTICE_TIMEOUT = 30.0

    def __init__(self, gate: InputGate, chain: OperatorChain, timers: ProcessingTimeService,
                 metrics: TaskMetrics, checkpointer: SubtaskCheckpointer, exactly_once: bool,
                 buffer_timeout: float, notified: set[int] | None = None) -> None:
        self.gate = gate
        #: Checkpoint ids the chain was notified of (filled by the task's mails).
        self.notified = notified if notified is not None else set()
        #: The savepoint of the last aligned barrier (None: it was a checkpoint's).
        self.last_savepoint: int | None = None
        self.chain = chain
        self.timers = timers
        self.metrics = metrics
        self.checkpointer = checkpointer
        self.buffer_timeout = buffer_timeout
        n = len(gate.channels)
        self.aligner = BarrierAligner(n, exactly_once)
        self.valve = StatusWatermarkValve(n)

    def run(self) -> None:
        """Process input until every channel ended (raises TaskCancelled on cancel)."""
        q = self.gate.queue
        get_nowait = q.get_nowait
        empty = queue.Empty
        channels = self.gate.channels
        remaining = len(channels)
        metrics = self.metrics
        push = self.chain.push
        flush = self.chain.flush
        timers = self.timers
        timeout = self.buffer_timeout
        align = self.aligner
        blocked = align.blocked
        replay = align.replay
        last_flush = time.monotonic()
        item: QueueItem
        while remaining:
            if replay:
                item = replay.popleft()
            else:
                try:
                    item = get_nowait()
                except empty:  # idle: send what we have and wait
                    flush()
                    wait = timers.seconds_to_next()
                    if wait == 0.0:
                        timers.fire_due()
                        continue
                    started = time.perf_counter_ns()
                    try:
                        item = q.get(timeout=wait)
                    except empty:  # timed out: a timer is due
                        metrics.idle_ns += time.perf_counter_ns() - started
                        timers.fire_due()
                        continue
                    metrics.idle_ns += time.perf_counter_ns() - started
                    last_flush = time.monotonic()
                idx = item.channel
                if idx >= 0 and blocked[idx]:
                    align.hold(item)
                    continue
            if isinstance(item, Buffer):  # from a producer in this process
                channels[item.channel].return_credit()
                metrics.read_records += len(item.values)
                push(0, item.values, item.timestamps)
            elif isinstance(item, SerializedBuffer):  # from a socket
                channels[item.channel].return_credit()
                if align.barrier is not None:
                    align.processed += len(item.data)
                values, timestamps = item.decode(item.data)
                metrics.read_records += len(values)
                push(0, values, timestamps)
            elif isinstance(item, ChannelEvent):
                if self._on_event(item):
                    remaining -= 1
                continue
            elif isinstance(item, Mail):
                item.action()
                continue
            else:
                raise TypeError(f"unexpected input {item!r}")
            now = time.monotonic()
            if now - last_flush > timeout:
                flush()
                last_flush = now
            if timers.seconds_to_next() == 0.0:
                timers.fire_due()
        self._await_savepoint_notice()

    def _await_savepoint_notice(self) -> None:
        """Run mails until the last savepoint's completion or abort was notified."""
        savepoint = self.last_savepoint
        if savepoint is None:
            return
        q = self.gate.queue
        deadline = time.monotonic() + self.SAVEPOINT_NOTICE_TIMEOUT
        while savepoint not in self.notified:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("no notification of savepoint %d; finishing", savepoint)
                return
            try:
                item = q.get(timeout=min(left, 0.1))
            except queue.Empty:
                continue
            if isinstance(item, Mail):
                item.action()

    def _on_event(self, item: ChannelEvent) -> bool:
        """Handle a channel event; True when the channel ended."""
        event = item.event
        idx = item.channel
        if isinstance(event, Watermark):
            self._advance(self.valve.input_watermark(idx, event.timestamp))
        elif isinstance(event, CheckpointBarrier):
            if self.aligner.on_barrier(idx, event):
                self._checkpoint_aligned()
        elif isinstance(event, WatermarkStatus):
            self._advance(self.valve.input_status(idx, event.idle))
        elif isinstance(event, EndOfPartition):
            self.valve.end_of_partition(idx)
            if self.aligner.on_end_of_partition(idx):
                self._checkpoint_aligned()
            return True
        else:  # a ChannelError: the producer or its TaskManager is gone
            raise ConnectionError(event.message)
        return False

    def _advance(self, watermark: int | None) -> None:
        if watermark is not None:
            self.metrics.input_watermark = watermark
            self.chain.push_watermark(watermark)

    def _checkpoint_aligned(self) -> None:
        """Every input delivered the barrier: snapshot, pass the barrier on, unblock."""
        align = self.aligner
        barrier = align.barrier
        assert barrier is not None
        self.checkpointer.checkpoint(
            barrier.checkpoint_id, barrier.directory, align.barrier_timestamp,
            alignment_ns=time.perf_counter_ns() - align.started_ns,
            alignment_buffered=align.buffered, processed_data=align.processed)
        self.chain.broadcast_event(barrier)
        self.last_savepoint = barrier.checkpoint_id if barrier.is_savepoint else None
        align.finish()
