"""BATCH mode pieces on their own: pipelined regions and keyed operators fed by key, with
spilling to real files."""

from __future__ import annotations

import itertools
import os

import pytest

from headwater.graph.job_graph import JobEdge, JobVertex, ShipStrategy
from headwater.runtime.jobmanager.execution_graph import (
    Execution,
    ExecutionJobVertex,
    ExecutionVertex,
)
from headwater.runtime.jobmanager.pipelined_regions import compute_regions
from headwater.runtime.operators.base import OperatorContext
from headwater.runtime.operators.batch_keyed import (
    BatchKeyedAggregation,
    GroupedKeyedInput,
    batch_variant,
)
from headwater.runtime.operators.keyed import KeyedAggregationOperator, KeyedProcessOperator
from headwater.runtime.state.heap import HeapKeyedStateBackend
from headwater.runtime.state.key_groups import KeyGroupRange

# -- regions -----------------------------------------------------------------------------


def vertices(*spec: tuple[str, int], edges: list[tuple[str, str, ShipStrategy]]
             ) -> list[ExecutionJobVertex]:
    jvs = {name: JobVertex(name, name, p, 128, []) for name, p in spec}
    for a, b, strategy in edges:
        e = JobEdge(a, b, strategy)
        jvs[a].outputs.append(e)
        jvs[b].inputs.append(e)
    return [ExecutionJobVertex(jv, [ExecutionVertex(i, Execution(0))
                                    for i in range(jv.parallelism)])
            for jv in jvs.values()]


def blocking(edge: JobEdge) -> bool:
    return edge.ship_strategy != ShipStrategy.FORWARD


def test_forward_edges_make_one_region_per_subtask_and_hash_edges_separate_stages():
    vs = vertices(("src", 4), ("map", 4), ("agg", 2), ("sink", 2),
                  edges=[("src", "map", ShipStrategy.FORWARD),
                         ("map", "agg", ShipStrategy.HASH),
                         ("agg", "sink", ShipStrategy.FORWARD)])
    regions = compute_regions(vs, blocking)
    assert [r.members for r in regions] == [
        [("src", 0), ("map", 0)], [("src", 1), ("map", 1)], [("src", 2), ("map", 2)],
        [("src", 3), ("map", 3)], [("agg", 0), ("sink", 0)], [("agg", 1), ("sink", 1)]]
    assert all(r.slots_needed == 1 for r in regions)
    assert regions[4].producers == {("map", i) for i in range(4)}
    assert regions[4].producer_regions == {0, 1, 2, 3}
    assert regions[0].consumer_regions == {4, 5}


def test_pipelined_all_to_all_edges_join_everything_into_one_region():
    vs = vertices(("src", 2), ("agg", 3), edges=[("src", "agg", ShipStrategy.HASH)])
    (region,) = compute_regions(vs, lambda e: False)
    assert len(region.members) == 5 and region.slots_needed == 3
    placement = region.slot_of()
    assert sorted(placement.values()) == [0, 0, 1, 1, 2]
    assert placement[("src", 1)] == 1 and placement[("agg", 2)] == 2


def test_regions_come_after_the_regions_they_read():
    vs = vertices(("a", 1), ("b", 1), ("c", 1),
                  edges=[("a", "c", ShipStrategy.HASH), ("b", "c", ShipStrategy.REBALANCE)])
    regions = compute_regions(vs, blocking)
    order = {r.members[0][0]: r.index for r in regions}
    assert order["c"] > order["a"] and order["c"] > order["b"]


# -- keyed operators in BATCH ----------------------------------------------------------------


class Emitted:
    """What a wrapped operator emits through its context (as a chain would pass on)."""

    def __init__(self) -> None:
        self.values: list = []
        self.timestamps: list = []

    def __call__(self, values, timestamps) -> None:
        self.values.extend(values)
        if timestamps is not None:
            self.timestamps.extend(timestamps)


def setup(op, emitted: Emitted) -> None:
    ctx = OperatorContext("job", "vertex", "0123456789abcdef", "agg", "agg", 0, 1, 128, 0,
                          keyed_state_backend=HeapKeyedStateBackend(128, KeyGroupRange(0, 127)),
                          emit_records=emitted)
    op.setup(ctx)
    op.open()


def word_pairs(n: int, keys: int) -> list[tuple[str, int]]:
    return [(f"word-{i % keys}", 1) for i in range(n)]


@pytest.mark.parametrize("budget", [10**9, 20_000], ids=["in-memory", "spilling"])
def test_batch_aggregation_emits_one_final_value_per_key(tmp_path, budget):
    inner = KeyedAggregationOperator("sum", 1, lambda r: r[0])
    op = batch_variant(inner, {"taskmanager.memory.managed.size": str(budget),
                               "taskmanager.tmp.dirs": str(tmp_path)})
    assert isinstance(op, BatchKeyedAggregation)
    emitted = Emitted()
    setup(op, emitted)
    data = word_pairs(60_000, 5_000)
    for start in range(0, len(data), 512):
        assert op.process_batch(data[start:start + 512], None) == ([], None)
    spilled = op._spill is not None
    assert spilled == (budget < 10**6)
    assert op.process_watermark(2**63 - 1) == ([], None)
    assert sorted(emitted.values) == sorted((f"word-{k}", 12) for k in range(5_000))
    op.end_input()
    op.close()
    assert os.listdir(tmp_path) == []  # spill files are gone


def test_grouped_input_feeds_each_key_together_and_fires_its_timers_at_its_end(tmp_path):
    from headwater.api.functions import KeyedProcessFunction

    class Collect(KeyedProcessFunction):
        def open(self, runtime_context):
            self.seen = []

        def process_element(self, value, ctx):
            self.seen.append(ctx.get_current_key())
            ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)
            if False:
                yield

        def on_timer(self, timestamp, ctx):
            yield (ctx.get_current_key(), timestamp)

    function = Collect()
    op = GroupedKeyedInput(KeyedProcessOperator(function, lambda r: r[0]), 2_000,
                           str(tmp_path))
    emitted = Emitted()
    setup(op, emitted)
    records = [(f"k{i % 7}", i) for i in range(7000)]
    for start in range(0, 7000, 500):
        chunk = records[start:start + 500]
        op.process_batch(chunk, [r[1] for r in chunk])
    assert op._spill is not None and any(os.scandir(op._spill.directory))
    op.process_watermark(2**63 - 1)
    # Each key's records arrived together, and each key's timers fired when it ended,
    # with event time starting over for the next key (none of its timers was late).
    runs = [k for k, _ in itertools.groupby(function.seen)]
    assert sorted(runs) == [f"k{i}" for i in range(7)]
    expected = {(f"k{i % 7}", i + 10) for i in range(7000)}
    assert set(emitted.values) == expected and len(emitted.values) == 7000
    op.close()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("max_keys", "keys"), [(1000, 500), (50, 100)],
                         ids=["all-keys-held", "sends-early"])
def test_local_combiner_folds_before_the_exchange_and_the_results_hold(max_keys, keys):
    from headwater.runtime.operators.batch_keyed import LocalCombineOperator

    combiner = LocalCombineOperator(KeyedAggregationOperator("sum", 1, lambda r: r[0]))
    combiner.max_keys = max_keys
    setup(combiner, Emitted())
    sent = []
    data = word_pairs(10_000, keys)
    for start in range(0, len(data), 256):
        out, _ = combiner.process_batch(data[start:start + 256], None)
        sent.extend(out)
    sent.extend(combiner.process_watermark(2**63 - 1)[0])
    if max_keys >= keys:
        assert len(sent) == keys  # one partial value per key
    else:
        assert keys < len(sent) < len(data) // 2  # too many keys: partial values went early
    # Whatever it sent, the keyed aggregation of it gives the true sums.
    batch = batch_variant(KeyedAggregationOperator("sum", 1, lambda r: r[0]), {})
    result = Emitted()
    setup(batch, result)
    batch.process_batch(sent, None)
    batch.end_input()
    assert sorted(result.values) == sorted((f"word-{k}", 10_000 // keys) for k in range(keys))
