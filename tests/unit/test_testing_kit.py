"""The test kit itself (headwater.testing): wait_for, the scripted source, the collecting
sink and the operator harnesses."""

from __future__ import annotations

import asyncio
import operator
import pickle
import subprocess
import sys

import cloudpickle
import pytest

from headwater.api.execution import JobExecutionResult
from headwater.api.functions import KeyedProcessFunction, MapFunction, SourceContext
from headwater.runtime.operators.keyed import KeyedProcessOperator, KeyedReduceOperator
from headwater.runtime.operators.simple import MapOperator, SinkOperator
from headwater.testing import (
    CollectSink,
    Idle,
    KeyedOneInputStreamOperatorTestHarness,
    OneInputStreamOperatorTestHarness,
    Pause,
    Record,
    ScriptedSource,
    Watermark,
    wait_for,
    wait_for_async,
)


def test_wait_for_returns_the_first_truthy_value():
    calls = iter([0, None, ValueError("not yet"), "done"])

    def condition():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_for(condition, timeout=5, interval=0) == "done"


def test_wait_for_times_out_with_message_and_last_value():
    with pytest.raises(AssertionError, match=r"timed out after 0.05 s: the thing \(last: 7\)"):
        wait_for(_Falsy, timeout=0.05, interval=0.01, message=lambda: "the thing")


class _Falsy:
    """A falsy result whose repr is 7."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "7"


def test_wait_for_async_awaits_async_conditions():
    calls = iter([False, False, "ready"])

    async def condition():
        await asyncio.sleep(0)
        return next(calls)

    assert asyncio.run(wait_for_async(condition, timeout=5, interval=0)) == "ready"
    with pytest.raises(AssertionError, match="never"):
        asyncio.run(wait_for_async(lambda: False, timeout=0.02, message="never"))


def test_wait_for_reports_the_last_exception():
    def boom():
        raise KeyError("missing")

    with pytest.raises(AssertionError, match="KeyError"):
        wait_for(boom, timeout=0.02, interval=0.01)


class _Output:
    def __init__(self) -> None:
        self.events: list = []

    def collect(self, value) -> None:
        self.events.append(("record", value, None))

    def collect_with_timestamp(self, value, timestamp) -> None:
        self.events.append(("record", value, timestamp))

    def emit_watermark(self, timestamp) -> None:
        self.events.append(("watermark", timestamp))


def test_scripted_source_plays_its_script_in_order():
    source = ScriptedSource(["plain", Record("a", 1), Watermark(1), Idle(), Pause(0.01),
                             Record("b", 7)])
    source = pickle.loads(cloudpickle.dumps(source))  # shipped like a task ships it
    out = _Output()
    source.run(SourceContext(out))
    assert out.events == [("record", "plain", None), ("record", "a", 1), ("watermark", 1),
                          ("record", "b", 7)]


def test_scripted_source_of_timestamped_records_with_watermarks():
    source = ScriptedSource.of([("a", 3), ("b", 1), ("c", 5)], watermark_every=2)
    assert source.steps == [Record("a", 3), Record("b", 1), Watermark(3), Record("c", 5),
                            Watermark(5)]


def test_scripted_source_cancel_ends_a_pause():
    source = ScriptedSource([Pause(60), Record("never")])
    source.cancel()
    out = _Output()
    source.run(SourceContext(out))
    assert out.events == []


def test_collect_sink_reads_its_accumulator_from_the_result():
    sink = CollectSink()
    harness = OneInputStreamOperatorTestHarness(SinkOperator(sink))
    harness.process_batch([1, 2])
    acc = harness.accumulators[sink.name]
    result = JobExecutionResult("0" * 32, 0, {sink.name: acc.get_local_value()})
    assert sink.records(result) == [1, 2]
    assert CollectSink("other").records(result) == []
    assert CollectSink().name != sink.name


class _Counted(MapFunction):
    def open(self, runtime_context) -> None:
        self.seen = runtime_context.get_metrics_group().counter("seen")

    def map(self, value):
        self.seen.inc()
        return value


def test_harness_gives_a_real_metric_group():
    harness = OneInputStreamOperatorTestHarness(MapOperator(_Counted()))
    assert harness.process_element(5) == [5]
    assert harness.operator.function.seen.get_count() == 1


class _Timeouts(KeyedProcessFunction):
    def process_element(self, value, ctx):
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)
        ctx.timer_service().register_processing_time_timer(
            ctx.timer_service().current_processing_time() + 100)
        return ()

    def on_timer(self, timestamp, ctx):
        yield ctx.get_current_key(), timestamp, ctx.time_domain().name


def test_keyed_harness_timers_and_snapshot_restore():
    op = KeyedProcessOperator(_Timeouts(), operator.itemgetter(0))
    with KeyedOneInputStreamOperatorTestHarness(op, processing_time=1000) as harness:
        harness.process_element(("a", 1), timestamp=5)
        operator_state, keyed_state = harness.snapshot()
        assert harness.process_watermark(20) == ([("a", 15, "EVENT_TIME")], [15])
        harness.set_processing_time(1100)
        assert harness.timer_output == [("a", 1100, "PROCESSING_TIME")]
    restored = KeyedOneInputStreamOperatorTestHarness(
        op, processing_time=1000, operator_state=operator_state, keyed_state=keyed_state)
    assert restored.process_watermark(20)[0] == [("a", 15, "EVENT_TIME")]


def test_keyed_operators_need_a_keyed_backend():
    op = KeyedReduceOperator(lambda a, b: a, operator.itemgetter(0))
    op.setup(OneInputStreamOperatorTestHarness(MapOperator(str), open=False).context)
    with pytest.raises(RuntimeError, match="no keyed state backend"):
        op.open()


def test_the_kit_imports_without_pytest():
    code = ("import sys; sys.modules['pytest'] = None; import headwater.testing; "
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "ok"
