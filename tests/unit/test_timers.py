"""Keyed timers: the timer service, KeyedProcessFunction timers end to end on the
operator, side outputs of process functions, snapshots."""

from __future__ import annotations

import pytest

from headwater.api import (
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    TimeDomain,
    ValueStateDescriptor,
)
from headwater.runtime.operators.keyed import KeyedProcessOperator
from headwater.runtime.operators.simple import ProcessOperator
from headwater.runtime.operators.timer_service import TIMERS_STATE, KeyedTimerService
from headwater.testing import KeyedOneInputStreamOperatorTestHarness as Harness
from headwater.testing import ManualProcessingTimeService as ManualClock

MAX = 2**63 - 1


def key0(r):
    return r[0]


# -- the timer service --------------------------------------------------------------------


def service(clock=None):
    fired = []
    timers = KeyedTimerService(lambda k, ns, t: fired.append(("event", k, ns, t)),
                               lambda k, ns, t: fired.append(("proc", k, ns, t)), clock)
    return timers, fired


def test_event_timers_fire_in_time_order_and_deduplicate():
    timers, fired = service()
    for key, ts in [("a", 30), ("b", 10), ("a", 20), ("a", 30), ("b", 10), ("c", 20)]:
        timers.register_event_time_timer(key, None, ts)
    assert timers.num_timers() == 4
    timers.advance_watermark(19)
    assert fired == [("event", "b", None, 10)]
    timers.advance_watermark(MAX)
    assert fired[1:] == [("event", "a", None, 20), ("event", "c", None, 20),
                         ("event", "a", None, 30)]
    assert timers.current_watermark == MAX


def test_namespaces_are_separate_timers_and_deletion_works():
    timers, fired = service()
    timers.register_event_time_timer("a", "w1", 5)
    timers.register_event_time_timer("a", "w2", 5)
    timers.register_event_time_timer("a", "w3", 6)
    timers.delete_event_time_timer("a", "w3", 6)
    timers.delete_event_time_timer("a", "nope", 6)  # absent: no-op
    timers.advance_watermark(10)
    assert fired == [("event", "a", "w1", 5), ("event", "a", "w2", 5)]


def test_re_registering_a_deleted_timer_fires_it_once():
    timers, fired = service()
    timers.register_event_time_timer("a", None, 5)
    timers.delete_event_time_timer("a", None, 5)
    timers.register_event_time_timer("a", None, 5)
    timers.advance_watermark(10)
    assert fired == [("event", "a", None, 5)]


def test_timers_registered_while_firing_fire_in_the_same_advance():
    fired = []

    def on_event(key, ns, ts):
        fired.append(ts)
        if ts < 5:
            timers.register_event_time_timer(key, ns, ts + 1)

    timers = KeyedTimerService(on_event, None)
    timers.register_event_time_timer("a", None, 1)
    timers.advance_watermark(4)
    assert fired == [1, 2, 3, 4]


def test_processing_timers_use_the_task_service_once_per_timestamp():
    clock = ManualClock(0)
    timers, fired = service(clock)
    timers.register_processing_time_timer("a", None, 10)
    timers.register_processing_time_timer("b", None, 10)
    timers.register_processing_time_timer("a", None, 10)
    timers.register_processing_time_timer("a", None, 5)
    timers.delete_processing_time_timer("b", None, 10)
    assert clock.pending() == [5, 10]
    clock.advance(7)
    assert fired == [("proc", "a", None, 5)]
    clock.advance(10)
    assert fired[1:] == [("proc", "a", None, 10)]
    assert timers.num_timers() == 0


def test_snapshot_by_key_group_and_restore_own_groups():
    from headwater.runtime.state.key_groups import (
        assign_to_key_group,
        key_group_range_for_operator,
    )

    timers, _ = service(ManualClock())
    for i in range(50):
        timers.register_event_time_timer(f"k{i}", None, i)
        timers.register_processing_time_timer(f"k{i}", "ns", 1000 + i)
    snap = timers.snapshot(128)
    assert all(assign_to_key_group(k, 128) == kg
               for kg, per in snap.items() for k, _, _ in per["event"])
    restored = 0
    for subtask in range(2):
        other, fired = service(ManualClock())
        other.restore(snap, key_group_range_for_operator(128, 2, subtask))
        restored += other.num_timers()
        other.advance_watermark(MAX)
        assert all(assign_to_key_group(k, 128) in key_group_range_for_operator(128, 2, subtask)
                   for _, k, _, _ in fired)
    assert restored == 100


# -- KeyedProcessFunction -----------------------------------------------------------------


class Timeouts(KeyedProcessFunction):
    """Counts per key; an event-time timer 10 ms after each record and a processing-time
    timer 100 ms after the first."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))

    def process_element(self, value, ctx):
        self.count.update((self.count.value() or 0) + 1)
        ts = ctx.timer_service()
        ts.register_event_time_timer(ctx.timestamp() + 10)
        if value[1] == "cancel":
            ts.delete_event_time_timer(ctx.timestamp() + 10)
        if self.count.value() == 1:
            ts.register_processing_time_timer(ts.current_processing_time() + 100)
        yield value

    def on_timer(self, timestamp, ctx):
        yield (ctx.get_current_key(), timestamp, ctx.timestamp(), ctx.time_domain(),
               self.count.value(), ctx.timer_service().current_watermark())


def test_keyed_process_event_time_timers():
    h = Harness(KeyedProcessOperator(Timeouts(), key0), processing_time=1000)
    out = h.process_batch([("a", 1), ("b", 2), ("a", 3), ("a", "cancel")], [5, 1, 5, 7])
    assert out == ([("a", 1), ("b", 2), ("a", 3), ("a", "cancel")], [5, 1, 5, 7])
    assert h.process_watermark(11) == ([("b", 11, 11, TimeDomain.EVENT_TIME, 1, 11)], [11])
    assert h.process_watermark(100) == ([("a", 15, 15, TimeDomain.EVENT_TIME, 3, 100)], [15])
    assert h.process_watermark(MAX) == ([], None)  # the 17 timer was deleted


def test_keyed_process_processing_time_timers_emit_through_emit_records():
    h = Harness(KeyedProcessOperator(Timeouts(), key0), processing_time=1000)
    h.process_batch([("a", 1), ("b", 2)], [5, 1])
    h.process_watermark(3)
    h.set_processing_time(1099)
    assert h.timer_output == []
    h.set_processing_time(1100)
    assert h.timer_output == [("a", 1100, 1100, TimeDomain.PROCESSING_TIME, 1, 3),
                         ("b", 1100, 1100, TimeDomain.PROCESSING_TIME, 1, 3)]
    # Flink erases timestamps of processing-time output
    assert h.timer_output_timestamps == [None, None]


def test_keyed_process_timer_snapshot_restore():
    h = Harness(KeyedProcessOperator(Timeouts(), key0), processing_time=1000)
    h.process_batch([("a", 1), ("b", 2)], [5, 1])
    timers, state = h.operator.snapshot_timers(), h.operator.backend.snapshot()
    fresh = Harness(KeyedProcessOperator(Timeouts(), key0), processing_time=1000)
    fresh.operator.backend.restore(state)
    fresh.operator.restore_timers(timers)
    assert sorted(fresh.process_watermark(MAX)[0]) == [
        ("a", 15, 15, TimeDomain.EVENT_TIME, 1, MAX), ("b", 11, 11, TimeDomain.EVENT_TIME, 1, MAX)]
    fresh.set_processing_time(1100)
    assert len(fresh.timer_output) == 2


def test_process_function_side_outputs_keyed_and_not():
    odd = OutputTag("odd")
    big = OutputTag("big")

    class Split(ProcessFunction):
        def process_element(self, value, ctx):
            if value % 2:
                yield odd, value
            if value > 5:
                yield big, (value, "big")
            yield value * 10

    h = Harness(ProcessOperator(Split()))
    assert h.process_batch([1, 2, 7, 8], [10, 20, 70, 80]) == ([10, 20, 70, 80], [10, 20, 70, 80])
    assert h.side_outputs == {"odd": [1, 7], "big": [(7, "big"), (8, "big")]}
    assert h.side_output_timestamps == {"odd": [10, 70], "big": [70, 80]}
    # tuples that are not (OutputTag, value) stay in the main output
    h = Harness(ProcessOperator(lambda v, ctx: [(v, v), ("odd", v)]))
    assert h.process_batch([1], None) == ([(1, 1), ("odd", 1)], None) and h.side_outputs == {}

    class KeyedSplit(KeyedProcessFunction):
        def process_element(self, value, ctx):
            ctx.timer_service().register_event_time_timer(ctx.timestamp())
            yield value

        def on_timer(self, timestamp, ctx):
            yield odd, (ctx.get_current_key(), timestamp)

    h = Harness(KeyedProcessOperator(KeyedSplit(), key0))
    h.process_batch([("a", 1)], [4])
    assert h.process_watermark(10) == ([], None)
    assert h.side_outputs == {"odd": [("a", 4)]} and h.side_output_timestamps == {"odd": [4]}


def test_process_operator_tracks_watermark_and_refuses_timers():
    class Wm(ProcessFunction):
        def process_element(self, value, ctx):
            yield ctx.timer_service().current_watermark()

    h = Harness(ProcessOperator(Wm()))
    h.process_watermark(42)
    assert h.process_batch([1], None) == ([42], None)

    class Timer(ProcessFunction):
        def process_element(self, value, ctx):
            ctx.timer_service().register_processing_time_timer(1)

    h = Harness(ProcessOperator(Timer()))
    with pytest.raises(RuntimeError, match="keyed"):
        h.process_batch([1], None)


def test_timers_travel_in_checkpointed_operator_state_also_when_rescaled():
    from headwater.runtime.checkpoint.redistribution import redistribute_operator_state
    from headwater.runtime.state.key_groups import assign_to_key_group

    records = [(f"k{i}", i) for i in range(30)]
    old = []
    keyed = []
    for subtask in range(2):
        h = Harness(KeyedProcessOperator(Timeouts(), key0), processing_time=1000, parallelism=2,
                    subtask_index=subtask)
        mine = [r for r in records
                if assign_to_key_group(r[0], 128) in h.operator.backend.key_group_range]
        h.process_batch(mine, [r[1] for r in mine])
        old.append(h.operator.snapshot_state(1))
        keyed.append(h.operator.backend.snapshot())
    assert all(s[TIMERS_STATE][0] == "union" for s in old)
    merged_keyed = {kg: v for snap in keyed for kg, v in snap.items()}
    fired = []
    for subtask in range(3):  # rescale 2 -> 3
        state = redistribute_operator_state(old, 3, subtask)
        h = Harness(KeyedProcessOperator(Timeouts(), key0), processing_time=1000, parallelism=3,
                    subtask_index=subtask, operator_state=state, keyed_state=merged_keyed)
        fired += h.process_watermark(MAX)[0]
    assert sorted((k, t) for k, t, *_ in fired) == sorted((k, i + 10) for k, i in records)
