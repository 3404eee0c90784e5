"""Every operator on small batches: results, timestamps, state, lifecycle."""

from __future__ import annotations

import operator
from types import SimpleNamespace

import pytest

from headwater.api.accumulators import IntCounter, ListAccumulator
from headwater.api.functions import (
    FilterFunction,
    FlatMapFunction,
    KeyedProcessFunction,
    MapFunction,
    ProcessFunction,
    ReduceFunction,
    SinkFunction,
    SourceFunction,
)
from headwater.api.key_selectors import FieldKeySelector
from headwater.api.state import (
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    ValueStateDescriptor,
)
from headwater.runtime.operators.base import SourceOperator
from headwater.runtime.operators.keyed import (
    KeyedAggregationOperator,
    KeyedProcessOperator,
    KeyedReduceOperator,
)
from headwater.runtime.operators.simple import (
    FilterOperator,
    FlatMapOperator,
    MapOperator,
    PrintSinkOperator,
    ProcessOperator,
    SinkOperator,
)
from headwater.runtime.operators.sources import (
    CollectionSource,
    SequenceSource,
    UserSource,
)
from headwater.runtime.state.heap import HeapKeyedStateBackend
from headwater.runtime.state.key_groups import KeyGroupRange, assign_to_key_group
from headwater.testing import (
    KeyedOneInputStreamOperatorTestHarness,
    OneInputStreamOperatorTestHarness,
)


def opened(op, subtask: int = 0, parallelism: int = 1, accumulators=None):
    """The operator shipped, set up and opened by a test harness, as a task does."""
    return OneInputStreamOperatorTestHarness(op, subtask_index=subtask, parallelism=parallelism,
                                             accumulators=accumulators).operator


class FakeOutput:
    """A SourceOutput that records what a source emits."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.values: list = []
        self.timestamps: list = []
        self.batches = 0
        self.cancel_after = cancel_after

    @property
    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.values) >= self.cancel_after

    def collect(self, value) -> None:
        self.values.append(value)
        self.timestamps.append(None)

    def collect_with_timestamp(self, value, timestamp) -> None:
        self.values.append(value)
        self.timestamps.append(timestamp)

    def collect_batch(self, values, timestamps=None) -> None:
        self.batches += 1
        self.values.extend(values)
        self.timestamps.extend(timestamps or [None] * len(values))


# -- map / flat_map / filter ------------------------------------------------------------


def test_map_with_callable_and_timestamps_pass_through():
    op = opened(MapOperator(lambda x: x * 10))
    assert op.process_batch([1, 2, 3], None) == ([10, 20, 30], None)
    assert op.process_batch([4, 5], [100, 200]) == ([40, 50], [100, 200])
    assert op.process_batch([], None) == ([], None)


class Prefix(MapFunction):
    def open(self, runtime_context):
        self.prefix = f"{runtime_context.get_index_of_this_subtask()}/" \
                      f"{runtime_context.get_number_of_parallel_subtasks()}:"
        self.calls = IntCounter()
        runtime_context.add_accumulator("calls", self.calls)

    def map(self, value):
        self.calls.add(1)
        return self.prefix + value

    def close(self):
        self.closed = True


def test_map_function_class_open_close_and_accumulators():
    accs: dict = {}
    op = opened(MapOperator(Prefix()), subtask=1, parallelism=3, accumulators=accs)
    assert op.process_batch(["a", "b"], None) == (["1/3:a", "1/3:b"], None)
    assert accs["calls"].get_local_value() == 2
    op.close()
    assert op.function.closed


def test_flat_map_with_generator_and_timestamps():
    op = opened(FlatMapOperator(lambda line: (w for w in line.split())))
    assert op.process_batch(["a b", "", "c"], None) == (["a", "b", "c"], None)
    values, ts = op.process_batch(["a b", "", "c d e"], [1, 2, 3])
    assert values == ["a", "b", "c", "d", "e"]
    assert ts == [1, 1, 3, 3, 3]


class Split(FlatMapFunction):
    def flat_map(self, value):
        yield from value.split(",")


def test_flat_map_function_class():
    op = opened(FlatMapOperator(Split()))
    assert op.process_batch(["x,y", "z"], None) == (["x", "y", "z"], None)


def test_filter_callable_class_and_timestamps():
    op = opened(FilterOperator(lambda x: x % 2 == 0))
    assert op.process_batch([1, 2, 3, 4], None) == ([2, 4], None)
    assert op.process_batch([1, 2, 3, 4], [10, 20, 30, 40]) == ([2, 4], [20, 40])

    class Positive(FilterFunction):
        def filter(self, value):
            return value > 0

    op = opened(FilterOperator(Positive()))
    assert op.process_batch([-1, 0, 5], None) == ([5], None)


def test_non_callable_function_is_rejected_at_build_time():
    with pytest.raises(TypeError):
        MapOperator(42)
    with pytest.raises(TypeError):
        UserSource(42)


# -- process ----------------------------------------------------------------------------


class Tagger(ProcessFunction):
    def process_element(self, value, ctx):
        yield (value, ctx.timestamp())
        if value == "twice":
            yield (value, ctx.timestamp())


def test_process_function_yields_and_sees_timestamps():
    op = opened(ProcessOperator(Tagger()))
    assert op.process_batch(["a", "twice"], None) == ([("a", None), ("twice", None),
                                                       ("twice", None)], None)
    values, ts = op.process_batch(["a", "twice"], [5, 6])
    assert values == [("a", 5), ("twice", 6), ("twice", 6)]
    assert ts == [5, 6, 6]


def test_process_function_may_return_list_or_none():
    op = opened(ProcessOperator(lambda v, ctx: [v] if v else None))
    assert op.process_batch([0, 1, 2], None) == ([1, 2], None)


def test_timers_need_a_keyed_stream():
    class Timers(ProcessFunction):
        def process_element(self, value, ctx):
            ctx.timer_service().register_event_time_timer(10)
            return []

    op = opened(ProcessOperator(Timers()))
    with pytest.raises(RuntimeError, match="only supported on a keyed streams"):
        op.process_batch([1], None)


# -- sinks ------------------------------------------------------------------------------


class Collect(SinkFunction):
    def open(self, runtime_context):
        self.acc = ListAccumulator()
        runtime_context.add_accumulator("out", self.acc)

    def invoke(self, value, context):
        self.acc.add((value, context.timestamp()))


def test_sink_function_gets_values_and_timestamps():
    accs: dict = {}
    op = opened(SinkOperator(Collect()), accumulators=accs)
    assert op.process_batch([1, 2], None) == ([], None)
    assert op.process_batch([3], [30]) == ([], None)
    assert accs["out"].get_local_value() == [(1, None), (2, None), (3, 30)]


def test_plain_callable_sink_called_per_record():
    seen = []
    sink = OneInputStreamOperatorTestHarness(SinkOperator(seen.append), ship=False).operator
    sink.process_batch([1, 2, 3], None)
    sink.process_batch([4], [1])
    assert seen == [1, 2, 3, 4]


def test_duplicate_accumulator_name_fails():
    accs = {"out": IntCounter()}
    with pytest.raises(ValueError, match="already exists"):
        opened(SinkOperator(Collect()), accumulators=accs)


def test_print_sink_prefixes_subtask_when_parallel(capsys):
    op = opened(PrintSinkOperator(), subtask=1, parallelism=2)
    op.process_batch([1, "a"], None)
    assert capsys.readouterr().out == "2> 1\n2> a\n"
    op = opened(PrintSinkOperator())
    op.process_batch([(1, 2)], None)
    assert capsys.readouterr().out == "(1, 2)\n"
    op = opened(PrintSinkOperator("ident"), subtask=0, parallelism=3)
    op.process_batch(["x"], None)
    assert capsys.readouterr().out == "ident:1> x\n"


# -- keyed ------------------------------------------------------------------------------


def test_keyed_sum_emits_running_sums_like_flink():
    op = opened(KeyedAggregationOperator("sum", 1, operator.itemgetter(0)))
    out, ts = op.process_batch([("a", 1), ("b", 5), ("a", 2), ("a", 3)], [1, 2, 3, 4])
    assert out == [("a", 1), ("b", 5), ("a", 3), ("a", 6)]
    assert ts == [1, 2, 3, 4]
    out, _ = op.process_batch([("b", 1)], None)
    assert out == [("b", 6)]
    # the backend table holds the running records
    assert op.ctx.keyed_state_backend.tables["_aggregate"] == {"a": ("a", 6), "b": ("b", 6)}


def test_keyed_sum_keeps_first_record_fields():
    op = opened(KeyedAggregationOperator("sum", 1, operator.itemgetter(0)))
    out, _ = op.process_batch([("a", 1, "first"), ("a", 2, "second")], None)
    assert out == [("a", 1, "first"), ("a", 3, "first")]
    op = opened(KeyedAggregationOperator("sum", 2, operator.itemgetter(0)))
    out, _ = op.process_batch([("a", "x", 1.5, 0), ("a", "y", 2.0, 9)], None)
    assert out == [("a", "x", 1.5, 0), ("a", "x", 3.5, 0)]


def test_keyed_sum_by_field_0_handles_every_record_shape():
    # key_by(0).sum(1) has a fast path; records of other lengths (in the batch or in
    # the running state) come out as on the general path
    op = opened(KeyedAggregationOperator("sum", 1, operator.itemgetter(0)))
    out, _ = op.process_batch([("a", 1, "x"), ("a", 2), ("b", 1), ("b", 2, "y"), ["c", 1],
                               ["c", 4]], None)
    assert out == [("a", 1, "x"), ("a", 3, "x"), ("b", 1), ("b", 3), ["c", 1], ("c", 5)]
    with pytest.raises(TypeError):
        op.process_batch([("a", "not a number")], None)
    # pairs first, then a longer record in the middle of a batch, then pairs whose
    # running value is longer: every record counted once, as on the general path
    op = opened(KeyedAggregationOperator("sum", 1, operator.itemgetter(0)))
    out, _ = op.process_batch([("a", 1), ("b", 1), ("c", 1, "z"), ("a", 2), ("c", 3)], None)
    assert out == [("a", 1), ("b", 1), ("c", 1, "z"), ("a", 3), ("c", 4, "z")]
    out, _ = op.process_batch([("a", 1), ("c", 1), ("b", 5)], None)
    assert out == [("a", 4), ("c", 5, "z"), ("b", 6)]
    assert op.ctx.keyed_state_backend.tables["_aggregate"] == {
        "a": ("a", 4), "b": ("b", 6), "c": ("c", 5, "z")}


def test_keyed_min_max_and_by():
    recs = [("a", 3, "p"), ("a", 1, "q"), ("a", 2, "r"), ("a", 1, "s")]
    ks = operator.itemgetter(0)
    assert opened(KeyedAggregationOperator("min", 1, ks)).process_batch(recs, None)[0] == [
        ("a", 3, "p"), ("a", 1, "p"), ("a", 1, "p"), ("a", 1, "p")]
    assert opened(KeyedAggregationOperator("max", 1, ks)).process_batch(recs, None)[0] == [
        ("a", 3, "p"), ("a", 3, "p"), ("a", 3, "p"), ("a", 3, "p")]
    assert opened(KeyedAggregationOperator("min_by", 1, ks)).process_batch(recs, None)[0] == [
        ("a", 3, "p"), ("a", 1, "q"), ("a", 1, "q"), ("a", 1, "q")]
    assert opened(KeyedAggregationOperator("max_by", 1, ks)).process_batch(recs, None)[0] == [
        ("a", 3, "p"), ("a", 3, "p"), ("a", 3, "p"), ("a", 3, "p")]


def test_keyed_sum_on_dicts_objects_lists_and_scalars():
    op = opened(KeyedAggregationOperator("sum", "n", FieldKeySelector("k")))
    out, _ = op.process_batch([{"k": "a", "n": 1}, {"k": "a", "n": 4}], None)
    assert out == [{"k": "a", "n": 1}, {"k": "a", "n": 5}]

    op = opened(KeyedAggregationOperator("sum", "n", FieldKeySelector("k")))
    first = SimpleNamespace(k="a", n=1)
    out, _ = op.process_batch([first, SimpleNamespace(k="a", n=2)], None)
    assert [o.n for o in out] == [1, 3]
    assert first.n == 1  # input records are not mutated

    op = opened(KeyedAggregationOperator("sum", 1, operator.itemgetter(0)))
    out, _ = op.process_batch([["a", 1], ["a", 2]], None)
    assert out == [["a", 1], ["a", 3]]

    op = opened(KeyedAggregationOperator("max", 0, lambda x: x % 2))
    out, _ = op.process_batch([1, 4, 3, 2, 7], None)
    assert out == [1, 4, 3, 4, 7]


def test_keyed_reduce_running_result():
    op = opened(KeyedReduceOperator(lambda a, b: (a[0], a[1] + b[1]), operator.itemgetter(0)))
    out, ts = op.process_batch([("x", 1), ("y", 10), ("x", 2)], [7, 8, 9])
    assert out == [("x", 1), ("y", 10), ("x", 3)]
    assert ts == [7, 8, 9]
    assert op.process_batch([("y", 1)], None)[0] == [("y", 11)]


class MaxReduce(ReduceFunction):
    def open(self, runtime_context):
        self.seen = runtime_context.get_state(ValueStateDescriptor("seen", default_value=0))

    def reduce(self, a, b):
        self.seen.update(self.seen.value() + 1)
        return max(a, b)


def test_keyed_reduce_function_class_can_use_keyed_state():
    op = opened(KeyedReduceOperator(MaxReduce(), lambda v: v % 3))
    assert op.process_batch([3, 1, 9, 4, 0], None)[0] == [3, 1, 9, 4, 9]
    assert op.ctx.keyed_state_backend.tables["seen"] == {0: 2, 1: 1}


class RunningAverage(KeyedProcessFunction):
    def open(self, runtime_context):
        self.stats = runtime_context.get_state(ValueStateDescriptor("count-and-sum"))

    def process_element(self, value, ctx):
        count, total = self.stats.value() or (0, 0.0)
        count, total = count + 1, total + value[1]
        self.stats.update((count, total))
        yield ctx.get_current_key(), count, total / count


def test_keyed_process_with_value_state_and_timestamps():
    harness = KeyedOneInputStreamOperatorTestHarness(
        KeyedProcessOperator(RunningAverage(), operator.itemgetter(0)))
    op, backend = harness.operator, harness.keyed_state_backend
    assert op.backend is backend  # the task's backend is used
    out, ts = op.process_batch([("a", 2.0), ("b", 4.0), ("a", 4.0)], [1, 2, 3])
    assert out == [("a", 1, 2.0), ("b", 1, 4.0), ("a", 2, 3.0)]
    assert ts == [1, 2, 3]
    out, ts = op.process_batch([("b", 0.0)], None)
    assert out == [("b", 2, 2.0)] and ts is None
    assert backend.tables["count-and-sum"] == {"a": (2, 6.0), "b": (2, 4.0)}


class AllStates(KeyedProcessFunction):
    def open(self, rc):
        self.lst = rc.get_list_state(ListStateDescriptor("l"))
        self.map = rc.get_map_state(MapStateDescriptor("m"))
        self.red = rc.get_reducing_state(ReducingStateDescriptor("r", lambda a, b: a + b))

    def process_element(self, value, ctx):
        self.lst.add(value)
        self.map.put(value, len(list(self.lst.get())))
        self.red.add(value)
        yield ctx.get_current_key(), list(self.lst.get()), dict(self.map.items()), self.red.get()


def test_list_map_reducing_state():
    op = opened(KeyedProcessOperator(AllStates(), lambda v: v % 2))
    out, _ = op.process_batch([1, 2, 3], None)
    assert out == [(1, [1], {1: 1}, 1), (0, [2], {2: 1}, 2), (1, [1, 3], {1: 1, 3: 2}, 4)]


def test_keyed_state_outside_keyed_stream_fails():
    class Bad(MapFunction):
        def open(self, rc):
            rc.get_state(ValueStateDescriptor("x"))

        def map(self, value):
            return value

    with pytest.raises(RuntimeError, match="keyed stream"):
        opened(MapOperator(Bad()))


def test_keyed_operator_uses_task_backend_and_snapshot_restore():
    harness = KeyedOneInputStreamOperatorTestHarness(
        KeyedAggregationOperator("sum", 1, operator.itemgetter(0)), parallelism=2)
    op, backend = harness.operator, harness.keyed_state_backend
    assert backend.key_group_range == KeyGroupRange(0, 63)
    op.process_batch([(k, 1) for k in ["a", "b", "c", "a"]], None)
    assert backend.tables["_aggregate"]["a"] == ("a", 2)
    snap = backend.snapshot()
    for kg, per_state in snap.items():
        for key in per_state["_aggregate"]:
            assert assign_to_key_group(key, 128) == kg
    # restore into two backends of a rescaled job: each keeps only its key groups
    halves = [HeapKeyedStateBackend(128, KeyGroupRange(0, 63)),
              HeapKeyedStateBackend(128, KeyGroupRange(64, 127))]
    for b in halves:
        b.restore([snap])
    merged = {**halves[0].tables.get("_aggregate", {}), **halves[1].tables.get("_aggregate", {})}
    assert merged == {"a": ("a", 2), "b": ("b", 1), "c": ("c", 1)}
    for b in halves:
        for key in b.tables.get("_aggregate", {}):
            assert assign_to_key_group(key, 128) in b.key_group_range


# -- sources ----------------------------------------------------------------------------


def run_source(op: SourceOperator, subtask=0, parallelism=1, output=None) -> FakeOutput:
    op = OneInputStreamOperatorTestHarness(op, subtask_index=subtask,
                                           parallelism=parallelism).operator
    output = output or FakeOutput()
    op.run(output)
    op.close()
    return output


def test_collection_source_shares_elements_across_subtasks():
    src = CollectionSource(list("abcdefg"))
    shares = [run_source(src, i, 3).values for i in range(3)]
    assert shares == [["a", "d", "g"], ["b", "e"], ["c", "f"]]
    assert run_source(src).values == list("abcdefg")


def test_sequence_source_contiguous_ranges_in_chunks():
    src = SequenceSource(1, 3000)
    outs = [run_source(src, i, 2) for i in range(2)]
    assert outs[0].values == list(range(1, 1501))
    assert outs[1].values == list(range(1501, 3001))
    assert 2 <= outs[0].batches <= 1500  # chunk sizes adapt (ChunkSizer), at most 1024
    three = [run_source(SequenceSource(0, 9), i, 3).values for i in range(3)]
    assert three == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    with pytest.raises(ValueError):
        SequenceSource(5, 1)


def test_sequence_source_stops_when_cancelled():
    out = run_source(SequenceSource(1, 100_000), output=FakeOutput(cancel_after=2048))
    assert 2048 <= len(out.values) < 2048 + 1024  # stops after the current chunk


class Counter(SourceFunction):
    def __init__(self, n):
        self.n = n
        self.running = True

    def open(self, runtime_context):
        self.base = runtime_context.get_index_of_this_subtask() * 1000

    def run(self, ctx):
        for i in range(self.n):
            if not self.running:
                return
            if i % 2:
                ctx.collect_with_timestamp(self.base + i, i * 10)
            else:
                ctx.collect(self.base + i)

    def cancel(self):
        self.running = False


def test_user_source_function():
    out = run_source(UserSource(Counter(4)), subtask=1, parallelism=2)
    assert out.values == [1000, 1001, 1002, 1003]
    assert out.timestamps == [None, 10, None, 30]


def test_user_source_cancel_reaches_function():
    src = OneInputStreamOperatorTestHarness(UserSource(Counter(10))).operator
    src.cancel()
    assert src.source.running is False
    out = FakeOutput()
    src.run(out)
    assert out.values == []


def test_generator_function_and_iterable_sources():
    def gen():
        yield from range(5)

    assert run_source(UserSource(gen)).values == [0, 1, 2, 3, 4]
    assert run_source(UserSource([7, 8])).values == [7, 8]
    assert run_source(UserSource(lambda: iter("ab"))).values == ["a", "b"]


def test_generator_source_checks_cancel():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    out = run_source(UserSource(endless), output=FakeOutput(cancel_after=3000))
    assert 3000 <= len(out.values) <= 4096
