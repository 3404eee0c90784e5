"""Event time on a real mini cluster: out-of-order streams through windows, late data to
side outputs, timers of keyed process functions, side outputs of process functions."""

from __future__ import annotations

import random
import time
from collections import defaultdict

from headwater.api import (
    Duration,
    EventTimeSessionWindows,
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    ProcessWindowFunction,
    SourceFunction,
    Time,
    TimeDomain,
    TumblingEventTimeWindows,
    WatermarkStrategy,
)
from headwater.testing import CollectSink, Record, ScriptedSource, Watermark
from tests.integration.helpers import new_env

MAX = 2**63 - 1


def out_of_order_events(n: int = 3000, disorder: int = 40, seed: int = 11) -> list:
    """(key, value, timestamp) with timestamps at most ``disorder`` behind the maximum."""
    rng = random.Random(seed)
    return [(f"k{rng.randrange(7)}", rng.randrange(100), t + rng.randrange(-disorder, 1))
            for t in range(0, n * 2, 2)]


def by_event_time(strategy_bound: int) -> WatermarkStrategy:
    return (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(strategy_bound))
            .with_timestamp_assigner(lambda e, ts: e[2]))


class Paced(SourceFunction):
    """Emits ``records`` in chunks with pauses (so periodic watermarks flow in between),
    then waits ``linger`` seconds before finishing."""

    def __init__(self, records: list, chunk: int = 100, pause: float = 0.01,
                 linger: float = 0.0, pauses_after: dict | None = None) -> None:
        self.records = records
        self.chunk = chunk
        self.pause = pause
        self.linger = linger
        self.pauses_after = pauses_after or {}
        self.running = True

    def run(self, ctx):
        for i, r in enumerate(self.records):
            if not self.running:
                return
            ctx.collect(r)
            # Wall-time pauses on purpose: periodic watermarks flow in between.
            if i in self.pauses_after:
                time.sleep(self.pauses_after[i])
            elif (i + 1) % self.chunk == 0:
                time.sleep(self.pause)
        time.sleep(self.linger)  # processing time passes before the end of input

    def cancel(self):
        self.running = False


class WindowSum(ProcessWindowFunction):
    def process(self, key, context, elements):
        w = context.window()
        yield key, w.start, w.end, sum(e[1] for e in elements)


class SeenWatermarks(KeyedProcessFunction):
    def process_element(self, value, ctx):
        yield ctx.timer_service().current_watermark()


def test_out_of_order_tumbling_windows_are_exact(mini_cluster):
    events = out_of_order_events()
    env = new_env(2)
    env.get_config().set_auto_watermark_interval(20)
    # a longer pause halfway lets periodic watermarks reach the windows mid-stream
    source = env.add_source(Paced(events, pauses_after={len(events) // 2: 0.5}),
                            "events").set_parallelism(1)
    stream = source.rebalance().assign_timestamps_and_watermarks(by_event_time(40))
    windows = (stream.key_by(lambda e: e[0])
               .window(TumblingEventTimeWindows.of(Time.milliseconds(100))))
    windows.reduce(lambda a, b: (a[0], a[1] + b[1], max(a[2], b[2]))) \
        .map(lambda r: (r[0], r[1])).add_sink(CollectSink("reduce"))
    windows.process(WindowSum()).add_sink(CollectSink("process"))
    stream.key_by(lambda e: e[0]).process(SeenWatermarks()).add_sink(CollectSink("marks"))
    result = env.execute("tumbling")

    expected = defaultdict(int)
    for k, v, t in events:
        expected[(k, t // 100)] += v
    assert sorted(result.get_accumulator_result("reduce")) == \
        sorted((k, s) for (k, _), s in expected.items())
    assert sorted(result.get_accumulator_result("process")) == \
        sorted((k, w * 100, w * 100 + 100, s) for (k, w), s in expected.items())
    marks = result.get_accumulator_result("marks")
    assert any(-(2**63) < m < MAX for m in marks), "no periodic watermark reached the job"


def test_session_windows_on_the_cluster(mini_cluster):
    events = [("a", 1, 0), ("a", 1, 5), ("b", 1, 7), ("a", 1, 30), ("a", 1, 12),
              ("b", 1, 100), ("a", 1, 21)]
    env = new_env(2)
    (env.from_collection(events).assign_timestamps_and_watermarks(by_event_time(100))
        .key_by(lambda e: e[0])
        .window(EventTimeSessionWindows.with_gap(10))
        .process(WindowSum())
        .add_sink(CollectSink("s")))
    out = env.execute("sessions").get_accumulator_result("s")
    assert sorted(out) == [("a", 0, 40, 5), ("b", 7, 17, 1), ("b", 100, 110, 1)]


def test_late_records_reach_the_side_output(mini_cluster):
    late = OutputTag("late")
    on_time = [("a", 1, 10), ("b", 2, 20), ("a", 3, 150), ("b", 4, 5000)]
    too_late = [("a", 100, 30), ("b", 200, 99)]
    records = on_time + too_late
    env = new_env(2)
    env.get_config().set_auto_watermark_interval(10)
    # pause after the on-time records so the watermark (4999) passes the first windows
    source = env.add_source(Paced(records, pauses_after={len(on_time) - 1: 1.0}), "events")
    source.set_parallelism(1)
    stamped = source.assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(
            lambda e, ts: e[2])).set_parallelism(1)
    result = (stamped.key_by(lambda e: e[0])
              .window(TumblingEventTimeWindows.of(100))
              .side_output_late_data(late)
              .reduce(lambda a, b: (a[0], a[1] + b[1], a[2])))
    result.add_sink(CollectSink("main"))
    result.get_side_output(late).add_sink(CollectSink("late"))
    out = env.execute("late data")
    assert sorted(out.get_accumulator_result("late")) == sorted(too_late)
    assert sorted(r[:2] for r in out.get_accumulator_result("main")) == \
        [("a", 1), ("a", 3), ("b", 2), ("b", 4)]


class Timers(KeyedProcessFunction):
    """Per record: an event-time timer 10 ms after it, and for a key's first record a
    processing-time timer 100 ms from now."""

    def open(self, runtime_context):
        from headwater.api import ValueStateDescriptor

        self.seen = runtime_context.get_state(ValueStateDescriptor("seen"))

    def process_element(self, value, ctx):
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)
        if not self.seen.value():
            self.seen.update(True)
            now = ctx.timer_service().current_processing_time()
            ctx.timer_service().register_processing_time_timer(now + 100)
        return []

    def on_timer(self, timestamp, ctx):
        domain = "event" if ctx.time_domain() == TimeDomain.EVENT_TIME else "processing"
        yield ctx.get_current_key(), domain, timestamp if domain == "event" else None


def test_keyed_process_function_timers_end_to_end(mini_cluster):
    records = [(f"k{i % 4}", i, 1000 + i * 7) for i in range(40)]
    env = new_env(2)
    (env.add_source(Paced(records, linger=1.5), "events").set_parallelism(1)
        .assign_timestamps_and_watermarks(by_event_time(0)).set_parallelism(1)
        .key_by(lambda e: e[0])
        .process(Timers())
        .add_sink(CollectSink("t")))
    out = env.execute("timers").get_accumulator_result("t")
    events = sorted(r for r in out if r[1] == "event")
    assert events == sorted((k, "event", t + 10) for k, _, t in records)
    assert sorted(r for r in out if r[1] == "processing") == \
        [(f"k{i}", "processing", None) for i in range(4)]


def test_process_function_side_outputs(mini_cluster):
    odd = OutputTag("odd")

    class Split(ProcessFunction):
        def process_element(self, value, ctx):
            if value % 2:
                yield odd, value
            else:
                yield value

    env = new_env(2)
    main = env.from_sequence(1, 200).process(Split())
    main.add_sink(CollectSink("even"))
    main.get_side_output(odd).map(lambda x: -x).add_sink(CollectSink("odd"))
    out = env.execute("split")
    assert sorted(out.get_accumulator_result("even")) == list(range(2, 201, 2))
    assert sorted(out.get_accumulator_result("odd")) == sorted(-x for x in range(1, 201, 2))


def test_scripted_source_timestamps_and_watermarks_drive_windows(mini_cluster):
    env = new_env()
    sink = CollectSink()
    script = ScriptedSource([Record(("a", 1), 1), Record(("b", 10), 2), Record(("a", 2), 5),
                             Watermark(9), Record(("a", 4), 12), Watermark(MAX)])
    (env.add_source(script).set_parallelism(1).key_by(lambda r: r[0])
        .window(TumblingEventTimeWindows.of(Time.milliseconds(10)))
        .reduce(lambda a, b: (a[0], a[1] + b[1])).add_sink(sink))
    result = env.execute("scripted")
    assert sorted(sink.records(result)) == [("a", 3), ("a", 4), ("b", 10)]

