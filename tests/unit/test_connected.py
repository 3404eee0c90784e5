"""Connected streams and broadcast state: the API's graph, the co-operators' dispatch,
keyed state and timers over both inputs, broadcast state snapshot, restore and
redistribution (real operators in the operator test harness)."""

from __future__ import annotations

import pickle
import queue
import threading

import pytest

from headwater.api import (
    BroadcastConnectedStream,
    BroadcastProcessFunction,
    BroadcastStream,
    CoFlatMapFunction,
    CoMapFunction,
    ConnectedStreams,
    CoProcessFunction,
    DataStream,
    KeyedBroadcastProcessFunction,
    KeyedCoProcessFunction,
    ListStateDescriptor,
    MapFunction,
    MapStateDescriptor,
    OutputTag,
    StreamExecutionEnvironment,
    TimeDomain,
    ValueStateDescriptor,
)
from headwater.graph.job_graph import ShipStrategy
from headwater.graph.serialization import deserialize_job_graph, serialize_job_graph
from headwater.runtime.checkpoint.redistribution import (
    StateMismatch,
    redistribute_operator_state,
)
from headwater.runtime.network.partition import ResultPartition
from headwater.runtime.network.record_writer import RecordWriter
from headwater.runtime.operators.co_operators import (
    BroadcastProcessOperator,
    CoOperator,
    KeyedBroadcastProcessOperator,
    KeyedCoOperator,
)
from headwater.runtime.state.key_groups import assign_to_key_group
from headwater.runtime.state.operator_state import HeapOperatorStateStore
from headwater.testing import (
    KeyedOneInputStreamOperatorTestHarness,
    OneInputStreamOperatorTestHarness,
)

RULES = MapStateDescriptor("rules")
LATE = OutputTag("late")


def env_of(parallelism: int = 2) -> StreamExecutionEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    return env


class Tag(CoMapFunction):
    def map1(self, value):
        return ("one", value)

    def map2(self, value):
        return ("two", value)


class Repeat(CoFlatMapFunction):
    def flat_map1(self, value):
        yield from [value] * 2

    def flat_map2(self, value):
        return None


class Route(CoProcessFunction):
    def process_element1(self, value, ctx):
        yield value, ctx.timestamp()

    def process_element2(self, value, ctx):
        ctx.output(LATE, value)
        yield LATE, -value


# -- the API and the graph ------------------------------------------------------------------


def test_connect_builds_one_vertex_with_two_inputs_and_their_strategies():
    env = env_of()
    a = env.from_collection([1, 2]).name("a")
    b = env.from_collection(["x"]).name("b").set_parallelism(1)
    connected = a.connect(b)
    assert isinstance(connected, ConnectedStreams)
    out = connected.key_by(lambda v: v, lambda v: v).map(Tag()).name("tag").uid("tag")
    assert isinstance(out, DataStream) and out.get_name() == "tag"
    out.print()
    graph = env.get_job_graph("connected")
    vertex = next(v for v in graph.vertices if v.name.startswith("tag"))
    assert vertex.name == "tag -> Sink: Print to Std. Out"
    assert [e.ship_strategy for e in vertex.inputs] == [ShipStrategy.HASH, ShipStrategy.HASH]
    assert sorted(e.type_number for e in vertex.inputs) == [1, 2]
    plan = next(n for n in graph.plan()["nodes"] if n["id"] == vertex.vertex_id)
    assert [i["ship_strategy"] for i in plan["inputs"]] == ["HASH", "HASH"]
    assert isinstance(vertex.operators[0].operator, KeyedCoOperator)
    again = deserialize_job_graph(serialize_job_graph(graph))
    assert sorted(e.type_number for e in again.vertex(vertex.vertex_id).inputs) == [1, 2]


def test_connect_without_partitioning_is_forward_or_rebalance_and_never_chained():
    env = env_of()
    a = env.from_collection([1, 2])
    b = env.from_collection([3]).set_parallelism(1)
    a.connect(b).flat_map(Repeat()).print()
    graph = env.get_job_graph("connected")
    co = next(v for v in graph.vertices if v.name.startswith("Co-Flat Map"))
    by_type = {e.type_number: e.ship_strategy for e in co.inputs}
    assert by_type == {1: ShipStrategy.FORWARD, 2: ShipStrategy.REBALANCE}
    assert len(graph.vertices) == 3
    assert isinstance(co.operators[0].operator, CoOperator)


def test_broadcast_with_descriptors_gives_a_broadcast_stream_without_them_a_partitioning():
    env = env_of()
    rules = env.from_collection([("a", 1)])
    assert isinstance(rules.broadcast(), DataStream)
    broadcast = rules.broadcast(RULES)
    assert isinstance(broadcast, BroadcastStream)
    events = env.from_collection(["a"])
    connected = events.key_by(lambda e: e).connect(broadcast)
    assert isinstance(connected, BroadcastConnectedStream)
    connected.process(ApplyRules()).print()
    graph = env.get_job_graph("rules")
    co = next(v for v in graph.vertices if v.name.startswith("Co-Process-Broadcast-Keyed"))
    by_type = {e.type_number: e.ship_strategy for e in co.inputs}
    assert by_type == {1: ShipStrategy.HASH, 2: ShipStrategy.BROADCAST}
    assert isinstance(co.operators[0].operator, KeyedBroadcastProcessOperator)


def test_wrong_functions_and_streams_are_refused():
    env = env_of()
    a, b = env.from_collection([1]), env.from_collection([2])
    with pytest.raises(TypeError, match="CoMapFunction"):
        a.connect(b).map(lambda x: x)
    with pytest.raises(TypeError, match="CoFlatMapFunction"):
        a.connect(b).flat_map(Tag())
    with pytest.raises(TypeError, match="key_by"):
        a.connect(b).process(Join())
    with pytest.raises(TypeError, match="KeyedBroadcastProcessFunction"):
        a.key_by(lambda x: x).connect(b.broadcast(RULES)).process(Threshold())
    with pytest.raises(TypeError, match="BroadcastProcessFunction"):
        a.connect(b.broadcast(RULES)).process(ApplyRules())
    with pytest.raises(TypeError, match="MapStateDescriptor"):
        b.broadcast(ValueStateDescriptor("v"))
    with pytest.raises(TypeError, match="connect"):
        a.connect(42)
    other = env_of().__class__()
    with pytest.raises(ValueError, match="different environments"):
        a.connect(other.from_collection([1]))


# -- co-map, co-flat-map, co-process ---------------------------------------------------------


def test_co_map_dispatches_by_input_and_keeps_timestamps():
    with OneInputStreamOperatorTestHarness(CoOperator(Tag(), "map")) as h:
        assert h.process_batch([(0, 1), (1, "x"), (0, 2)], [5, 6, 7]) == (
            [("one", 1), ("two", "x"), ("one", 2)], [5, 6, 7])
        assert h.process_batch([(1, "y")]) == ([("two", "y")], None)


def test_co_flat_map_outputs_per_input():
    with OneInputStreamOperatorTestHarness(CoOperator(Repeat(), "flat_map")) as h:
        assert h.process_batch([(0, "a"), (1, "b"), (0, "c")], [1, 2, 3]) == (
            ["a", "a", "c", "c"], [1, 1, 3, 3])


def test_co_process_side_outputs_by_yield_and_ctx_output():
    with OneInputStreamOperatorTestHarness(CoOperator(Route(), "process")) as h:
        assert h.process_batch([(0, "a"), (1, 3)], [10, 20]) == ([("a", 10)], [10])
        assert h.side_outputs["late"] == [3, -3]
        assert h.side_output_timestamps["late"] == [20, 20]


def test_timers_need_keyed_inputs():
    class Timer(CoProcessFunction):
        def process_element1(self, value, ctx):
            ctx.timer_service().register_event_time_timer(1)

        def process_element2(self, value, ctx):
            return None

    with OneInputStreamOperatorTestHarness(CoOperator(Timer(), "process")) as h:
        with pytest.raises(RuntimeError, match="keyed"):
            h.process_batch([(0, 1)])


class Join(KeyedCoProcessFunction):
    """Orders (id, item) on input 1 and payments (id, amount) on input 2, joined per id;
    an order unpaid 10 ms after its time times out."""

    def open(self, runtime_context):
        self.order = runtime_context.get_state(ValueStateDescriptor("order"))

    def process_element1(self, value, ctx):
        self.order.update(value[1])
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)

    def process_element2(self, value, ctx):
        item = self.order.value()
        if item is None:
            ctx.output(LATE, (ctx.get_current_key(), value[1]))
            return
        self.order.clear()
        yield ctx.get_current_key(), item, value[1]

    def on_timer(self, timestamp, ctx):
        if self.order.value() is not None:
            assert ctx.time_domain() == TimeDomain.EVENT_TIME
            yield ctx.get_current_key(), "unpaid", timestamp
            self.order.clear()


def key0(value):
    return value[0]


def test_keyed_co_process_shares_state_and_timers_across_inputs():
    op = KeyedCoOperator(Join(), "process", (key0, key0))
    h = KeyedOneInputStreamOperatorTestHarness(op)
    assert h.process_batch([(0, ("o1", "book")), (0, ("o2", "pen")), (1, ("o1", 12))],
                           [1, 2, 3]) == ([("o1", "book", 12)], [3])
    assert h.process_watermark(11) == ([], None)  # o1 was paid
    state = h.snapshot()
    h.close()
    # restore: the keyed state and the timer of o2 survive
    h2 = KeyedOneInputStreamOperatorTestHarness(
        KeyedCoOperator(Join(), "process", (key0, key0)), operator_state=state[0],
        keyed_state=state[1])
    assert h2.process_watermark(12) == ([("o2", "unpaid", 12)], [12])
    assert h2.process_batch([(1, ("o2", 5))], [13]) == ([], None)
    assert h2.side_outputs["late"] == [("o2", 5)]
    h2.close()


def test_keyed_co_map_uses_each_inputs_key_selector():
    class Count(CoMapFunction):
        def open(self, runtime_context):
            self.seen = runtime_context.get_state(ValueStateDescriptor("seen"))

        def map1(self, value):
            n = (self.seen.value() or 0) + 1
            self.seen.update(n)
            return value, n

        map2 = map1

    op = KeyedCoOperator(Count(), "map", (key0, lambda s: s))
    with KeyedOneInputStreamOperatorTestHarness(op) as h:
        assert h.process_batch([(0, ("a", 1)), (1, "a"), (1, "b")])[0] == [
            (("a", 1), 1), ("a", 2), ("b", 1)]


# -- broadcast state -------------------------------------------------------------------------


class Threshold(BroadcastProcessFunction):
    def process_element(self, value, ctx):
        limit = ctx.get_broadcast_state(RULES).get("max")
        if limit is None or value <= limit:
            yield value

    def process_broadcast_element(self, value, ctx):
        ctx.get_broadcast_state(RULES).put("max", value)
        ctx.output(LATE, ("rule", value))


class Writer(BroadcastProcessFunction):
    def process_element(self, value, ctx):
        ctx.get_broadcast_state(RULES).put("max", value)

    def process_broadcast_element(self, value, ctx):
        return None


def test_broadcast_elements_write_the_state_other_elements_read_it():
    with OneInputStreamOperatorTestHarness(BroadcastProcessOperator(Threshold(), [RULES])) as h:
        assert h.process_batch([(0, 5), (1, 3), (0, 2), (0, 4)], [1, 2, 3, 4]) == (
            [5, 2], [1, 3])
        assert h.side_outputs["late"] == [("rule", 3)]


def test_writing_broadcast_state_from_the_non_broadcast_side_fails_clearly():
    with OneInputStreamOperatorTestHarness(BroadcastProcessOperator(Writer(), [RULES])) as h:
        with pytest.raises(RuntimeError, match="read-only.*process_broadcast_element"):
            h.process_batch([(0, 1)])


def test_unknown_broadcast_state_is_refused():
    class Unknown(Threshold):
        def process_broadcast_element(self, value, ctx):
            ctx.get_broadcast_state(MapStateDescriptor("other")).put("x", 1)

    with OneInputStreamOperatorTestHarness(BroadcastProcessOperator(Unknown(), [RULES])) as h:
        with pytest.raises(ValueError, match="no broadcast state 'other'.*rules"):
            h.process_batch([(1, 1)])


def test_broadcast_state_snapshot_and_restore():
    h = OneInputStreamOperatorTestHarness(BroadcastProcessOperator(Threshold(), [RULES]))
    h.process_batch([(1, 3)])
    operator_state, _ = h.snapshot()
    h.close()
    assert operator_state == {"rules": ("broadcast", [{"max": 3}])}
    pickle.loads(pickle.dumps(operator_state))
    h2 = OneInputStreamOperatorTestHarness(BroadcastProcessOperator(Threshold(), [RULES]),
                                           operator_state=operator_state)
    assert h2.process_batch([(0, 1), (0, 7)]) == ([1], None)
    h2.close()


def test_broadcast_state_redistribution_gives_every_new_subtask_one_copy():
    copies = [{"rules": ("broadcast", [{"max": 3}]), "offsets": ("split", [i, i + 10])}
              for i in range(2)]
    for new_parallelism in (1, 3, 4):
        states = [redistribute_operator_state(copies, new_parallelism, i)
                  for i in range(new_parallelism)]
        assert all(s["rules"] == ("broadcast", [{"max": 3}]) for s in states)
        assert sorted(x for s in states for x in s["offsets"][1]) == [0, 1, 10, 11]
    mixed = [{"s": ("broadcast", [{}])}, {"s": ("union", [1])}]
    with pytest.raises(StateMismatch, match="modes"):
        redistribute_operator_state(mixed, 3, 0)
    restored = redistribute_operator_state(copies, 3, 2)
    store = HeapOperatorStateStore(restored)
    assert store.get_broadcast_entries("rules") == {"max": 3}
    with pytest.raises(ValueError, match="checkpointed as 'split'"):
        store.get_broadcast_entries("offsets")


class ApplyRules(KeyedBroadcastProcessFunction):
    """Counts events per key; a rule (key, factor) multiplies the counts it sees. Events
    before their rule wait in keyed state; the rule releases them."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))
        self.pending = runtime_context.get_list_state(ListStateDescriptor("pending"))

    def process_element(self, value, ctx):
        factor = ctx.get_broadcast_state(RULES).get(ctx.get_current_key())
        if factor is None:
            self.pending.add(value)
            ctx.timer_service().register_event_time_timer(100)
            return
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        yield value, n * factor

    def process_broadcast_element(self, value, ctx):
        key, factor = value
        ctx.get_broadcast_state(RULES).put(key, factor)
        released = []

        def release(k, pending):
            if k == key:
                for v in pending.get():
                    n = (self.count.value() or 0) + 1
                    self.count.update(n)
                    released.append((v, n * factor))
                pending.clear()

        ctx.apply_to_keyed_state(ListStateDescriptor("pending"), release)
        yield from released

    def on_timer(self, timestamp, ctx):
        rules = ctx.get_broadcast_state(RULES)
        yield "timer", ctx.get_current_key(), timestamp, sorted(rules.items())
        with pytest.raises(RuntimeError, match="read-only"):
            rules.put("x", 1)


def test_keyed_broadcast_applies_to_keyed_state_and_fires_timers():
    op = KeyedBroadcastProcessOperator(ApplyRules(), [RULES], lambda s: s)
    h = KeyedOneInputStreamOperatorTestHarness(op)
    assert h.process_batch([(0, "a"), (0, "b"), (0, "a")], [1, 2, 3])[0] == []
    assert h.process_batch([(1, ("a", 10))], [4]) == ([("a", 10), ("a", 20)], [4, 4])
    assert h.process_batch([(0, "a")])[0] == [("a", 30)]
    operator_state, keyed_state = h.snapshot()
    h.close()
    h2 = KeyedOneInputStreamOperatorTestHarness(
        KeyedBroadcastProcessOperator(ApplyRules(), [RULES], lambda s: s),
        operator_state=operator_state, keyed_state=keyed_state)
    assert h2.process_batch([(0, "a"), (1, ("b", 2))])[0] == [("a", 40), ("b", 2)]
    values, timestamps = h2.process_watermark(100)
    assert values == [("timer", "a", 100, [("a", 10), ("b", 2)]),
                      ("timer", "b", 100, [("a", 10), ("b", 2)])]
    h2.close()


def test_co_operators_survive_shipping_before_open():
    for op in (CoOperator(Tag(), "map"), KeyedCoOperator(Join(), "process", (key0, key0)),
               BroadcastProcessOperator(Threshold(), [RULES]),
               KeyedBroadcastProcessOperator(ApplyRules(), [RULES], key0)):
        KeyedOneInputStreamOperatorTestHarness(op).close()  # shipped with cloudpickle
    with pytest.raises(TypeError):
        CoOperator(MapFunction(), "map")


@pytest.mark.parametrize("strategy", ["FORWARD", "REBALANCE", "BROADCAST", "HASH"])
def test_record_writers_tag_records_with_their_input_after_choosing_the_channel(strategy):
    channels = 1 if strategy == "FORWARD" else 3
    partition = ResultPartition("p", channels, threading.Event())
    gate: queue.SimpleQueue = queue.SimpleQueue()
    for i, sub in enumerate(partition.subpartitions):
        sub.attach_local(gate, i, credits=100)
    writer = RecordWriter(partition, strategy, batch_size=1000, key_selector=key0,
                          max_parallelism=128, input_tag=1)
    records = [(f"k{i}", i) for i in range(30)]
    writer.emit(records, list(range(30)))
    writer.flush()
    received: dict[int, list] = {}
    while not gate.empty():
        buffer = gate.get()
        received.setdefault(buffer.channel, []).extend(buffer.values)
    tagged = [v for vs in received.values() for v in vs]
    assert all(side == 1 for side, _ in tagged)
    copies = channels if strategy == "BROADCAST" else 1
    assert sorted(v for _, v in tagged) == sorted(records * copies)
    if strategy == "HASH":  # the channel follows the key of the unwrapped record
        for channel, values in received.items():
            for _, v in values:
                group = assign_to_key_group(v[0], 128)
                assert channel == group * channels // 128


def test_keyed_broadcast_on_rocksdb_applies_to_keyed_state():
    op = KeyedBroadcastProcessOperator(ApplyRules(), [RULES], lambda s: s)
    with KeyedOneInputStreamOperatorTestHarness(op, state_backend="rocksdb") as h:
        assert h.process_batch([(0, "a"), (0, "b"), (0, "a")])[0] == []
        assert h.process_batch([(1, ("a", 10))])[0] == [("a", 10), ("a", 20)]
        assert h.process_batch([(1, ("b", 1)), (0, "b")])[0] == [("b", 1), ("b", 2)]


def test_broadcast_state_reads_like_pyflinks_map_state():
    from headwater.api import BroadcastState, ReadOnlyBroadcastState

    entries: dict = {}
    state = BroadcastState("rules", entries)
    state["a"] = 1
    state.put_all({"b": 2, "c": 3})
    del state["c"]
    state.remove("missing")
    view = ReadOnlyBroadcastState("rules", entries)
    assert (view["a"], view.get("x"), "b" in view, view.contains("c")) == (1, None, True, False)
    assert sorted(view) == ["a", "b"] and sorted(view.items()) == [("a", 1), ("b", 2)]
    assert not view.is_empty() and sorted(view.values()) == [1, 2]
    for write in (lambda: view.put("x", 1), lambda: view.__setitem__("x", 1),
                  lambda: view.clear(), lambda: view.remove("a")):
        with pytest.raises(RuntimeError, match="read-only"):
            write()
    state.clear()
    assert view.is_empty()
