"""ConnectedStreams on a real mini cluster: PyFlink-style programs with exact output."""

from __future__ import annotations

from headwater.api import (
    CoFlatMapFunction,
    CoMapFunction,
    Duration,
    KeyedCoProcessFunction,
    OutputTag,
    ValueStateDescriptor,
    WatermarkStrategy,
)
from headwater.testing import CollectSink
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
