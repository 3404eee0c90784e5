"""The window operator driven with batches and watermarks: assigners, triggers,
lateness, late data, merging sessions, window functions, snapshots."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from headwater.api import (
    AggregateFunction,
    CountTrigger,
    EventTimeSessionWindows,
    EventTimeTrigger,
    GlobalWindow,
    OutputTag,
    ProcessingTimeSessionWindows,
    ProcessWindowFunction,
    PurgingTrigger,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    StreamExecutionEnvironment,
    Time,
    TimeWindow,
    Trigger,
    TriggerResult,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WindowFunction,
)
from headwater.api.windowing import CountTumblingWindowAssigner
from headwater.runtime.operators.window_contents import (
    AggregateContents,
    ListContents,
    ReduceContents,
)
from headwater.runtime.operators.window_functions import WindowFunctionAdapter
from headwater.runtime.operators.window_operator import WindowOperator
from headwater.testing import KeyedOneInputStreamOperatorTestHarness as Harness

MAX = 2**63 - 1


def add(a, b):
    return (a[0], a[1] + b[1])


def key0(r):
    return r[0]


def reduce_op(assigner, **kwargs) -> WindowOperator:
    return WindowOperator(assigner, key0, ReduceContents(add), **kwargs)


class Collect(ProcessWindowFunction):
    """(key, start, end, sorted values) per fired window."""

    def process(self, key, context, elements):
        w = context.window()
        yield key, w.start, w.end, sorted(e[1] for e in elements)


def list_op(assigner, **kwargs) -> WindowOperator:
    return WindowOperator(assigner, key0, ListContents(),
                          WindowFunctionAdapter(Collect()), **kwargs)


# -- assigners ----------------------------------------------------------------------------


def test_time_window_basics():
    w = TimeWindow(0, 10)
    assert w.max_timestamp() == 9
    assert w.intersects(TimeWindow(10, 20)) and not w.intersects(TimeWindow(11, 20))
    assert w.cover(TimeWindow(5, 15)) == TimeWindow(0, 15)
    assert TimeWindow.get_window_start_with_offset(17, 0, 10) == 10
    assert TimeWindow.get_window_start_with_offset(17, 3, 10) == 13
    assert TimeWindow.get_window_start_with_offset(-3, 0, 10) == -10
    assert GlobalWindow() is GlobalWindow.get() and GlobalWindow().max_timestamp() == MAX


def test_assigners_compute_flink_windows():
    assert TumblingEventTimeWindows.of(Time.seconds(1)).assign_windows(None, 1500, None) == \
        [TimeWindow(1000, 2000)]
    assert TumblingEventTimeWindows.of(10, 3).assign_windows(None, 2, None) == \
        [TimeWindow(-7, 3)]
    assert SlidingEventTimeWindows.of(10, 5).assign_windows(None, 12, None) == \
        [TimeWindow(10, 20), TimeWindow(5, 15)]
    assert SlidingEventTimeWindows.of(10, 3).assign_windows(None, 9, None) == \
        [TimeWindow(9, 19), TimeWindow(6, 16), TimeWindow(3, 13), TimeWindow(0, 10)]
    assert EventTimeSessionWindows.with_gap(5).assign_windows(None, 7, None) == \
        [TimeWindow(7, 12)]
    assert isinstance(TumblingEventTimeWindows.of(5).get_default_trigger(), EventTimeTrigger)
    assert not TumblingProcessingTimeWindows.of(5).is_event_time()
    with pytest.raises(ValueError):
        TumblingEventTimeWindows.of(10, 10)
    with pytest.raises(ValueError):
        SlidingEventTimeWindows.of(10, 0)
    with pytest.raises(ValueError):
        EventTimeSessionWindows.with_gap(0)
    with pytest.raises(RuntimeError, match="assign_timestamps_and_watermarks"):
        TumblingEventTimeWindows.of(5).assign_windows("x", None, None)


# -- tumbling -----------------------------------------------------------------------------


def test_tumbling_reduce_fires_at_watermark_with_max_timestamp():
    h = Harness(reduce_op(TumblingEventTimeWindows.of(10)))
    assert h.process_batch([("a", 1), ("a", 2), ("b", 5), ("a", 4)], [3, 7, 12, 10]) == ([], None)
    assert h.process_watermark(8) == ([], None)
    assert h.process_watermark(9) == ([("a", 3)], [9])
    assert h.process_watermark(25) == ([("b", 5), ("a", 4)], [19, 19])  # timer order
    assert h.operator.backend.tables["_window_contents"] == {}  # cleaned up
    assert h.operator.timers.num_timers() == 0


def test_tumbling_matches_plain_python_on_out_of_order_input():
    rng = random.Random(7)
    events = [(f"k{rng.randrange(5)}", rng.randrange(100), t + rng.randrange(-30, 1))
              for t in range(0, 3000, 3)]
    h = Harness(reduce_op(TumblingEventTimeWindows.of(100)))
    out = []
    max_ts = -1
    for i in range(0, len(events), 37):
        chunk = events[i:i + 37]
        h.process_batch([(k, v) for k, v, _ in chunk], [t for _, _, t in chunk])
        max_ts = max([max_ts] + [t for _, _, t in chunk])
        out += h.process_watermark(max_ts - 31)[0]  # bounded out-of-orderness 30
    out += h.process_watermark(MAX)[0]
    expected = defaultdict(int)
    for k, v, t in events:
        expected[(k, t // 100)] += v
    assert h.operator.num_late_records_dropped == 0
    assert sorted(out) == sorted((k, s) for (k, _), s in expected.items())


def test_aggregate_with_window_function_and_apply():
    class Avg(AggregateFunction):
        def create_accumulator(self):
            return [0, 0]

        def add(self, value, acc):
            acc[0] += value[1]
            acc[1] += 1
            return acc

        def get_result(self, acc):
            return acc[0] / acc[1]

        def merge(self, a, b):
            return [a[0] + b[0], a[1] + b[1]]

    class Tag(WindowFunction):
        def apply(self, key, window, inputs):
            yield key, window.start, list(inputs)

    op = WindowOperator(TumblingEventTimeWindows.of(10), key0, AggregateContents(Avg()),
                        WindowFunctionAdapter(Tag()))
    h = Harness(op)
    h.process_batch([("a", 1), ("a", 2), ("a", 6)], [1, 2, 11])
    assert h.process_watermark(MAX) == ([("a", 0, [1.5]), ("a", 10, [6.0])], [9, 19])

    op = WindowOperator(TumblingEventTimeWindows.of(10), key0, ListContents(),
                        WindowFunctionAdapter(lambda k, w, xs: [(k, len(xs))], "apply"))
    h = Harness(op)
    h.process_batch([("a", 1), ("a", 2), ("b", 6)], [1, 2, 3])
    assert sorted(h.process_watermark(MAX)[0]) == [("a", 2), ("b", 1)]


def test_process_window_function_sees_window_and_can_side_output():
    tag = OutputTag("small")

    class Fn(ProcessWindowFunction):
        def process(self, key, context, elements):
            total = sum(e[1] for e in elements)
            assert context.current_watermark() >= context.window().max_timestamp()
            if total < 5:
                yield tag, (key, total)
            else:
                yield key, total

    op = WindowOperator(TumblingEventTimeWindows.of(10), key0, ListContents(),
                        WindowFunctionAdapter(Fn()))
    h = Harness(op)
    h.process_batch([("a", 1), ("b", 7)], [1, 2])
    assert h.process_watermark(20) == ([("b", 7)], [9])
    assert h.side_outputs == {"small": [("a", 1)]} and h.side_output_timestamps == {"small": [9]}


# -- sliding ------------------------------------------------------------------------------


def test_sliding_windows_exact():
    h = Harness(list_op(SlidingEventTimeWindows.of(10, 5)))
    h.process_batch([("a", 1), ("a", 2), ("a", 3)], [1, 7, 12])
    out, ts = h.process_watermark(MAX)
    assert out == [("a", -5, 5, [1]), ("a", 0, 10, [1, 2]), ("a", 5, 15, [2, 3]),
                   ("a", 10, 20, [3])]
    assert ts == [4, 9, 14, 19]


def test_sliding_matches_plain_python():
    rng = random.Random(3)
    events = [("k", rng.randrange(10), rng.randrange(1000)) for _ in range(500)]
    h = Harness(reduce_op(SlidingEventTimeWindows.of(100, 30)))
    h.process_batch([(k, v) for k, v, _ in events], [t for _, _, t in events])
    out = dict()
    for (_, s), t in zip(*h.process_watermark(MAX), strict=True):
        out[t + 1] = s
    expected = defaultdict(int)
    for _, v, t in events:
        for start in range(t - t % 30, t - 100, -30):
            expected[start + 100] += v
    assert out == dict(expected)


# -- sessions -----------------------------------------------------------------------------


def test_session_windows_merge():
    h = Harness(list_op(EventTimeSessionWindows.with_gap(5)))
    h.process_batch([("a", 1), ("a", 12), ("b", 3)], [1, 12, 3])
    h.process_batch([("a", 6)], [6])      # [6, 11) touches [1, 6): merged to [1, 11)
    assert h.operator.backend.tables["_window_merging"]["a"].keys() == \
        {TimeWindow(1, 11), TimeWindow(12, 17)}
    h.process_batch([("a", 11)], [11])    # bridges [1, 11) and [12, 17)
    out, ts = h.process_watermark(MAX)
    assert sorted(out) == [("a", 1, 17, [1, 6, 11, 12]), ("b", 3, 8, [3])]
    assert h.operator.backend.tables["_window_contents"] == {}
    assert h.operator.backend.tables["_window_merging"] == {}
    assert h.operator.timers.num_timers() == 0


def test_session_fires_when_watermark_passes_gap_and_merged_timers_are_dropped():
    h = Harness(reduce_op(EventTimeSessionWindows.with_gap(10)))
    h.process_batch([("a", 1), ("a", 1)], [0, 5])  # [0, 10) + [5, 15) -> [0, 15)
    assert h.process_watermark(9) == ([], None)      # the [0, 10) timer was deleted by the merge
    assert h.process_watermark(14) == ([("a", 2)], [14])
    h.process_batch([("a", 5)], [30])
    assert h.process_watermark(MAX) == ([("a", 5)], [39])


def test_session_with_count_trigger_merges_counts():
    op = WindowOperator(EventTimeSessionWindows.with_gap(30), key0, ReduceContents(add),
                        trigger=CountTrigger.of(3))
    h = Harness(op)
    assert h.process_batch([("a", 1), ("a", 1)], [0, 50]) == ([], None)  # [0, 30) and [50, 80)
    # [25, 55) bridges both sessions: their counts (1 + 1) merge, plus itself = 3: fire
    assert h.process_batch([("a", 1)], [25]) == ([("a", 3)], [79])
    assert h.operator.trigger_state == {}


def test_processing_time_sessions():
    h = Harness(list_op(ProcessingTimeSessionWindows.with_gap(10)), processing_time=100)
    h.process_batch([("a", 1)])
    h.set_processing_time(105)
    h.process_batch([("a", 2)])
    h.set_processing_time(113)  # the first session's timer (109) was deleted by the merge
    assert h.timer_output == []
    h.set_processing_time(114)
    assert h.timer_output == [("a", 100, 115, [1, 2])] and h.timer_output_timestamps == [114]


# -- triggers -----------------------------------------------------------------------------


def test_count_trigger_fires_every_n_without_purging():
    op = reduce_op(TumblingEventTimeWindows.of(100), trigger=CountTrigger.of(2))
    h = Harness(op)
    out, ts = h.process_batch([("a", 1), ("a", 2), ("a", 3), ("b", 1), ("a", 4)], [1, 2, 3, 4, 5])
    assert out == [("a", 3), ("a", 10)] and ts == [99, 99]
    assert h.process_watermark(MAX) == ([], None)  # CountTrigger ignores time; cleanup only
    assert h.operator.backend.tables["_window_contents"] == {}
    assert h.operator.trigger_state == {}


def test_purging_count_trigger_and_count_window():
    op = reduce_op(TumblingEventTimeWindows.of(100),
                   trigger=PurgingTrigger.of(CountTrigger.of(2)))
    h = Harness(op)
    assert h.process_batch([("a", 1), ("a", 2), ("a", 3), ("a", 4), ("a", 5)], [1] * 5)[0] == \
        [("a", 3), ("a", 7)]
    env = StreamExecutionEnvironment.get_execution_environment()
    ws = env.from_collection([1]).key_by(lambda x: x).count_window(3)
    assert isinstance(ws._assigner, CountTumblingWindowAssigner)  # CountWindows, as PyFlink
    op = WindowOperator(ws._assigner, key0, ReduceContents(add))
    h = Harness(op)
    out, ts = h.process_batch([("a", i) for i in range(7)], None)
    assert out == [("a", 3), ("a", 12)] and ts == [MAX, MAX]
    assert h.process_watermark(MAX) == ([], None)  # the leftover never fires


def test_purging_event_time_trigger_with_lateness_fires_only_new_records():
    op = reduce_op(TumblingEventTimeWindows.of(10), trigger=PurgingTrigger.of(
        EventTimeTrigger.create()), allowed_lateness=100)
    h = Harness(op)
    h.process_batch([("a", 1), ("a", 2)], [1, 2])
    assert h.process_watermark(20)[0] == [("a", 3)]
    assert h.process_batch([("a", 5)], [3])[0] == [("a", 5)]  # late firing, purged contents


def test_custom_trigger_sees_every_element():
    class FireOnNegative(Trigger):
        def on_element(self, element, timestamp, window, ctx):
            return TriggerResult.FIRE_AND_PURGE if element[1] < 0 else TriggerResult.CONTINUE

        def on_event_time(self, time, window, ctx):
            return TriggerResult.CONTINUE

        def on_processing_time(self, time, window, ctx):
            return TriggerResult.CONTINUE

    h = Harness(reduce_op(TumblingEventTimeWindows.of(100), trigger=FireOnNegative()))
    out, _ = h.process_batch([("a", 1), ("a", 2), ("a", -1), ("a", 5), ("a", -10)], [1] * 5)
    assert out == [("a", 2), ("a", -5)]


def test_merging_assigner_needs_merging_trigger():
    class NoMerge(Trigger):
        pass

    with pytest.raises(ValueError, match="merging"):
        reduce_op(EventTimeSessionWindows.with_gap(5), trigger=NoMerge())


# -- lateness and late data ---------------------------------------------------------------


def test_allowed_lateness_late_firings_and_cleanup():
    h = Harness(reduce_op(TumblingEventTimeWindows.of(10), allowed_lateness=5))
    h.process_batch([("a", 1)], [3])
    assert h.process_watermark(9) == ([("a", 1)], [9])
    # within lateness: every late record fires the window again with all contents
    assert h.process_batch([("a", 2), ("a", 4)], [5, 8]) == ([("a", 3), ("a", 7)], [9, 9])
    assert h.process_watermark(13) == ([], None)
    assert h.operator.backend.tables["_window_contents"] == {"a": {TimeWindow(0, 10): ("a", 7)}}
    assert h.process_watermark(14) == ([], None)  # cleanup time 9 + 5
    assert h.operator.backend.tables["_window_contents"] == {}
    assert h.process_batch([("a", 100)], [8]) == ([], None)  # too late: dropped and counted
    assert h.operator.num_late_records_dropped == 1


def test_late_records_go_to_side_output_with_their_timestamps():
    late = OutputTag("late")
    h = Harness(reduce_op(TumblingEventTimeWindows.of(10), late_data_tag=late))
    h.process_batch([("a", 1)], [3])
    h.process_watermark(15)
    out = h.process_batch([("a", 2), ("b", 3), ("a", 4)], [9, 15, 2])
    assert out == ([], None)
    assert h.side_outputs == {"late": [("a", 2), ("a", 4)]}
    assert h.side_output_timestamps == {"late": [9, 2]}
    assert h.operator.num_late_records_dropped == 0
    assert h.process_watermark(MAX) == ([("b", 3)], [19])


def test_sliding_record_is_late_only_when_all_its_windows_are():
    late = OutputTag("late")
    h = Harness(list_op(SlidingEventTimeWindows.of(10, 5), late_data_tag=late))
    h.process_watermark(10)
    h.process_batch([("a", 1), ("a", 2)], [7, 3])  # 7 is in [5, 15) (on time); 3 only in late ones
    assert h.side_outputs == {"late": [("a", 2)]}
    assert h.process_watermark(MAX)[0] == [("a", 5, 15, [1])]


# -- processing time ----------------------------------------------------------------------


def test_tumbling_processing_time_windows_emit_through_emit_records():
    h = Harness(reduce_op(TumblingProcessingTimeWindows.of(10)), processing_time=3)
    h.process_batch([("a", 1), ("b", 1)])
    h.set_processing_time(8)
    h.process_batch([("a", 2)])
    assert h.timer_output == []
    h.set_processing_time(9)
    assert sorted(h.timer_output) == [("a", 3), ("b", 1)] and h.timer_output_timestamps == [9, 9]
    h.set_processing_time(12)
    h.process_batch([("a", 5)])
    h.set_processing_time(30)
    assert h.timer_output[-1] == ("a", 5) and h.timer_output_timestamps[-1] == 19
    assert h.operator.backend.tables["_window_contents"] == {}


def test_sliding_processing_time_windows():
    h = Harness(reduce_op(SlidingProcessingTimeWindows.of(10, 5)), processing_time=7)
    h.process_batch([("a", 1)])
    h.set_processing_time(100)
    assert h.timer_output == [("a", 1), ("a", 1)] and h.timer_output_timestamps == [9, 14]


# -- state --------------------------------------------------------------------------------


def test_window_state_and_timers_snapshot_and_restore_by_key_group():
    rng = random.Random(1)
    events = [(f"k{rng.randrange(20)}", 1, rng.randrange(100)) for _ in range(300)]
    first = Harness(reduce_op(TumblingEventTimeWindows.of(10)))
    first.process_batch([(k, v) for k, v, _ in events[:150]], [t for _, _, t in events[:150]])
    keyed = first.operator.backend.snapshot()
    timers = first.operator.snapshot_timers()
    assert set(timers) <= set(keyed)  # both grouped by key group
    # restore into two subtasks (rescaling 1 -> 2) and finish there
    out = []
    for subtask in range(2):
        h = Harness(reduce_op(TumblingEventTimeWindows.of(10)), parallelism=2,
                    subtask_index=subtask)
        h.operator.backend.restore(keyed)
        h.operator.restore_timers(timers)
        mine = [e for e in events[150:] if
                h.operator.backend.key_group_range.__contains__(_kg(e[0]))]
        if mine:
            h.process_batch([(k, v) for k, v, _ in mine], [t for _, _, t in mine])
        out += h.process_watermark(MAX)[0]
    expected = defaultdict(int)
    for k, v, t in events:
        expected[(k, t // 10)] += v
    assert sorted(out) == sorted((k, s) for (k, _), s in expected.items())


def _kg(key):
    from headwater.runtime.state.key_groups import assign_to_key_group

    return assign_to_key_group(key, 128)


def test_records_without_timestamps_fail_event_time_windows():
    h = Harness(reduce_op(TumblingEventTimeWindows.of(10)))
    with pytest.raises(RuntimeError, match="timestamp"):
        h.process_batch([("a", 1)], None)


# -- backends that serialize (RocksDB): every change must be written back ------------------


def _scenarios(backend: str) -> list:
    """Outputs of several window setups on one backend."""
    results = []
    rng = random.Random(5)
    events = [(f"k{rng.randrange(4)}", rng.randrange(10), t + rng.randrange(-60, 1))
              for t in range(0, 600, 2)]
    late = OutputTag("late")
    setups = [
        reduce_op(TumblingEventTimeWindows.of(50), allowed_lateness=10, late_data_tag=late),
        list_op(SlidingEventTimeWindows.of(50, 20)),
        list_op(EventTimeSessionWindows.with_gap(7)),
        reduce_op(EventTimeSessionWindows.with_gap(5), trigger=CountTrigger.of(3)),
        reduce_op(TumblingEventTimeWindows.of(40), trigger=PurgingTrigger.of(
            CountTrigger.of(4))),
    ]
    for op in setups:
        h = Harness(op, state_backend=backend)
        out = []
        for i in range(0, len(events), 25):
            chunk = events[i:i + 25]
            out += h.process_batch([(k, v) for k, v, _ in chunk], [t for _, _, t in chunk])[0]
            out += h.process_watermark(max(t for _, _, t in chunk) - 15)[0]
        out += h.process_watermark(MAX)[0]
        results.append((sorted(map(repr, out)), sorted(map(repr, h.side_outputs.get("late", [])))))
    h = Harness(reduce_op(TumblingProcessingTimeWindows.of(10)), processing_time=3,
                state_backend=backend)
    for t in range(3, 40, 4):
        h.set_processing_time(t)
        h.process_batch([("a", t), ("b", 1)])
    h.set_processing_time(100)
    results.append(sorted(map(repr, h.timer_output)))
    return results


def test_rocksdb_backend_gives_the_same_results():
    pytest.importorskip("rocksdict")
    assert _scenarios("rocksdb") == _scenarios("heap")
