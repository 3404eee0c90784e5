"""Barrier alignment, the watermark valve and the input loop, without threads."""

from __future__ import annotations

import threading
import types

import pytest

from headwater.runtime.network.buffers import Buffer, ChannelEvent, SerializedBuffer
from headwater.runtime.network.events import (
    END_OF_PARTITION,
    MIN_WATERMARK,
    CheckpointBarrier,
    Watermark,
    WatermarkStatus,
)
from headwater.runtime.network.input_gate import InputGate
from headwater.runtime.network.partition import TaskCancelled
from headwater.runtime.operators.base import StreamOperator
from headwater.runtime.taskmanager.input_processor import (
    BarrierAligner,
    InputProcessor,
    StatusWatermarkValve,
)
from headwater.runtime.taskmanager.io_counters import TaskMetrics
from headwater.runtime.taskmanager.mailbox import Mail, Mailbox
from headwater.runtime.taskmanager.operator_chain import OperatorChain
from headwater.runtime.taskmanager.timers import ProcessingTimeService


def barrier(cid: int) -> CheckpointBarrier:
    return CheckpointBarrier(cid, timestamp=cid * 1000, directory=f"/cp/{cid}")


def aligner(channels: int, exactly_once: bool = True) -> BarrierAligner:
    return BarrierAligner(channels, exactly_once, clock_ns=lambda: 0, wall_clock_ms=lambda: 7)


# -- BarrierAligner ----------------------------------------------------------------------


def test_barriers_from_every_channel_complete_the_alignment():
    a = aligner(3)
    assert not a.on_barrier(0, barrier(1))
    assert a.active and a.blocked == [True, False, False]
    assert not a.on_barrier(2, barrier(1))
    assert a.blocked == [True, False, True]
    assert a.on_barrier(1, barrier(1))
    assert a.finish() == barrier(1)
    assert not a.active and a.blocked == [False] * 3 and a.last_completed == 1
    assert a.barrier_timestamp == 7


def test_blocked_channels_buffer_until_the_alignment_completes():
    a = aligner(2)
    a.on_barrier(0, barrier(1))
    first = Buffer(0, [1, 2], None)
    second = SerializedBuffer(0, b"abcd", lambda data: ([], None))
    a.hold(first)
    a.hold(second)
    assert a.buffered == 4 and not a.replay
    assert a.on_barrier(1, barrier(1))
    a.finish()
    assert list(a.replay) == [first, second]  # in arrival order


def test_at_least_once_blocks_nothing():
    a = aligner(2, exactly_once=False)
    assert not a.on_barrier(0, barrier(1))
    assert a.blocked == [False, False]
    assert a.on_barrier(1, barrier(1))


def test_a_newer_barrier_aborts_the_alignment_in_progress():
    a = aligner(2)
    a.on_barrier(0, barrier(1))
    held = Buffer(0, ["x"], None)
    a.hold(held)
    assert not a.on_barrier(1, barrier(2))  # checkpoint 2 overtakes 1
    assert a.barrier == barrier(2)
    assert a.blocked == [False, True] and a.seen == [False, True]
    assert list(a.replay) == [held]  # the aborted alignment's buffers are released
    assert not a.on_barrier(0, barrier(1))  # a late barrier of the aborted checkpoint
    assert a.on_barrier(0, barrier(2))
    a.finish()
    assert a.last_completed == 2
    assert not a.on_barrier(0, barrier(2))  # late barrier of a completed checkpoint
    assert not a.active


def test_abort_unblocks_every_channel():
    a = aligner(2)
    a.on_barrier(0, barrier(1))
    a.hold(Buffer(0, [1], None))
    a.abort()
    assert not a.active and a.blocked == [False, False] and len(a.replay) == 1
    assert a.last_completed == -1


def test_ended_channels_count_as_aligned():
    a = aligner(3)
    assert not a.on_end_of_partition(2)  # no alignment in progress
    assert not a.on_barrier(0, barrier(1))
    assert a.on_end_of_partition(1)  # the last missing channel ended
    a.finish()
    assert a.on_barrier(0, barrier(2))  # channels 1 and 2 ended: one barrier suffices


# -- StatusWatermarkValve ----------------------------------------------------------------


def test_valve_emits_the_minimum_over_channels():
    v = StatusWatermarkValve(2)
    assert v.input_watermark(0, 10) is None  # channel 1 is still at Long.MIN
    assert v.input_watermark(1, 5) == 5
    assert v.input_watermark(1, 20) == 10
    assert v.input_watermark(0, 15) == 15
    assert v.input_watermark(0, 12) is None  # a channel's watermark never goes back
    assert v.current == 15


def test_idle_channels_are_ignored():
    v = StatusWatermarkValve(3)
    v.input_watermark(0, 10)
    v.input_watermark(1, 30)
    assert v.input_status(2, idle=True) == 10
    assert v.input_status(0, idle=True) == 30


def test_all_idle_holds_the_watermark():
    v = StatusWatermarkValve(2)
    v.input_watermark(0, 10)
    v.input_watermark(1, 20)
    assert v.current == 10
    assert v.input_status(0, idle=True) == 20
    assert v.input_status(1, idle=True) is None
    assert v.input_watermark(1, 50) is None  # idle: no effect on the minimum
    assert v.current == 20


def test_the_valve_never_goes_back():
    v = StatusWatermarkValve(2)
    v.input_watermark(0, 30)
    assert v.input_status(1, idle=True) == 30
    assert v.input_status(1, idle=False) is None  # channel 1 is back at Long.MIN
    assert v.input_watermark(1, 5) is None
    assert v.current == 30
    assert v.input_watermark(1, 40) is None and v.input_watermark(0, 45) == 40


def test_ended_channels_are_ignored():
    v = StatusWatermarkValve(2)
    assert v.current == MIN_WATERMARK
    v.end_of_partition(1)
    assert v.input_watermark(0, 10) == 10


# -- the input loop ----------------------------------------------------------------------


class Doubler(StreamOperator):
    """Emits each value twice; records watermarks and notifications."""

    def __init__(self) -> None:
        self.watermarks: list[int] = []
        self.completed: list[int] = []

    def process_batch(self, values, timestamps):
        return [v * 2 for v in values], timestamps

    def process_watermark(self, watermark):
        self.watermarks.append(watermark)
        return [], None

    def notify_checkpoint_complete(self, checkpoint_id):
        self.completed.append(checkpoint_id)


class Sink(StreamOperator):
    def __init__(self) -> None:
        self.seen: list = []

    def process_batch(self, values, timestamps):
        self.seen.extend(values)
        return [], None


class FakeChannel:
    def __init__(self) -> None:
        self.credits = 0

    def return_credit(self) -> None:
        self.credits += 1


def processor(channels: int):
    gate = InputGate(4, threading.Event())
    gate.channels = [FakeChannel() for _ in range(channels)]
    ops = [Doubler(), Sink()]
    metrics = TaskMetrics(len(ops))
    chain = OperatorChain(ops, [], {}, metrics)
    snapshots: list = []
    checkpointer = types.SimpleNamespace(
        checkpoint=lambda cid, directory, ts, **stats: snapshots.append(
            (cid, list(ops[1].seen), stats)))
    proc = InputProcessor(gate, chain, ProcessingTimeService(), metrics, checkpointer,
                          exactly_once=True, buffer_timeout=0.1)
    return proc, gate, ops, snapshots


def test_the_loop_aligns_barriers_and_replays_held_buffers():
    proc, gate, ops, snapshots = processor(2)
    q = gate.queue
    for item in [Buffer(0, [1], None), ChannelEvent(0, barrier(1)),
                 Buffer(0, [2], None),  # after the barrier: held back
                 Buffer(1, [3], None), ChannelEvent(1, barrier(1)),
                 ChannelEvent(0, END_OF_PARTITION), ChannelEvent(1, END_OF_PARTITION)]:
        q.put(item)
    proc.run()
    assert snapshots[0][:2] == (1, [2, 6])  # the snapshot precedes the held buffer
    assert ops[1].seen == [2, 6, 4]
    assert gate.channels[0].credits == 2 and gate.channels[1].credits == 1
    assert proc.metrics.read_records == 3


def test_the_loop_runs_mails_and_advances_the_watermark():
    proc, gate, ops, _ = processor(2)
    mailbox = Mailbox(gate.queue)
    q = gate.queue
    q.put(ChannelEvent(0, Watermark(10)))
    q.put(ChannelEvent(1, WatermarkStatus(idle=True)))
    mailbox.post(Mail(lambda: proc.chain.notify_checkpoint(3, True), "notify"))
    q.put(ChannelEvent(0, END_OF_PARTITION))
    q.put(ChannelEvent(1, END_OF_PARTITION))
    proc.run()
    assert ops[0].watermarks == [10] and proc.metrics.input_watermark == 10
    assert ops[0].completed == [3]


def test_a_cancel_mail_stops_the_loop_and_late_mails_are_rejected():
    proc, gate, _, _ = processor(1)
    mailbox = Mailbox(gate.queue)
    mailbox.post_cancel()
    with pytest.raises(TaskCancelled):
        proc.run()
    rejected: list[str] = []
    left = Mail(lambda: None, "left", reject=lambda: rejected.append("left"))
    mailbox.post(left)
    assert mailbox.close() == [left] and rejected == ["left"]
    assert not mailbox.post(Mail(lambda: None, "late", reject=lambda: rejected.append("late")))
    assert rejected == ["left", "late"]


class FlatPairs(StreamOperator):
    """flat_map(lambda line: [(w, 1) for w in line.split()]): fresh records per batch."""

    def process_batch(self, values, timestamps):
        return [(w, 1) for line in values for w in line.split()], None


def test_the_chain_hands_its_tail_batch_to_a_single_writer():
    # the records a HASH writer sends are referred to from their channel list only (the
    # chain and the writer drop the tail's batch), so marshal needs no back-references
    import marshal
    import operator
    import queue
    import sys

    from headwater.runtime.network import partition as partition_module
    from headwater.runtime.network.partition import ResultPartition
    from headwater.runtime.network.record_writer import RecordWriter

    part = ResultPartition("p", 2, threading.Event())
    gate: queue.SimpleQueue = queue.SimpleQueue()
    for i, sub in enumerate(part.subpartitions):
        sub.attach_local(gate, i, credits=100)
    writer = RecordWriter(part, "HASH", batch_size=10, key_selector=operator.itemgetter(0),
                          max_parallelism=128)
    refs: list[int] = []
    sizes: list[tuple[int, int]] = []
    send = partition_module.Subpartition.send_batch

    def spy(self, values, timestamps):
        refs.extend(sys.getrefcount(v) for v in values)  # the list, the loop, the call
        fresh = [(w, n) for w, n in values]
        sizes.append((len(marshal.dumps((values, timestamps), 4)),
                      len(marshal.dumps((fresh, timestamps), 4))))
        return send(self, values, timestamps)

    chain = OperatorChain([FlatPairs()], [writer], {}, TaskMetrics(1))
    partition_module.Subpartition.send_batch = spy  # type: ignore[method-assign]
    try:
        chain.push(0, [" ".join(f"w{i % 7}" for i in range(j, j + 10)) for j in range(20)],
                   None)
    finally:
        partition_module.Subpartition.send_batch = send  # type: ignore[method-assign]
    assert refs and max(refs) == 3
    assert all(mine == fresh for mine, fresh in sizes)
    received = []
    while not gate.empty():
        received.extend(gate.get().values)
    assert len(received) == 200
