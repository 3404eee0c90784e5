"""The API builds the StreamGraph; the builder chains it into a JobGraph with stable ids;
the plan JSON has Flink's shape. An in-process executor runs the JobGraphs end to end."""

from __future__ import annotations

import json
import operator
import pickle
import re
from itertools import cycle

import cloudpickle
import pytest

from headwater.api import (
    JobExecutionResult,
    KeyedProcessFunction,
    ListAccumulator,
    MapFunction,
    SinkFunction,
    SourceFunction,
    StreamExecutionEnvironment,
    ValueStateDescriptor,
    set_default_executor,
)
from headwater.api import environment as environment_module
from headwater.graph.job_graph import JobGraph, ShipStrategy
from headwater.graph.plan import describe, plan_json
from headwater.graph.serialization import deserialize_job_graph, serialize_job_graph
from headwater.runtime.operators.base import OperatorContext, SourceOperator
from headwater.runtime.operators.keyed import KeyedAggregationOperator, KeyedReduceOperator
from headwater.runtime.state.heap import create_keyed_backend
from headwater.runtime.state.key_groups import KeyGroupChannelSelector
from tests.paths import REFERENCE as _REF

REFERENCE = _REF / "032_GET_jobs_jobid_plan.json"
HEX32 = re.compile(r"[0-9a-f]{32}")


# -- an in-process executor: every subtask of every vertex, in topological order ---------


class _Collect:
    def __init__(self, push) -> None:
        self.push = push
        self.cancelled = False
        self.buffer: list = []

    def collect(self, value):
        self.push([value], None)

    def collect_with_timestamp(self, value, timestamp):
        self.push([value], [timestamp])

    def collect_batch(self, values, timestamps=None):
        self.push(list(values), timestamps)


class LocalExecutor:
    """Runs a JobGraph in this process: operators are cloudpickled like on submission."""

    def __init__(self) -> None:
        self.graphs: list[JobGraph] = []

    def execute(self, job_graph: JobGraph) -> JobExecutionResult:
        self.graphs.append(job_graph)
        inbox: dict[tuple[str, int], list] = {}
        accumulators: dict = {}
        for v in job_graph.vertices:
            blobs = [cloudpickle.dumps(o.operator) for o in v.operators]
            for idx in range(v.parallelism):
                ops = [pickle.loads(b) for b in blobs]
                backend = None
                ctxs = []
                for spec, op in zip(v.operators, ops, strict=True):
                    ctx = OperatorContext(job_graph.job_id, v.vertex_id, spec.operator_id, v.name,
                                          spec.name, idx, v.parallelism, v.max_parallelism, 0,
                                          accumulators={})
                    if getattr(op, "keyed", False):
                        backend = backend or create_keyed_backend(ctx)
                    ctxs.append(ctx)
                for ctx, op in zip(ctxs, ops, strict=True):
                    ctx.keyed_state_backend = backend
                    op.setup(ctx)
                for op in reversed(ops):
                    op.open()
                outputs: list = []

                def push(values, ts, start, ops=ops, outputs=outputs):
                    for op in ops[start:]:
                        values, ts = op.process_batch(values, ts)
                    outputs.extend(values)

                if isinstance(ops[0], SourceOperator):
                    ops[0].run(_Collect(lambda vals, ts, push=push: push(vals, ts, 1)))
                else:
                    push(inbox.get((v.vertex_id, idx), []), None, 0)
                for i, op in enumerate(ops):
                    vals, ts = op.end_input()
                    if vals:
                        push(vals, ts, i + 1)
                for op in ops:
                    op.close()
                for ctx in ctxs:
                    for name, acc in ctx.accumulators.items():
                        if name in accumulators:
                            accumulators[name].merge(acc)
                        else:
                            accumulators[name] = acc
                self._route(job_graph, v, idx, outputs, inbox)
        return JobExecutionResult(job_graph.job_id, 1, {
            k: a.get_local_value() for k, a in accumulators.items()})

    @staticmethod
    def _route(job_graph, v, idx, outputs, inbox):
        for edge in v.outputs:
            target = job_graph.vertex(edge.target_vertex_id)
            n = target.parallelism
            if edge.ship_strategy == ShipStrategy.HASH:
                parts = KeyGroupChannelSelector(target.max_parallelism, n,
                                                edge.key_selector).select(outputs)
            elif edge.ship_strategy == ShipStrategy.FORWARD:
                parts = [[] for _ in range(n)]
                parts[idx] = outputs
            elif edge.ship_strategy == ShipStrategy.BROADCAST:
                parts = [list(outputs) for _ in range(n)]
            else:
                parts = [[] for _ in range(n)]
                for c, rec in zip(cycle(range(n)), outputs):
                    parts[c].append(rec)
            for c, part in enumerate(parts):
                inbox.setdefault((target.vertex_id, c), []).extend(part)

    def execute_async(self, job_graph):
        raise NotImplementedError


@pytest.fixture
def local_executor():
    executor = LocalExecutor()
    set_default_executor(executor)
    yield executor
    set_default_executor(None)


# -- programs ---------------------------------------------------------------------------


class Lines(SourceFunction):
    def __init__(self, lines):
        self.lines = lines

    def run(self, ctx):
        for line in self.lines:
            ctx.collect(line)


class Gather(SinkFunction):
    def __init__(self, name="out"):
        self.name = name

    def open(self, runtime_context):
        self.acc = ListAccumulator()
        runtime_context.add_accumulator(self.name, self.acc)

    def invoke(self, value, context):
        self.acc.add(value)


def wordcount(env: StreamExecutionEnvironment, uid: str | None = None):
    stream = (env.add_source(Lines(["a b", "b c c"]), "lines")
              .flat_map(str.split).name("split")
              .map(lambda w: (w, 1)))
    if uid:
        stream.uid(uid)
    stream.key_by(0).sum(1).add_sink(Gather()).name("counts")


def graph_of(build, parallelism=2, **kw) -> JobGraph:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    build(env, **kw)
    return env.get_job_graph("test job")


# -- chaining and naming ----------------------------------------------------------------


def test_chaining_and_vertex_names():
    jg = graph_of(wordcount)
    assert [v.name for v in jg.vertices] == [
        "Source: lines -> split -> Map", "Keyed Aggregation -> Sink: counts"]
    src, agg = jg.vertices
    assert [o.name for o in src.operators] == ["Source: lines", "split", "Map"]
    assert src.is_source and not agg.is_source
    (edge,) = agg.inputs
    assert edge is src.outputs[0]
    assert edge.ship_strategy == ShipStrategy.HASH
    assert isinstance(edge.key_selector, operator.itemgetter)
    assert edge.key_selector(("w", 1)) == "w"
    assert edge.input_number == 0
    keyed_op = agg.operators[0].operator
    assert isinstance(keyed_op, KeyedAggregationOperator) and keyed_op.keyed
    assert keyed_op.key_selector is edge.key_selector
    assert src.parallelism == agg.parallelism == 2
    assert src.max_parallelism == agg.max_parallelism == 128


def test_default_names():
    def build(env):
        s = env.from_collection([1, 2])
        s.map(abs).flat_map(lambda x: [x]).filter(bool).process(lambda v, c: [v]).print()
        k = env.from_sequence(1, 3).key_by(lambda x: x)
        k.reduce(max).add_sink(print)
        env.from_sequence(1, 2).key_by(lambda x: x).process(RunningCount()).add_sink(print)

    names = [v.name for v in graph_of(build, 1).vertices]
    assert "Source: Collection Source -> Map -> Flat Map -> Filter -> Process -> " \
           "Sink: Print to Std. Out" in names
    assert "Source: Sequence Source" in names
    assert "Keyed Reduce -> Sink: Unnamed" in names
    assert "KeyedProcess -> Sink: Unnamed" in names
    assert graph_of(lambda env: env.add_source([1]).print(), 1).vertices[0].name == \
        "Source: Custom Source -> Sink: Print to Std. Out"


def test_parallelism_change_rebalances_and_breaks_chain():
    def build(env):
        env.from_sequence(1, 10).set_parallelism(1).map(abs).print()

    jg = graph_of(build, 3)
    assert [(v.name, v.parallelism) for v in jg.vertices] == [
        ("Source: Sequence Source", 1), ("Map -> Sink: Print to Std. Out", 3)]
    assert jg.vertices[1].inputs[0].ship_strategy == ShipStrategy.REBALANCE


@pytest.mark.parametrize(("method", "strategy"), [
    ("rebalance", ShipStrategy.REBALANCE), ("rescale", ShipStrategy.RESCALE),
    ("shuffle", ShipStrategy.SHUFFLE), ("broadcast", ShipStrategy.BROADCAST)])
def test_explicit_partitioning_is_not_chained(method, strategy):
    def build(env):
        getattr(env.from_sequence(1, 10).map(abs), method)().map(abs).name("after")

    jg = graph_of(build, 2)
    assert [v.name for v in jg.vertices] == ["Source: Sequence Source -> Map", "after"]
    assert jg.vertices[1].inputs[0].ship_strategy == strategy
    assert jg.vertices[1].inputs[0].key_selector is None


def test_explicit_forward_chains_like_flink():
    def build(env):
        env.from_sequence(1, 10).forward().map(abs).print()

    assert [v.name for v in graph_of(build).vertices] == [
        "Source: Sequence Source -> Map -> Sink: Print to Std. Out"]


def test_forward_with_different_parallelism_fails():
    def build(env):
        env.from_sequence(1, 10).forward().map(abs).set_parallelism(3)

    with pytest.raises(ValueError, match="Forward partitioning"):
        graph_of(build, 2)


def test_disable_chaining_start_new_chain_and_env_switch():
    def build(env):
        s = env.from_sequence(1, 10).map(abs).name("a").map(abs).name("b").disable_chaining()
        s.map(abs).name("c").map(abs).name("d").start_new_chain().map(abs).name("e")

    assert [v.name for v in graph_of(build).vertices] == [
        "Source: Sequence Source -> a", "b", "c", "d -> e"]

    def unchained(env):
        env.disable_operator_chaining()
        env.from_sequence(1, 10).map(abs).print()

    assert len(graph_of(unchained).vertices) == 3


def test_fan_out_and_union_are_not_chained():
    def build(env):
        src = env.from_sequence(1, 10)
        left = src.map(abs).name("left")
        right = src.filter(bool).name("right")
        left.union(right).map(abs).name("merged").print()

    jg = graph_of(build)
    names = [v.name for v in jg.vertices]
    assert names == ["Source: Sequence Source", "left", "right",
                     "merged -> Sink: Print to Std. Out"]
    merged = jg.vertices[3]
    assert [(jg.vertex(e.source_vertex_id).name, e.input_number, e.ship_strategy)
            for e in merged.inputs] == [("left", 0, ShipStrategy.FORWARD),
                                       ("right", 1, ShipStrategy.FORWARD)]


def test_key_by_field_name_and_index_tuples():
    def build(env):
        env.from_collection([{"k": 1}]).key_by("k").reduce(lambda a, b: a).print()
        env.from_collection([(1, 2, 3)]).key_by((0, 1)).sum(2).print()

    jg = graph_of(build)
    reduce_vertex = next(v for v in jg.vertices if v.name.startswith("Keyed Reduce"))
    op = reduce_vertex.operators[0].operator
    assert isinstance(op, KeyedReduceOperator)
    assert op.key_selector({"k": 5}) == 5
    agg_vertex = next(v for v in jg.vertices if v.name.startswith("Keyed Aggregation"))
    assert agg_vertex.inputs[0].key_selector((1, 2, 3)) == (1, 2)


def test_settings_on_partitioned_streams_are_rejected():
    env = StreamExecutionEnvironment.get_execution_environment()
    keyed = env.from_sequence(1, 2).key_by(lambda x: x)
    with pytest.raises(TypeError, match="applies to an operator"):
        keyed.name("x")
    with pytest.raises(TypeError):
        env.from_sequence(1, 2).process(RunningCount())
    with pytest.raises(ValueError):
        env.from_sequence(1, 2).set_parallelism(0)


def test_max_parallelism_settings():
    def build(env):
        env.set_max_parallelism(64)
        env.from_sequence(1, 2).rebalance().map(abs).set_max_parallelism(16).rebalance().print()

    jg = graph_of(build, 2)
    assert [v.max_parallelism for v in jg.vertices] == [64, 16, 64]
    # a chained operator runs with its chain head's max parallelism (as in Flink)

    def too_high(env):
        env.from_sequence(1, 2).set_max_parallelism(2).set_parallelism(4)

    with pytest.raises(ValueError, match="max parallelism"):
        graph_of(too_high)


# -- ids --------------------------------------------------------------------------------


def test_ids_are_stable_hex_and_unique():
    a, b = graph_of(wordcount), graph_of(wordcount)
    ids_a = [v.vertex_id for v in a.vertices]
    assert ids_a == [v.vertex_id for v in b.vertices]
    assert [o.operator_id for v in a.vertices for o in v.operators] == \
        [o.operator_id for v in b.vertices for o in v.operators]
    all_ids = [o.operator_id for v in a.vertices for o in v.operators]
    assert len(set(all_ids)) == len(all_ids)
    assert all(HEX32.fullmatch(i) for i in all_ids)
    for v in a.vertices:
        assert v.vertex_id == v.operators[0].operator_id  # vertex id = chain head's id
    assert a.job_id != b.job_id and HEX32.fullmatch(a.job_id)


def test_same_env_builds_same_ids_twice():
    env = StreamExecutionEnvironment.get_execution_environment()
    wordcount(env)
    assert [v.vertex_id for v in env.get_job_graph().vertices] == \
        [v.vertex_id for v in env.get_job_graph().vertices]


def test_uid_changes_ids_and_is_md5_of_uid():
    import hashlib

    plain = graph_of(wordcount)
    with_uid = graph_of(wordcount, uid="my-map")
    map_op = with_uid.vertices[0].operators[2]
    assert map_op.uid == "my-map"
    assert map_op.operator_id == hashlib.md5(b"my-map").hexdigest()
    assert plain.vertices[0].operators[2].operator_id != map_op.operator_id
    # downstream ids mix in the input hashes, so they change too
    assert plain.vertices[1].vertex_id != with_uid.vertices[1].vertex_id


def test_structure_changes_ids():
    def longer(env):
        wordcount(env)
        env.from_sequence(1, 2).print()

    a, b = graph_of(wordcount), graph_of(longer)
    assert a.vertices[0].vertex_id == b.vertices[0].vertex_id  # first source: same position
    assert graph_of(wordcount, parallelism=3).vertices[0].vertex_id == a.vertices[0].vertex_id


def test_duplicate_uid_fails():
    def build(env):
        env.from_sequence(1, 2).uid("same").map(abs).uid("same")

    with pytest.raises(ValueError, match="collision"):
        graph_of(build)


# -- plan JSON and config ---------------------------------------------------------------


def test_plan_json_matches_flink_format():
    reference = json.loads(REFERENCE.read_text())["body"]["plan"]
    jg = graph_of(wordcount)
    plan = plan_json(jg)
    assert plan == jg.plan()
    assert set(plan) == set(reference) == {"jid", "name", "nodes"}
    assert plan["jid"] == jg.job_id and plan["name"] == "test job"
    ref_sink, ref_source = reference["nodes"]
    sink, source = plan["nodes"]  # like Flink: the consumer comes before its producer
    assert set(sink) == set(ref_sink)
    assert set(source) == set(ref_source)
    assert "inputs" not in source
    assert [set(i) for i in sink["inputs"]] == [set(i) for i in ref_sink["inputs"]]
    assert sink["inputs"] == [{"num": 0, "id": source["id"], "ship_strategy": "HASH",
                               "exchange": "pipelined_bounded"}]
    assert source["description"] == "Source: lines -&gt; split -&gt; Map"
    assert sink["description"] == "Keyed Aggregation -&gt; Sink: counts"
    for node in plan["nodes"]:
        assert node["operator"] == node["operator_strategy"] == ""
        assert node["optimizer_properties"] == {}
        assert node["parallelism"] == 2
    json.dumps(plan)


def test_plan_node_order_follows_flink_creation_order():
    def build(env):
        src = env.from_sequence(1, 10)
        a = src.map(abs).name("a")
        b = src.filter(bool).name("b")
        a.union(b).map(abs).name("m").print()
        env.from_sequence(1, 2).name("second").rebalance().print().name("p2")

    jg = graph_of(build)
    names = [n["description"] for n in plan_json(jg)["nodes"]]
    assert names == ["m -&gt; Sink: Print to Std. Out", "a", "b", "Source: Sequence Source",
                     "Sink: p2", "Source: second"]


def test_description_escaping_like_escape_html4():
    assert describe('a -> b & <c> "d" \'e\'') == \
        "a -&gt; b &amp; &lt;c&gt; &quot;d&quot; 'e'"
    assert describe("line1\nline2\\x é") == "line1<br/>line2&#92;x &eacute;"


def test_execution_config_like_flink():
    jg = graph_of(wordcount, parallelism=3)
    assert jg.execution_config == {"execution-mode": "PIPELINED",
                                   "restart-strategy": "Restart deactivated.",
                                   "job-parallelism": 3, "object-reuse-mode": False,
                                   "user-config": {}}


def test_job_graph_survives_wire_serialization():
    jg = graph_of(wordcount)
    wire = deserialize_job_graph(serialize_job_graph(jg))
    assert [v.vertex_id for v in wire.vertices] == [v.vertex_id for v in jg.vertices]
    assert plan_json(wire)["nodes"] == plan_json(jg)["nodes"]
    op = pickle.loads(wire.vertices[1].operators[0].operator)
    assert isinstance(op, KeyedAggregationOperator)


def test_parallelism_from_headwater_run(monkeypatch):
    monkeypatch.setenv(environment_module.PARALLELISM_ENV, "4")
    env = StreamExecutionEnvironment.get_execution_environment()
    assert env.get_parallelism() == 4
    env.from_sequence(1, 2).print()
    assert env.get_job_graph().vertices[0].parallelism == 4


def test_empty_program_fails():
    with pytest.raises(ValueError, match="No operators"):
        StreamExecutionEnvironment.get_execution_environment().get_job_graph()


# -- execution through the pluggable executor --------------------------------------------


class RunningCount(KeyedProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))

    def process_element(self, value, ctx):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        yield ctx.get_current_key(), n


def test_execute_runs_on_default_executor_and_clears_graph(local_executor):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    wordcount(env)
    result = env.execute("wc")
    assert isinstance(result, JobExecutionResult)
    assert local_executor.graphs[0].name == "wc"
    final: dict = {}
    for word, count in result.get_accumulator_result("out"):
        final[word] = max(final.get(word, 0), count)
    # every source subtask emits the lines: counts double at parallelism 2
    assert final == {"a": 2, "b": 4, "c": 4}
    with pytest.raises(ValueError, match="No operators"):
        env.execute("again")


def test_env_executor_overrides_default(local_executor):
    own = LocalExecutor()
    env = StreamExecutionEnvironment.get_execution_environment().set_executor(own)
    env.from_collection(list(range(10))).map(lambda x: x * 2).add_sink(Gather())
    result = env.execute()
    assert own.graphs and not local_executor.graphs
    assert sorted(result.get_accumulator_result("out")) == [x * 2 for x in range(10)]


class AddSubtask(MapFunction):
    def open(self, runtime_context):
        self.idx = runtime_context.get_index_of_this_subtask()
        assert runtime_context.get_task_name() == "Source: Sequence Source -> Map"

    def map(self, value):
        return value, self.idx


def test_end_to_end_sequence_keyed_process(local_executor):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(3)
    (env.from_sequence(1, 30).map(AddSubtask())
        .key_by(lambda r: r[0] % 4)
        .process(RunningCount())
        .add_sink(Gather()))
    out = env.execute().get_accumulator_result("out")
    assert len(out) == 30
    finals: dict = {}
    for key, n in out:
        finals[key] = max(finals.get(key, 0), n)
    assert finals == {0: 7, 1: 8, 2: 8, 3: 7}


def test_default_executor_falls_back_to_minicluster(monkeypatch):
    import sys
    import types

    calls = []

    class Fake:
        def execute(self, job_graph):
            calls.append(job_graph)
            return JobExecutionResult(job_graph.job_id)

    fake_module = types.ModuleType("headwater.cluster.minicluster")
    fake_module.default_executor = Fake
    monkeypatch.setitem(sys.modules, "headwater.cluster.minicluster", fake_module)
    import headwater.cluster

    monkeypatch.setattr(headwater.cluster, "minicluster", fake_module, raising=False)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_sequence(1, 2).print()
    result = env.execute("fallback")
    assert calls and calls[0].name == "fallback" and result.get_job_id() == calls[0].job_id


def test_submitted_graph_with_absurd_parallelism_is_rejected():
    """A client cannot make the JobManager build an unbounded execution graph."""
    from headwater.graph.serialization import JobGraphFormatError

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_sequence(1, 10).map(lambda x: x).add_sink(lambda x: None)
    jg = env.get_job_graph("huge")
    for v in jg.vertices:
        v.parallelism = v.max_parallelism = 10**6
    with pytest.raises(JobGraphFormatError, match="parallelism"):
        deserialize_job_graph(serialize_job_graph(jg))
