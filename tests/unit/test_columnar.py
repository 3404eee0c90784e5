"""The columnar fast path without a cluster: Arrow IPC buffers, vectorized key groups
and partitioning, and the columnar aggregation state (snapshot, restore, rescale)."""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
import threading

import pytest

pa = pytest.importorskip("pyarrow")
pc = pytest.importorskip("pyarrow.compute")
np = pytest.importorskip("numpy")

from headwater.runtime.network import arrow_ipc, frames  # noqa: E402
from headwater.runtime.network.buffers import Buffer  # noqa: E402
from headwater.runtime.network.partition import ResultPartition  # noqa: E402
from headwater.runtime.network.record_writer import RecordWriter  # noqa: E402
from headwater.runtime.operators.base import OperatorContext  # noqa: E402
from headwater.runtime.operators.columnar import (  # noqa: E402
    BatchFunctionOperator,
    ColumnarAggregateOperator,
    ColumnarError,
)
from headwater.runtime.state.columnar import key_groups_of, split_by_channel  # noqa: E402
from headwater.runtime.state.key_groups import (  # noqa: E402
    assign_key_to_parallel_operator,
    assign_to_key_group,
)


def words_batch(n: int = 300) -> pa.RecordBatch:
    return pa.record_batch({"word": [f"w{i % 37}" for i in range(n)],
                            "n": list(range(n))})


def context(name: str = "Aggregate", index: int = 0, parallelism: int = 1,
            max_parallelism: int = 128) -> OperatorContext:
    return OperatorContext("job", "vertex", "op", name, name, index, parallelism,
                           max_parallelism, 0)


# -- the IPC buffer ----------------------------------------------------------------------


def test_ipc_round_trip_keeps_schema_and_values():
    batch = pa.record_batch({"s": pa.array(["a", None, "c"]).dictionary_encode(),
                             "i": [1, 2, 3], "f": [0.5, None, 2.0]})
    values, timestamps = arrow_ipc.loads(bytes(arrow_ipc.dumps(batch)))
    assert timestamps is None and list.__len__(values) == 1
    assert len(values) == 3  # Batches: len() counts rows, so record counters count rows
    assert values[0].equals(batch) and values[0].schema.equals(batch.schema)


def test_remote_subpartition_sends_one_ipc_frame_per_batch():
    partition = ResultPartition("p", 1, threading.Event())
    left, right = socket.socketpair()
    try:
        partition.subpartitions[0].attach_remote(left, credits=4)
        batch = words_batch()
        sent = partition.subpartitions[0].send_arrow(batch)
        kind, payload = frames.FrameReader(right).read()
        assert kind == frames.DATA_ARROW and len(payload) == sent
        assert arrow_ipc.loads(payload)[0][0].equals(batch)
    finally:
        left.close()
        right.close()


def test_local_subpartition_passes_the_batch_object():
    partition = ResultPartition("p", 1, threading.Event())
    q: queue.SimpleQueue = queue.SimpleQueue()
    partition.subpartitions[0].attach_local(q, 0, credits=2)
    batch = words_batch()
    assert partition.subpartitions[0].send_arrow(batch) == 0
    item = q.get_nowait()
    assert isinstance(item, Buffer) and item.values[0] is batch


# -- key groups and partitioning ---------------------------------------------------------


@pytest.mark.parametrize("values", [
    [f"w{i}" for i in range(200)] + ["", "é", None],
    [0, 1, -1, 7, 2**31 - 1, -2**31, 2**31, 2**40, -2**40, 2**63 - 1, None],
    [0.5, -2.25, 3.0, 1e300],
    [True, False],
])
def test_key_groups_equal_the_record_paths(values):
    batch = pa.record_batch({"k": pa.array(values)})
    for maxp in (128, 1000):
        assert list(key_groups_of(batch, ["k"], maxp)) == \
            [assign_to_key_group(v, maxp) for v in values]


def test_dictionary_and_multi_column_keys_equal_the_record_paths():
    words = [f"w{i % 11}" for i in range(100)]
    dictionary = pa.record_batch({"k": pa.array(words).dictionary_encode()})
    assert list(key_groups_of(dictionary, ["k"], 128)) == \
        [assign_to_key_group(w, 128) for w in words]
    nums = [i % 7 - 3 for i in range(100)]
    two = pa.record_batch({"a": words, "b": nums})
    assert list(key_groups_of(two, ["a", "b"], 256)) == \
        [assign_to_key_group(k, 256) for k in zip(words, nums, strict=True)]


def test_known_keys_in_new_orders_and_new_keys_keep_the_record_paths_channels():
    # plain key columns hash by a lookup of the values seen before: the same keys in
    # another order, with new keys among them, of another integer type, with nulls
    rng = np.random.default_rng(7)
    cases = [[f"k{i}" for i in rng.permutation(300)],
             [f"k{i}" for i in rng.permutation(400)] + ["", "é"],
             pa.array([int(i) - 50 for i in rng.permutation(100)], pa.int64()),
             pa.array([int(i) for i in rng.permutation(100)], pa.int32()),
             pa.array([2**40, -(2**40), 5, 5, 2**63 - 1], pa.int64()),
             [f"k{i}" for i in range(10)] + [None]]
    for values in cases * 2:
        batch = pa.record_batch({"k": pa.array(values) if isinstance(values, list)
                                 else values})
        keys = batch.column("k").to_pylist()
        assert list(key_groups_of(batch, ["k"], 128)) == \
            [assign_to_key_group(v, 128) for v in keys]
        for channels in (2, 3):
            for c, part in split_by_channel(batch, ["k"], channels, 128):
                assert all(assign_key_to_parallel_operator(v, 128, channels) == c
                           for v in part.column("k").to_pylist())
    assert split_by_channel(batch, ["k"], 1, 128) == [(0, batch)]


@pytest.mark.parametrize("channels", [2, 3, 12])
def test_split_by_channel_gives_one_slice_per_channel_in_row_order(channels):
    batch = words_batch(500)
    parts = split_by_channel(batch, ["word"], channels, 128)
    assert len({c for c, _ in parts}) == len(parts) <= channels
    assert sum(p.num_rows for _, p in parts) == batch.num_rows
    for c, part in parts:
        assert all(assign_key_to_parallel_operator(w, 128, channels) == c
                   for w in part.column("word").to_pylist())
        assert part.column("n").to_pylist() == sorted(part.column("n").to_pylist())


def test_record_writer_sends_each_slice_as_one_buffer_and_counts_rows():
    from headwater.api.batch_stream import ColumnKeys

    partition = ResultPartition("p", 3, threading.Event())
    queues = []
    for i, sub in enumerate(partition.subpartitions):
        q: queue.SimpleQueue = queue.SimpleQueue()
        sub.attach_local(q, i, credits=10)
        queues.append(q)
    writer = RecordWriter(partition, "CUSTOM", 1024, key_selector=ColumnKeys(("word",)))
    writer.emit([words_batch(300), words_batch(30)], None)
    assert writer.records_out == 330
    for c, q in enumerate(queues):
        items = []
        while not q.empty():
            items.append(q.get_nowait())
        assert 1 <= len(items) <= 2  # at most one slice per channel and batch
        for item in items:
            assert all(assign_key_to_parallel_operator(w, 128, 3) == c
                       for w in item.values[0].column("word").to_pylist())


def test_missing_key_column_is_named():
    from headwater.api.batch_stream import ColumnKeys

    with pytest.raises(ValueError, match="after operator 'parse': no key column 'user'"):
        ColumnKeys(("user",), "parse").split_batch(words_batch(), 2, 128)


# -- aggregation state -------------------------------------------------------------------


def expected_sums(batches):
    table = pa.Table.from_batches(batches)
    result = table.group_by("word").aggregate([("n", "sum"), ("n", "count"), ("n", "max")])
    return {r["word"]: (r["n_sum"], r["n_count"], r["n_max"]) for r in result.to_pylist()}


def aggregate_op(index=0, parallelism=1, emit="final"):
    op = ColumnarAggregateOperator(["word"], {"total": ("n", "sum"), "rows": (None, "count"),
                                              "top": ("n", "max")}, emit)
    op.setup(context(index=index, parallelism=parallelism))
    return op


def rows_of(batches):
    return {r["word"]: (r["total"], r["rows"], r["top"])
            for b in batches for r in b.to_pylist()}


def test_running_aggregation_emits_updated_keys_per_batch():
    op = aggregate_op(emit="running")
    first = pa.record_batch({"word": ["a", "b", "a"], "n": [1, 2, 3]})
    out, _ = op.process_batch([first], None)
    assert rows_of(out) == {"a": (4, 2, 3), "b": (2, 1, 2)}
    out, _ = op.process_batch([pa.record_batch({"word": ["a"], "n": [10]})], None)
    assert rows_of(out) == {"a": (14, 3, 10)}
    assert op.end_input() == ([], None)


@pytest.mark.parametrize("merge_rows", [1, 50, 1 << 16])
def test_final_aggregation_folds_gathered_partials_exactly(merge_rows):
    # final mode folds partials into the state in groups: the result, and a snapshot
    # taken between two batches, hold every batch before them exactly once
    batches = [words_batch(n) for n in (30, 7, 64, 1, 120, 33)]
    op = aggregate_op()
    op.MERGE_ROWS = merge_rows
    op.initialize_state(None)
    for i, batch in enumerate(batches):
        assert op.process_batch([batch], None) == ([], None)
        if i == 2:
            restored = aggregate_op()
            restored.initialize_state(op.snapshot_state(1))
            assert rows_of(restored.end_input()[0]) == {
                w: (s, c, m) for w, (s, c, m) in expected_sums(batches[:3]).items()}
    assert rows_of(op.end_input()[0]) == expected_sums(batches)


def test_local_stage_reduces_a_pushed_list_of_batches_to_one_partial():
    def local_op():
        op = ColumnarAggregateOperator(["word"], {"total": ("n", "sum"),
                                                  "rows": (None, "count")}, "running", "local")
        op.setup(context(name="LocalAggregate"))
        return op

    def totals(partials):
        merged: dict = {}
        for b in partials:
            for r in b.to_pylist():
                t, c = merged.get(r["word"], (0, 0))
                merged[r["word"]] = (t + r["__sum_n"], c + r["__count_*"])
        return merged

    batches = [words_batch(n) for n in (50, 80, 37)]
    want = {w: (s, c) for w, (s, c, _m) in expected_sums(batches).items()}
    out, _ = local_op().process_batch([batches[0], batches[1].slice(0, 0), *batches[1:]],
                                      None)
    assert list.__len__(out) == 1 and len(out) == 37  # one batch; len() counts rows
    assert totals(out) == want
    # dictionary-encoded keys with a different dictionary in each batch
    encoded = [pa.record_batch({"word": pa.array(b.column("word").to_pylist()[::-1])
                                .dictionary_encode(), "n": b.column("n")}) for b in batches]
    out, _ = local_op().process_batch(encoded, None)
    assert list.__len__(out) == 1 and totals(out) == {
        w: (s, c) for w, (s, c, _m) in expected_sums(
            [pa.record_batch({"word": b.column("word").cast(pa.string()), "n": b.column("n")})
             for b in encoded]).items()}


def test_aggregation_state_restores_exactly_after_rescale():
    batches = [words_batch(300), words_batch(77)]
    op = aggregate_op()
    op.initialize_state(None)
    op.process_batch(batches[:1], None)
    snapshot = op.snapshot_state(1)
    mode, items = snapshot["columnar-aggregate"]
    assert mode == "union" and all(isinstance(data, bytes) for _, data in items)
    # rescale 1 -> 2: each new subtask restores its key groups, then sees its own rows
    results = {}
    for index in range(2):
        new = aggregate_op(index, 2)
        new.initialize_state(snapshot)
        mine = [part for c, part in split_by_channel(batches[1], ["word"], 2, 128)
                if c == index]
        new.process_batch(mine, None)
        out, _ = new.end_input()
        results.update(rows_of(out))
    assert results == expected_sums(batches)


def test_mean_and_min_aggregations():
    op = ColumnarAggregateOperator(["word"], {"avg": ("n", "mean"), "low": ("n", "min")},
                                   "final")
    op.setup(context())
    op.process_batch([pa.record_batch({"word": ["a", "a", "b"], "n": [1, 2, 5]})], None)
    out, _ = op.end_input()
    assert {r["word"]: (r["avg"], r["low"]) for r in out[0].to_pylist()} == \
        {"a": (1.5, 1), "b": (5.0, 5)}


def test_schema_mismatch_and_wrong_return_type_name_the_operator():
    op = BatchFunctionOperator("map", lambda b: b)
    op.setup(context("double"))
    op.process_batch([words_batch()], None)
    with pytest.raises(ColumnarError, match="operator 'double'.*schema mismatch"):
        op.process_batch([pa.record_batch({"word": [1]})], None)
    bad = BatchFunctionOperator("map", lambda b: b.to_pylist())
    bad.setup(context("to-list"))
    with pytest.raises(ColumnarError, match="map_batches in operator 'to-list' must return"):
        bad.process_batch([words_batch()], None)


def test_filter_select_and_with_columns_take_expressions():
    op = BatchFunctionOperator("filter", pc.field("n") >= 298)
    op.setup(context())
    out, _ = op.process_batch([words_batch()], None)
    assert out[0].column("n").to_pylist() == [298, 299]
    op = BatchFunctionOperator("with_columns", {"double": pc.field("n") * 2,
                                                "upper": lambda b: pc.utf8_upper(b["word"])})
    op.setup(context())
    out, _ = op.process_batch([words_batch(2)], None)
    assert out[0].to_pylist() == [{"word": "w0", "n": 0, "double": 0, "upper": "W0"},
                                  {"word": "w1", "n": 1, "double": 2, "upper": "W1"}]


def test_api_imports_without_pyarrow():
    code = ("import sys; sys.modules['pyarrow'] = None; import headwater.api; "
            "import headwater.api.batch_stream; "
            "from headwater.api import StreamExecutionEnvironment as E; "
            "E.get_execution_environment().from_collection([1]).to_batches(8); print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_window_operator_fires_on_watermarks_and_drops_late_rows():
    from headwater.runtime.operators.columnar import ColumnarWindowOperator

    op = ColumnarWindowOperator(["k"], {"n": (None, "count")}, "ts", 10)
    op.setup(context())
    op.process_batch([pa.record_batch({"k": ["a", "a", "b"], "ts": [1, 12, -3]})], None)
    out, _ = op.process_watermark(9)
    assert sorted((r["k"], r["window_start"], r["window_end"], r["n"])
                  for b in out for r in b.to_pylist()) == [("a", 0, 10, 1), ("b", -10, 0, 1)]
    op.process_batch([pa.record_batch({"k": ["a", "a"], "ts": [5, 15]})], None)  # 5 is late
    assert op.late_rows == 1
    out, _ = op.process_watermark(2**63 - 1)
    assert [(r["k"], r["window_start"], r["n"]) for b in out for r in b.to_pylist()] == [
        ("a", 10, 2)]


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_batch_file_sink_commits_finished_parts_at_checkpoints(tmp_path, file_format):
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from headwater.connectors.arrow_files import BatchFileSink

    op = BatchFileSink(tmp_path, file_format).create_operator()
    op.setup(context("files"))
    op.initialize_state(None)
    op.process_batch([words_batch(10), words_batch(5)], None)
    op.snapshot_state(1)
    assert not list(tmp_path.glob("part-*"))  # pending until the checkpoint completes
    op.notify_checkpoint_complete(1)
    op.process_batch([words_batch(3)], None)
    op.close()  # the part after the checkpoint stays hidden
    read = pq.read_table if file_format == "parquet" else pcsv.read_csv
    parts = sorted(tmp_path.glob("part-*"))
    assert [p.name for p in parts] == [f"part-0-0.{file_format}"]
    assert read(parts[0]).num_rows == 15


def test_parquet_source_resumes_after_the_last_emitted_row_group(tmp_path):
    import pyarrow.parquet as pq

    from headwater.connectors.arrow_files import BatchFileSource

    for i in range(2):
        pq.write_table(pa.table({"n": list(range(i * 100, i * 100 + 100))}),
                       tmp_path / f"f{i}.parquet", row_group_size=30)

    class Output:
        cancelled = False

        def __init__(self, stop_after=None):
            self.batches, self.stop_after = [], stop_after

        def collect_batch(self, values, timestamps=None):
            self.batches.extend(values)
            if self.stop_after and len(self.batches) >= self.stop_after:
                self.cancelled = True

    op = BatchFileSource.for_parquet(tmp_path).create_operator()
    op.setup(context("parquet"))
    op.initialize_state(None)
    first = Output(stop_after=5)
    op.run(first)
    snapshot = op.snapshot_state(1)
    again = BatchFileSource.for_parquet(tmp_path).create_operator()
    again.setup(context("parquet"))
    again.initialize_state(snapshot)
    rest = Output()
    again.run(rest)
    rows = [n for b in first.batches + rest.batches for n in b.column("n").to_pylist()]
    assert rows == list(range(200))
