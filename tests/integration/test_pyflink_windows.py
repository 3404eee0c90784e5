"""PyFlink-style window programs through ``headwater.pyflink`` imports on a real mini
cluster: window_all, evictors, count windows, window/global state, dynamic session gaps,
generic function classes."""

from __future__ import annotations

from collections.abc import Iterable

from headwater.pyflink.common import Duration, Time, Types, WatermarkStrategy
from headwater.pyflink.common.watermark_strategy import TimestampAssigner
from headwater.pyflink.datastream import StreamExecutionEnvironment
from headwater.pyflink.datastream.functions import (
    AggregateFunction,
    ProcessAllWindowFunction,
    ProcessWindowFunction,
)
from headwater.pyflink.datastream.state import ValueStateDescriptor
from headwater.pyflink.datastream.window import (
    ContinuousEventTimeTrigger,
    CountEvictor,
    CountTrigger,
    CountWindow,
    EventTimeSessionWindows,
    GlobalWindows,
    SessionWindowTimeGapExtractor,
    SlidingEventTimeWindows,
    TimeEvictor,
    TimeWindow,
    Trigger,
    TriggerResult,
    TumblingEventTimeWindows,
)


class SecondField(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp) -> int:
        return value[1]


def timed_env(records: list) -> tuple[StreamExecutionEnvironment, object]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    ds = env.from_collection(records).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(SecondField()))
    return env, ds


class SumPerWindow(ProcessWindowFunction[tuple, tuple, str, TimeWindow]):
    def process(self, key: str, context: ProcessWindowFunction.Context[TimeWindow],
                elements: Iterable[tuple]) -> Iterable[tuple]:
        window = context.window()
        yield key, window.start, window.end, sum(e[2] for e in elements)


def test_process_window_function_with_generic_subscripts(mini_cluster):
    env, ds = timed_env([("a", 1000, 1), ("a", 4000, 2), ("b", 6000, 5), ("a", 12000, 7)])
    out = list(ds.key_by(lambda e: e[0], key_type=Types.STRING())
               .window(TumblingEventTimeWindows.of(Time.seconds(10)))
               .process(SumPerWindow(), Types.TUPLE([Types.STRING(), Types.LONG(),
                                                    Types.LONG(), Types.INT()]))
               .execute_and_collect())
    assert sorted(out) == [("a", 0, 10000, 3), ("a", 10000, 20000, 7), ("b", 0, 10000, 5)]


class Fires(ProcessWindowFunction):
    """Counts the firings of each window (window state) and of each key (global state)."""

    def process(self, key, context, elements):
        per_window = context.window_state().get_state(ValueStateDescriptor("n", Types.INT()))
        per_key = context.global_state().get_state(ValueStateDescriptor("all", Types.INT()))
        per_window.update((per_window.value() or 0) + 1)
        per_key.update((per_key.value() or 0) + 1)
        yield key, context.window().start, per_window.value(), per_key.value(), \
            sorted(e[2] for e in elements)

    def clear(self, context):
        context.window_state().get_state(ValueStateDescriptor("n", Types.INT())).clear()


def test_window_state_and_global_state(mini_cluster):
    # a count trigger fires every 2 records, so windows fire more than once
    env, ds = timed_env([("a", 1000, 1), ("a", 2000, 2), ("a", 3000, 3), ("a", 4000, 4),
                         ("a", 11000, 5), ("a", 12000, 6)])
    out = list(ds.key_by(lambda e: e[0])
               .window(TumblingEventTimeWindows.of(Time.seconds(10)))
               .trigger(CountTrigger.of(2))
               .process(Fires())
               .execute_and_collect())
    assert out == [("a", 0, 1, 1, [1, 2]), ("a", 0, 2, 2, [1, 2, 3, 4]),
                   ("a", 10000, 1, 3, [5, 6])]


class Total(ProcessAllWindowFunction[tuple, tuple, TimeWindow]):
    def process(self, context: ProcessAllWindowFunction.Context[TimeWindow],
                elements: Iterable[tuple]) -> Iterable[tuple]:
        yield context.window().start, sorted(e[0] for e in elements)


def test_window_all_process_and_reduce(mini_cluster):
    records = [("a", 1000, 1), ("b", 2000, 2), ("c", 11000, 3), ("d", 12000, 4)]
    env, ds = timed_env(records)
    windows = ds.window_all(TumblingEventTimeWindows.of(Time.seconds(10)))
    windows.process(Total()).print()
    env.execute("warm up: window_all runs with parallelism 1")
    env2 = StreamExecutionEnvironment.get_execution_environment()
    env2.set_parallelism(2)
    ds2 = env2.from_collection(records).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(1))
        .with_timestamp_assigner(SecondField()))
    all_windows = ds2.window_all(TumblingEventTimeWindows.of(Time.seconds(10)))
    sums = all_windows.reduce(lambda a, b: ("sum", max(a[1], b[1]), a[2] + b[2]))
    assert sums.get_parallelism() == 1
    assert sorted(sums.execute_and_collect()) == [("sum", 2000, 3), ("sum", 12000, 7)]
    env3, ds3 = timed_env(records)
    assert list(ds3.window_all(TumblingEventTimeWindows.of(Time.seconds(10)))
                .process(Total()).execute_and_collect()) == [(0, ["a", "b"]),
                                                             (10000, ["c", "d"])]


class ListAll(AggregateFunction):
    def create_accumulator(self):
        return []

    def add(self, value, accumulator):
        return [*accumulator, value[2]]

    def get_result(self, accumulator):
        return accumulator

    def merge(self, a, b):
        return a + b


def test_count_evictor_and_time_evictor(mini_cluster):
    records = [("k", t * 1000, t) for t in range(1, 7)]
    env, ds = timed_env(records)
    last_two = (ds.key_by(lambda e: e[0])
                .window(GlobalWindows.create())
                .trigger(CountTrigger.of(3))
                .evictor(CountEvictor.of(2))
                .aggregate(ListAll()))
    # fires after 3 records: the last 2 stay; 3 more: the last 2 of the 5 are evaluated
    assert list(last_two.execute_and_collect()) == [[2, 3], [5, 6]]
    env2, ds2 = timed_env(records)
    recent = (ds2.key_by(lambda e: e[0])
              .window(SlidingEventTimeWindows.of(Time.seconds(4), Time.seconds(2)))
              .evictor(TimeEvictor.of(Time.milliseconds(1500)))
              .reduce(lambda a, b: (a[0], max(a[1], b[1]), a[2] + b[2])))
    # each window keeps the records within 1.5 s of its newest one
    assert list(recent.execute_and_collect()) == [
        ("k", 1000, 1), ("k", 3000, 5), ("k", 5000, 9), ("k", 6000, 11), ("k", 6000, 6)]


class WindowIds(ProcessWindowFunction):
    def process(self, key, context, elements):
        window = context.window()
        assert isinstance(window, CountWindow)
        yield key, window.id, [e[1] for e in elements]


def test_count_windows_tumbling_and_sliding(mini_cluster):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    ds = env.from_collection([("a", i) for i in range(7)] + [("b", 100)]).set_parallelism(1)
    tumbling = ds.key_by(lambda e: e[0]).count_window(3).process(WindowIds())
    assert sorted(tumbling.execute_and_collect()) == [("a", 0, [0, 1, 2]),
                                                      ("a", 1, [3, 4, 5])]
    env1 = StreamExecutionEnvironment.get_execution_environment()
    env1.set_parallelism(1)
    ds1 = env1.from_collection([("a", i) for i in range(7)])
    sliding = ds1.key_by(lambda e: e[0]).count_window(3, 2).process(WindowIds())
    assert list(sliding.execute_and_collect()) == [("a", 0, [0, 1, 2]), ("a", 1, [2, 3, 4]),
                                                   ("a", 2, [4, 5, 6])]


class GapFromRecord(SessionWindowTimeGapExtractor):
    def extract(self, element) -> int:
        return element[2]


def test_session_gap_extractor_object(mini_cluster):
    # gaps: a record opens a session of its own third field (ms)
    env, ds = timed_env([("a", 1000, 500), ("a", 1400, 100), ("a", 3000, 5000),
                         ("a", 7000, 10)])
    sessions = (ds.key_by(lambda e: e[0])
                .window(EventTimeSessionWindows.with_dynamic_gap(GapFromRecord()))
                .process(SumPerWindow()))
    assert list(sessions.execute_and_collect()) == [("a", 1000, 1500, 600),
                                                    ("a", 3000, 8000, 5010)]


class FireOnMarker(Trigger[tuple, TimeWindow]):
    """A user trigger in PyFlink's style (generic base class)."""

    def on_element(self, element: tuple, timestamp: int, window: TimeWindow,
                   ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.FIRE_AND_PURGE if element[0] == "fire" else TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: TimeWindow,
                           ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: TimeWindow,
                      ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_merge(self, window: TimeWindow, ctx: Trigger.OnMergeContext) -> None:
        pass

    def clear(self, window: TimeWindow, ctx: Trigger.TriggerContext) -> None:
        pass


def test_user_trigger_and_continuous_trigger(mini_cluster):
    env, ds = timed_env([("x", 1000, 1), ("x", 2000, 2), ("fire", 3000, 3), ("x", 4000, 4)])
    fired = (ds.window_all(TumblingEventTimeWindows.of(Time.seconds(10)))
             .trigger(FireOnMarker())
             .aggregate(ListAll()))
    assert list(fired.execute_and_collect()) == [[1, 2, 3]]
    env2, ds2 = timed_env([("k", t * 1000, t) for t in range(1, 6)])
    early = (ds2.key_by(lambda e: e[0])
             .window(TumblingEventTimeWindows.of(Time.seconds(10)))
             .trigger(ContinuousEventTimeTrigger.of(Time.seconds(2)))
             .aggregate(ListAll()))
    results = list(early.execute_and_collect())
    assert results[-1] == [1, 2, 3, 4, 5] and all(r == results[-1][:len(r)] for r in results)
