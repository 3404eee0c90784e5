"""The DataStream API on a real mini cluster (JobManager in-process, TaskManager processes)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from headwater.api import (
    KeyedProcessFunction,
    MapFunction,
    SourceFunction,
    StreamExecutionEnvironment,
    ValueStateDescriptor,
)
from headwater.cluster.minicluster import JobExecutionException
from headwater.testing import CollectSink, wait_for
from tests.integration.helpers import new_env


def run(env: StreamExecutionEnvironment, name: str = "out") -> list:
    return env.execute("test").get_accumulator_result(name) or []


def test_map_filter_flat_map(mini_cluster):
    env = new_env()
    (env.from_sequence(1, 1000).map(lambda x: x * 3).filter(lambda x: x % 2 == 0)
        .flat_map(lambda x: [x, -x]).add_sink(CollectSink("out")))
    assert sorted(run(env)) == sorted(y for x in range(1, 1001) if (x * 3) % 2 == 0
                                      for y in (x * 3, -x * 3))


def test_from_collection_keeps_every_element_once(mini_cluster):
    env = new_env()
    data = [f"item-{i}" for i in range(257)]
    env.from_collection(data).rebalance().add_sink(CollectSink("out"))
    assert sorted(run(env)) == sorted(data)


def test_keyed_sum_min_max_reduce(mini_cluster):
    env = new_env()
    records = [(f"k{i % 7}", i) for i in range(700)]
    keyed = env.from_collection(records).key_by(0)
    keyed.sum(1).add_sink(CollectSink("sum"))
    keyed.max(1).add_sink(CollectSink("max"))
    keyed.min(1).add_sink(CollectSink("min"))
    keyed.reduce(lambda a, b: (a[0], a[1] * 0 + b[1] + 1000)).add_sink(CollectSink("reduce"))
    result = env.execute("aggregations")
    sums = {}
    for k, v in result.get_accumulator_result("sum"):
        sums[k] = max(sums.get(k, 0), v)
    assert sums == {f"k{j}": sum(i for i in range(700) if i % 7 == j) for j in range(7)}
    assert len(result.get_accumulator_result("sum")) == 700  # one running result per record
    maxes = {}
    for k, v in result.get_accumulator_result("max"):
        maxes[k] = max(maxes.get(k, -1), v)
    assert maxes == {f"k{j}": max(i for i in range(700) if i % 7 == j) for j in range(7)}
    mins = {k: v for k, v in result.get_accumulator_result("min")}
    assert mins == {f"k{j}": j for j in range(7)}
    assert len(result.get_accumulator_result("reduce")) == 700


class CountPerKey(KeyedProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))

    def process_element(self, value, ctx):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        yield (ctx.get_current_key(), n)


def test_keyed_process_function_with_value_state(mini_cluster):
    env = new_env()
    words = ["a", "b", "c", "a", "b", "a"] * 50
    (env.from_collection(words).key_by(lambda w: w).process(CountPerKey())
        .add_sink(CollectSink("out")))
    out = run(env)
    final = {}
    for k, n in out:
        final[k] = max(final.get(k, 0), n)
    assert final == dict(Counter(words))
    assert sorted(n for k, n in out if k == "c") == list(range(1, 51))


def test_union_and_partitioners(mini_cluster):
    env = new_env()
    a = env.from_sequence(0, 99)
    b = env.from_sequence(100, 199)
    a.union(b).shuffle().map(lambda x: x).rescale().map(lambda x: x).forward() \
        .add_sink(CollectSink("out"))
    assert sorted(run(env)) == list(range(200))


class Tagged(MapFunction):
    def open(self, runtime_context):
        self.index = runtime_context.get_index_of_this_subtask()
        self.parallelism = runtime_context.get_number_of_parallel_subtasks()
        self.attempt = runtime_context.get_attempt_number()

    def map(self, value):
        return (self.index, self.parallelism, self.attempt, value)


def test_broadcast_reaches_every_subtask_and_context_is_real(mini_cluster):
    env = new_env()
    env.from_collection([1, 2, 3]).set_parallelism(1).broadcast().map(Tagged()) \
        .add_sink(CollectSink("out"))
    out = run(env)
    assert sorted(out) == sorted((i, 2, 0, v) for i in range(2) for v in (1, 2, 3))


class Endless(SourceFunction):
    def __init__(self):
        self.running = True

    def run(self, ctx):
        i = 0
        while self.running:
            ctx.collect(i)
            i += 1
            time.sleep(0.001)  # paces the endless stream: the test only needs it running

    def cancel(self):
        self.running = False


def test_execute_async_and_cancel(mini_cluster):
    env = new_env()
    env.add_source(Endless(), "endless").map(lambda x: x).add_sink(lambda x: None)
    client = env.execute_async("endless")
    wait_for(lambda: client.get_job_status() == "RUNNING", 30,
             message=lambda: f"job running, is {client.get_job_status()}")
    client.cancel()
    with pytest.raises(JobExecutionException) as err:
        client.get_job_execution_result(timeout=30)
    assert err.value.status == "CANCELED"


def test_failing_function_raises_job_execution_exception(mini_cluster):
    env = new_env()

    def bad(x):
        if x == 5:
            raise KeyError("no such thing")
        return x

    env.from_sequence(1, 10).map(bad).add_sink(lambda x: None)
    with pytest.raises(JobExecutionException) as err:
        env.execute("bad")
    assert err.value.status == "FAILED"
    assert "KeyError: 'no such thing'" in err.value.cause
