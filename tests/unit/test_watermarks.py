"""Timestamp assignment and periodic watermarks; the API and graph pieces of event time
(side-output edges, the assigner node, the auto-watermark interval)."""

from __future__ import annotations

import pytest

from headwater.api import (
    Duration,
    KeyedProcessFunction,
    OutputTag,
    StreamExecutionEnvironment,
    Time,
    TimestampAssigner,
    TumblingEventTimeWindows,
    WatermarkGenerator,
    WatermarkStrategy,
)
from headwater.api.time import to_millis
from headwater.api.watermarks import BoundedOutOfOrdernessWatermarks, WatermarksWithIdleness
from headwater.graph.job_graph import ShipStrategy
from headwater.runtime.operators.timestamps import TimestampsAndWatermarksOperator
from headwater.testing import OneInputStreamOperatorTestHarness as Harness

MIN = -(2**63)


def test_durations():
    assert Duration.of_millis(5).to_milliseconds() == 5
    assert Duration.of_seconds(2) == Duration.of_millis(2000)
    assert Duration.of_minutes(1).to_milliseconds() == 60_000
    assert Time.seconds(1.5).to_milliseconds() == 1500 and Time.hours(1).millis == 3_600_000
    assert to_millis(7) == 7 and to_millis(Time.milliseconds(3)) == 3
    with pytest.raises(TypeError):
        to_millis("5")


def assigner_op(strategy, interval=200):
    return TimestampsAndWatermarksOperator(strategy, interval_ms=interval)


def test_bounded_out_of_orderness_emits_periodically():
    strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(5))
                .with_timestamp_assigner(lambda e, ts: e[1]))
    h = Harness(assigner_op(strategy), processing_time=1000)
    assert h.process_batch([("a", 10), ("b", 30), ("c", 20)]) == \
        ([("a", 10), ("b", 30), ("c", 20)], [10, 30, 20])
    assert h.watermarks == []
    h.set_processing_time(1199)
    assert h.watermarks == []
    h.set_processing_time(1200)
    assert h.watermarks == [24]          # max 30 - 5 - 1
    h.process_batch([("d", 25)])
    h.set_processing_time(1400)
    assert h.watermarks == [24]          # no progress: nothing new
    h.process_batch([("e", 40)])
    h.set_processing_time(1650)
    assert h.watermarks == [24, 34]
    assert h.operator.current_watermark == 34


def test_monotonous_no_watermarks_and_record_timestamps():
    h = Harness(assigner_op(WatermarkStrategy.for_monotonous_timestamps()))
    assert h.process_batch(["x", "y"], [3, 8]) == (["x", "y"], [3, 8])  # keeps record timestamps
    h.set_processing_time(200)
    assert h.watermarks == [7]
    assert h.process_batch(["z"]) == (["z"], None)  # no timestamps, no assigner: left alone

    strategy = WatermarkStrategy.no_watermarks().with_timestamp_assigner(lambda e, ts: e)
    h = Harness(assigner_op(strategy))
    assert h.process_batch([5, 9]) == ([5, 9], [5, 9])
    h.set_processing_time(1000)
    assert h.watermarks == []


def test_assigners_callables_and_classes():
    class Plus(TimestampAssigner):
        def extract_timestamp(self, value, record_timestamp):
            return record_timestamp + value

    strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(Plus())
    h = Harness(assigner_op(strategy))
    assert h.process_batch([1, 2], [10, 20])[1] == [11, 22]
    one_arg = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(
        lambda e: e * 2)
    h = Harness(assigner_op(one_arg))
    assert h.process_batch([1, 2])[1] == [2, 4]
    with pytest.raises(TypeError):
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(5)
    with pytest.raises(ValueError):
        WatermarkStrategy.for_bounded_out_of_orderness(-1)


def test_custom_generator_and_end_input():
    class EveryRecord(WatermarkGenerator):
        def on_event(self, event, event_timestamp, output):
            output.emit_watermark(event_timestamp)

    h = Harness(assigner_op(WatermarkStrategy.for_generator(EveryRecord)
                            .with_timestamp_assigner(lambda e, ts: e), 0))
    h.process_batch([3, 1, 5])
    assert h.watermarks == [3, 5]
    assert h.processing_time_service.pending() == []  # interval 0: no periodic timer

    h = Harness(assigner_op(WatermarkStrategy.for_monotonous_timestamps()
                            .with_timestamp_assigner(lambda e, ts: e), 10_000))
    h.process_batch([42])
    assert h.operator.end_input() == ([], None)
    assert h.watermarks == [41]
    h.operator.close()
    assert h.processing_time_service.pending() == []


def test_idleness_marks_idle_and_active_again():
    now = [0.0]
    gen = WatermarksWithIdleness(BoundedOutOfOrdernessWatermarks(0), 1000, lambda: now[0])

    class Out:
        def __init__(self):
            self.events = []

        def emit_watermark(self, wm):
            self.events.append(wm)

        def mark_idle(self):
            self.events.append("idle")

        def mark_active(self):
            self.events.append("active")

    out = Out()
    gen.on_events([1], [10], out)
    gen.on_periodic_emit(out)            # activity seen
    now[0] = 0.5
    gen.on_periodic_emit(out)            # inactivity starts
    now[0] = 1.6
    gen.on_periodic_emit(out)            # 1.1 s without records: idle
    gen.on_periodic_emit(out)
    gen.on_events([2], [20], out)
    gen.on_periodic_emit(out)
    assert out.events == [9, 9, "idle", "active", 19]


def test_idleness_reaches_the_runtime_hook_when_present():
    strategy = (WatermarkStrategy.for_monotonous_timestamps()
                .with_timestamp_assigner(lambda e, ts: e).with_idleness(Duration.of_millis(1)))
    h = Harness(assigner_op(strategy, 1))
    statuses = []
    h.operator.ctx.emit_watermark_status = statuses.append
    h.process_batch([5])
    h.operator.generator.timer.clock = iter(range(100)).__next__  # whole seconds per call
    for t in range(1, 5):
        h.set_processing_time(t)
    assert statuses == [True]
    h.process_batch([9])
    h.set_processing_time(5)  # one periodic emission: records again
    assert statuses == [True, False] and h.watermarks[-1] == 8


def test_auto_watermark_interval_comes_from_the_execution_config():
    env = StreamExecutionEnvironment.get_execution_environment()
    assert env.get_config().get_auto_watermark_interval() == 200
    s = env.from_collection([1]).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda e, t: e))
    env.get_config().set_auto_watermark_interval(50)  # set after declaring: still applies
    s.print()
    graph = env.get_job_graph()
    (vertex,) = graph.vertices
    assert vertex.name == "Source: Collection Source -> Timestamps/Watermarks -> " \
        "Sink: Print to Std. Out"
    h = Harness(vertex.operators[1].operator, processing_time=1000)
    assert h.processing_time_service.pending() == [1050]
    with pytest.raises(ValueError):
        env.get_config().set_auto_watermark_interval(-1)


# -- graph: side outputs ------------------------------------------------------------------


class Fn(KeyedProcessFunction):
    def process_element(self, value, ctx):
        yield value


def test_side_output_edges_end_the_chain_and_carry_the_tag():
    tag = OutputTag("late")
    env = StreamExecutionEnvironment.get_execution_environment()
    main = env.from_sequence(1, 10).key_by(lambda x: x).process(Fn()).name("fn")
    main.map(str).name("main-consumer").print()
    main.get_side_output(tag).map(abs).name("side-consumer").print()
    graph = env.get_job_graph()
    names = [v.name for v in graph.vertices]
    assert names == ["Source: Sequence Source", "fn",
                     "main-consumer -> Sink: Print to Std. Out",
                     "side-consumer -> Sink: Print to Std. Out"]
    fn = graph.vertices[1]
    assert [(e.side_output_tag, e.ship_strategy) for e in fn.outputs] == \
        [(None, ShipStrategy.FORWARD), ("late", ShipStrategy.FORWARD)]
    side_vertex = graph.vertices[3]
    assert side_vertex.inputs[0].side_output_tag == "late"


def test_a_lone_side_output_consumer_is_not_chained():
    tag = OutputTag("x")
    env = StreamExecutionEnvironment.get_execution_environment()
    s = env.from_sequence(1, 10).key_by(lambda x: x).process(Fn()).name("fn")
    s.get_side_output(tag).rebalance().print()
    graph = env.get_job_graph()
    assert [v.name for v in graph.vertices] == ["Source: Sequence Source", "fn",
                                                "Sink: Print to Std. Out"]
    assert graph.vertices[1].outputs[0].side_output_tag == "x"
    assert graph.vertices[1].outputs[0].ship_strategy == ShipStrategy.REBALANCE


def test_windowed_stream_api_builds_a_window_vertex():
    late = OutputTag("late")
    env = StreamExecutionEnvironment.get_execution_environment()
    result = (env.from_collection([("a", 1)])
              .assign_timestamps_and_watermarks(
                  WatermarkStrategy.for_monotonous_timestamps()
                  .with_timestamp_assigner(lambda e, ts: e[1]))
              .key_by(lambda e: e[0])
              .window(TumblingEventTimeWindows.of(Time.seconds(5)))
              .allowed_lateness(Time.seconds(1))
              .side_output_late_data(late)
              .reduce(lambda a, b: a))
    result.get_side_output(late).print()
    result.print()
    graph = env.get_job_graph()
    window = graph.vertices[1]
    assert window.name == "Window(TumblingEventTimeWindows(5000), EventTimeTrigger, reduce)"
    op = window.operators[0].operator
    assert op.allowed_lateness == 1000 and op.late_data_tag == late
    with pytest.raises(TypeError):
        env.from_collection([1]).get_side_output("late")
    with pytest.raises(TypeError):
        env.from_collection([1]).key_by(lambda x: x).window(5)
    with pytest.raises(ValueError):
        env.from_collection([1]).key_by(lambda x: x).window(
            TumblingEventTimeWindows.of(5)).allowed_lateness(-1)


def test_min_timestamp_reaches_assigner_for_records_without_one():
    strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(
        lambda e, ts: ts)
    h = Harness(assigner_op(strategy))
    assert h.process_batch(["a"]) == (["a"], [MIN])
