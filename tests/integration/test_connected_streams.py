"""ConnectedStreams on a real mini cluster: PyFlink-style programs with exact output."""

from __future__ import annotations

import pytest

from headwater.api import (
    BroadcastProcessFunction,
    CoFlatMapFunction,
    CoMapFunction,
    KeyedCoProcessFunction,
    MapStateDescriptor,
    OutputTag,
    ValueStateDescriptor,
)
from headwater.cluster.minicluster import JobExecutionException
from headwater.testing import CollectSink, Pause, Record, ScriptedSource, Watermark
from tests.integration.helpers import new_env


class Tag(CoMapFunction):
    def map1(self, value):
        return ("number", value * 10)

    def map2(self, value):
        return ("word", value.upper())


def test_co_map_of_two_streams(mini_cluster):
    env = new_env(2)
    numbers = env.from_collection(list(range(20)))
    words = env.from_collection(["a", "b", "c"]).set_parallelism(1)
    numbers.connect(words).map(Tag()).name("tag").add_sink(CollectSink("out"))
    out = env.execute("co-map").get_accumulator_result("out")
    assert sorted(out) == sorted([("number", i * 10) for i in range(20)]
                                 + [("word", w) for w in "ABC"])


class Split(CoFlatMapFunction):
    def flat_map1(self, value):
        yield from value.split()

    def flat_map2(self, value):
        return [value] * value


def test_co_flat_map_after_rebalance(mini_cluster):
    env = new_env(2)
    lines = env.from_collection(["to be", "or not"]).set_parallelism(1).rebalance()
    counts = env.from_collection([1, 2])
    lines.connect(counts).flat_map(Split()).add_sink(CollectSink("out"))
    out = env.execute("co-flat-map").get_accumulator_result("out")
    assert sorted(out, key=str) == sorted(["to", "be", "or", "not", 1, 2, 2], key=str)


LATE = OutputTag("late-payments")


class JoinOrders(KeyedCoProcessFunction):
    """Orders (id, item) and payments (id, amount) joined per order id; an order still
    unpaid 10 ms (event time) after it was placed times out; a payment for an order
    that is not (or no longer) open goes to a side output."""

    def open(self, runtime_context):
        self.item = runtime_context.get_state(ValueStateDescriptor("item"))

    def process_element1(self, order, ctx):
        self.item.update(order[1])
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)

    def process_element2(self, payment, ctx):
        item = self.item.value()
        if item is None:
            ctx.output(LATE, (ctx.get_current_key(), payment[1]))
            return
        self.item.clear()
        yield ctx.get_current_key(), item, payment[1]

    def on_timer(self, timestamp, ctx):
        if self.item.value() is not None:
            yield ctx.get_current_key(), "unpaid", timestamp
            self.item.clear()


def test_keyed_co_process_joins_with_event_time_timers_on_the_minimum_watermark(
        mini_cluster):
    env = new_env(2)
    # The orders run ahead (watermark 100 at once, then they end); the payments come
    # later and slowly. Timers must wait for the slower input: with a watermark of the
    # orders alone every order would time out before its payment arrives.
    orders = env.add_source(ScriptedSource([
        Record(("o1", "book"), 1), Record(("o2", "pen"), 2), Record(("o3", "ink"), 3),
        Record(("o4", "cup"), 4), Watermark(100)])).set_parallelism(1)
    payments = env.add_source(ScriptedSource([
        Pause(0.5), Record(("o1", 12), 5), Watermark(5), Pause(0.3),
        Record(("o2", 3), 12), Watermark(12), Pause(0.3),
        Watermark(20), Pause(0.3), Record(("o4", 7), 30), Watermark(30)])).set_parallelism(1)
    joined = (orders.connect(payments)
              .key_by(lambda o: o[0], lambda p: p[0])
              .process(JoinOrders()).name("join"))
    joined.add_sink(CollectSink("out"))
    joined.get_side_output(LATE).add_sink(CollectSink("late"))
    result = env.execute("join")
    assert sorted(result.get_accumulator_result("out")) == [
        ("o1", "book", 12), ("o2", "pen", 3), ("o3", "unpaid", 13), ("o4", "unpaid", 14)]
    assert result.get_accumulator_result("late") == [("o4", 7)]


LIMITS = MapStateDescriptor("limits")


class WritesFromTheWrongSide(BroadcastProcessFunction):
    def process_element(self, value, ctx):
        ctx.get_broadcast_state(LIMITS).put("max", value)
        yield value

    def process_broadcast_element(self, value, ctx):
        ctx.get_broadcast_state(LIMITS).put("max", value)


def test_writing_broadcast_state_from_the_non_broadcast_side_fails_the_job(mini_cluster):
    env = new_env(2)
    limits = env.from_collection([10]).set_parallelism(1).broadcast(LIMITS)
    (env.from_collection([1, 2, 3]).connect(limits).process(WritesFromTheWrongSide())
        .add_sink(CollectSink("out")))
    with pytest.raises(JobExecutionException) as failure:
        env.execute("wrong side")
    message = str(failure.value)
    assert "broadcast state 'limits' is read-only" in message
    assert "only process_broadcast_element may modify broadcast state" in message
