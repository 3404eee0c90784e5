"""PyFlink-style programs with declared types and rows, through ``headwater.pyflink``
imports, on a real mini cluster (JobManager in-process, TaskManager processes)."""

from __future__ import annotations

import datetime
import decimal

import pytest

from headwater.cluster.minicluster import JobExecutionException
from headwater.pyflink.common import Row, RowKind, Types
from headwater.pyflink.common.typeinfo import TypeInformation
from headwater.pyflink.datastream import (
    KeyedProcessFunction,
    MapFunction,
    ProcessFunction,
    RuntimeContext,
    StreamExecutionEnvironment,
)
from headwater.pyflink.datastream.state import ValueStateDescriptor


def env1() -> StreamExecutionEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    return env


def test_row_named_output_gives_rows_with_named_access(mini_cluster):
    env = env1()
    ds = env.from_collection([("alice", 3), ("bob", 5)],
                             type_info=Types.TUPLE([Types.STRING(), Types.INT()]))
    people = ds.map(lambda t: Row(name=t[0], age=t[1]),
                    output_type=Types.ROW_NAMED(["name", "age"],
                                                [Types.STRING(), Types.INT()]))
    out = list(people.map(lambda r: f"{r.name}:{r['age']}:{r[1]}:{r.as_dict()}")
               .execute_and_collect())
    assert out == ["alice:3:3:{'name': 'alice', 'age': 3}",
                   "bob:5:5:{'name': 'bob', 'age': 5}"]


def test_tuples_become_rows_and_values_convert_as_pyflink(mini_cluster):
    env = env1()
    ds = env.from_collection([1, 2])
    rows = ds.map(lambda x: (x, x / 10, True if x == 1 else 0, x),
                  output_type=Types.ROW([Types.LONG(), Types.FLOAT(), Types.BOOLEAN(),
                                         Types.BIG_DEC()]))
    out = list(rows.execute_and_collect())
    assert out == [Row(1, 0.10000000149011612, True, decimal.Decimal("1")),
                   Row(2, 0.20000000298023224, False, decimal.Decimal("2"))]
    assert all(isinstance(r, Row) for r in out)


def test_row_kind_equality_and_hashing_as_pyflink():
    a = Row(name="x", n=1)
    b = Row(n=1, name="x")
    assert a == b and hash(Row(1, 2)) == hash((1, 2))
    person = Row("name", "age")
    assert person("Bob", 3) == Row(name="Bob", age=3)
    assert repr(person("Bob", 3)) == "Row(name='Bob', age=3)"
    assert repr(Row(1, "a")) == "<Row(1, 'a')>"
    deleted = Row.of_kind(RowKind.DELETE, 1)
    assert deleted != Row(1) and str(deleted.get_row_kind()) == "-D"
    deleted.set_row_kind(RowKind.INSERT)
    assert deleted == Row(1)
    assert "name" in a and "other" not in a


def test_keyed_state_and_key_type(mini_cluster):
    class Count(KeyedProcessFunction):
        def open(self, runtime_context: RuntimeContext):
            self.n = runtime_context.get_state(ValueStateDescriptor("n", Types.LONG()))

        def process_element(self, value, ctx: KeyedProcessFunction.Context):
            self.n.update((self.n.value() or 0) + 1)
            yield Row(key=ctx.get_current_key(), n=self.n.value())

    env = env1()
    out = list(env.from_collection([("a", 1), ("b", 2), ("a", 3)])
               .key_by(lambda t: t[0], key_type=Types.STRING())
               .process(Count(), output_type=Types.ROW_NAMED(["key", "n"],
                                                             [Types.STRING(), Types.LONG()]))
               .map(lambda r: (r.key, r.n), output_type=Types.TUPLE([Types.STRING(),
                                                                      Types.LONG()]))
               .execute_and_collect())
    assert out == [("a", 1), ("b", 1), ("a", 2)]


def test_typed_collections_and_times(mini_cluster):
    env = env1()
    day = datetime.date(2024, 2, 29)
    out = list(env.from_collection([[1, 2]], type_info=Types.LIST(Types.INT()))
               .map(lambda xs: {"days": xs, "when": day},
                    output_type=Types.MAP(Types.STRING(), Types.PICKLED_BYTE_ARRAY()))
               .execute_and_collect())
    assert out == [{"days": [1, 2], "when": day}]


def test_record_not_matching_output_type_fails_naming_operator_and_type(mini_cluster):
    env = env1()
    env.from_collection([1, 2]).map(lambda x: x / 2, output_type=Types.INT()).name("halve") \
        .print()
    with pytest.raises(JobExecutionException) as failure:
        env.execute("bad type")
    text = str(failure.value) + str(getattr(failure.value, "cause", ""))
    assert "halve" in text and "INT" in text and "0.5" in text


def test_string_type_rejects_ints_in_process_function(mini_cluster):
    class Tag(ProcessFunction):
        def process_element(self, value, ctx):
            yield value

    env = env1()
    env.from_collection([7]).process(Tag(), output_type=Types.STRING()).print()
    with pytest.raises(JobExecutionException) as failure:
        env.execute("bad string")
    text = str(failure.value) + str(getattr(failure.value, "cause", ""))
    assert "STRING" in text and "expected a str, got int" in text


def test_bad_declarations_fail_when_declared():
    with pytest.raises(TypeError, match=r"Types.ROW: field 1 is int, not a TypeInformation"):
        Types.ROW([Types.INT(), int])
    with pytest.raises(TypeError, match="not a TypeInformation"):
        Types.ROW_NAMED(["a"], ["STRING"])
    with pytest.raises(ValueError, match="2 field names for 1 field types"):
        Types.ROW_NAMED(["a", "b"], [Types.INT()])
    env = env1()
    with pytest.raises(TypeError, match="from_collection: element 'x' does not match its "
                                        "declared type INT"):
        env.from_collection(["x"], type_info=Types.INT())
    with pytest.raises(TypeError, match="output_type must be a TypeInformation"):
        env.from_collection([1]).map(str, output_type=str)


def test_conversions_of_every_basic_type():
    assert Types.INT().to_internal_type(True) == 1
    with pytest.raises(TypeError, match="out of range"):
        Types.BYTE().to_internal_type(300)
    with pytest.raises(TypeError, match="expected an int, got float"):
        Types.LONG().to_internal_type(1.0)
    assert Types.DOUBLE().to_internal_type(3) == 3.0
    assert Types.BOOLEAN().to_internal_type(2) is True
    assert Types.SQL_DATE().to_internal_type(datetime.datetime(2024, 1, 2, 3)) == \
        datetime.date(2024, 1, 2)
    assert Types.PRIMITIVE_ARRAY(Types.INT()).to_internal_type((1, 2)) == [1, 2]
    assert Types.TUPLE([Types.INT(), Types.STRING()]).to_internal_type([1, "a"]) == (1, "a")
    named = Types.ROW_NAMED(["a", "b"], [Types.INT(), Types.INT()])
    reordered = named.to_internal_type(Row(b=2, a=1))
    assert list(reordered) == [1, 2] and reordered.b == 2
    with pytest.raises(TypeError, match="expected 2 fields, got 1"):
        named.to_internal_type((1,))
    assert isinstance(Types.STRING(), TypeInformation)
    assert Types.PICKLED_BYTE_ARRAY().need_conversion() is False


class Identity(MapFunction):
    def map(self, value):
        return value


def test_untyped_streams_are_not_wrapped():
    env = env1()
    stream = env.from_collection([1]).map(Identity())
    assert repr(stream.get_type()) == "PICKLED_BYTE_ARRAY"
    from headwater.graph.translation import create_operator

    assert isinstance(create_operator(stream._node).function, Identity)


def test_declared_types_keep_operator_state_of_checkpointed_functions():
    from headwater.api import CheckpointedFunction
    from headwater.graph.translation import create_operator

    class Buffering(MapFunction, CheckpointedFunction):
        def initialize_state(self, context):
            self.initialized = True

        def snapshot_state(self, context):
            self.snapshots = getattr(self, "snapshots", 0) + 1

        def map(self, value):
            return value

    user = Buffering()
    env = env1()
    stream = env.from_collection([1]).map(user, output_type=Types.INT())
    wrapped = create_operator(stream._node).function
    assert isinstance(wrapped, CheckpointedFunction)
    wrapped.initialize_state(None)
    wrapped.snapshot_state(None)
    assert user.initialized and user.snapshots == 1


def test_connected_streams_and_broadcast_outputs_follow_output_type(mini_cluster):
    from headwater.pyflink.common.typeinfo import Types as T
    from headwater.pyflink.datastream import BroadcastProcessFunction, CoMapFunction
    from headwater.pyflink.datastream.state import MapStateDescriptor

    class Both(CoMapFunction):
        def map1(self, value):
            return value, "left"

        def map2(self, value):
            return value, "right"

    env = env1()
    left = env.from_collection([1])
    right = env.from_collection([2])
    rows = left.connect(right).map(Both(), output_type=T.ROW_NAMED(
        ["n", "side"], [T.LONG(), T.STRING()]))
    assert sorted((r.n, r.side) for r in rows.execute_and_collect()) == \
        [(1, "left"), (2, "right")]

    rules = MapStateDescriptor("rules", T.STRING(), T.STRING())

    class Apply(BroadcastProcessFunction):
        def process_element(self, value, ctx):
            yield value * 1.5

        def process_broadcast_element(self, value, ctx):
            ctx.get_broadcast_state(rules).put(value, value)

    env = env1()
    env.from_collection([1, 2]).connect(env.from_collection(["r"]).broadcast(rules)) \
        .process(Apply(), output_type=T.INT()).name("apply rules").print()
    with pytest.raises(JobExecutionException) as failure:
        env.execute("bad broadcast output")
    text = str(failure.value) + str(getattr(failure.value, "cause", ""))
    assert "apply rules" in text and "INT" in text and "1.5" in text


def test_state_descriptor_types_convert_written_values(mini_cluster):
    from headwater.pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor

    class Remember(KeyedProcessFunction):
        def open(self, runtime_context: RuntimeContext):
            self.last = runtime_context.get_state(ValueStateDescriptor("last", Types.FLOAT()))
            self.all = runtime_context.get_list_state(
                ListStateDescriptor("all", Types.TUPLE([Types.INT()])))
            self.by = runtime_context.get_map_state(
                MapStateDescriptor("by", Types.STRING(), Types.BOOLEAN()))

        def process_element(self, value, ctx):
            self.last.update(value[1])
            self.all.add([value[1]])
            self.by.put(value[0], value[1])
            yield self.last.value(), list(self.all.get()), dict(self.by.items())

    env = env1()
    out = list(env.from_collection([("a", 1)]).key_by(lambda t: t[0]).process(Remember())
               .execute_and_collect())
    assert out == [(1.0, [(1,)], {"a": True})]

    class Wrong(KeyedProcessFunction):
        def open(self, runtime_context):
            self.n = runtime_context.get_state(ValueStateDescriptor("n", Types.INT()))

        def process_element(self, value, ctx):
            self.n.update("not a number")
            yield value

    env = env1()
    env.from_collection([1]).key_by(lambda x: x).process(Wrong()).print()
    with pytest.raises(JobExecutionException) as failure:
        env.execute("bad state value")
    text = str(failure.value) + str(getattr(failure.value, "cause", ""))
    assert "state 'n'" in text and "INT" in text


def test_typed_streams_print_and_write_text_as_flink(mini_cluster, tmp_path, capfd):
    from headwater.api.flink_strings import flink_string
    from headwater.pyflink.common import Encoder
    from headwater.pyflink.datastream.connectors.file_system import FileSink

    row = Types.ROW([Types.STRING(), Types.DOUBLE(), Types.BOOLEAN(), Types.FLOAT()])
    assert flink_string(Row("a", 1e7, True, 0.1), row) == "+I[a, 1.0E7, true, 0.1]"
    assert flink_string(("a", [1, 2], {"k": None}),
                        Types.TUPLE([Types.STRING(), Types.LIST(Types.INT()),
                                     Types.MAP(Types.STRING(), Types.INT())])) == \
        "(a,[1, 2],{k=null})"
    assert flink_string(("a", 1), None) == "('a', 1)"
    env = env1()
    typed = env.from_collection([("a", 1.5)], type_info=Types.TUPLE([Types.STRING(),
                                                                      Types.DOUBLE()]))
    typed.sink_to(FileSink.for_row_format(str(tmp_path / "typed"),
                                          Encoder.simple_string_encoder()).build())
    env.from_collection([("a", 1.5)]).sink_to(
        FileSink.for_row_format(str(tmp_path / "untyped"),
                                Encoder.simple_string_encoder()).build())
    env.execute("text")
    assert (tmp_path / "typed" / "part-0-0").read_text() == "(a,1.5)\n"
    assert (tmp_path / "untyped" / "part-0-0").read_text() == "('a', 1.5)\n"


def test_print_of_a_typed_stream_uses_flink_text(capsys):
    from headwater.graph.translation import create_operator
    from headwater.testing import OneInputStreamOperatorTestHarness

    env = env1()
    sink = env.from_collection([Row("a", 1)], type_info=Types.ROW([Types.STRING(),
                                                                   Types.INT()])).print()
    harness = OneInputStreamOperatorTestHarness(create_operator(sink._node))
    harness.operator.process_batch([Row("a", 1), Row.of_kind(RowKind.DELETE, "b", 2)], None)
    assert capsys.readouterr().out == "+I[a, 1]\n-D[b, 2]\n"
