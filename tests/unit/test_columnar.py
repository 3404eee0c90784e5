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
    assert op.num_late_records_dropped == 1
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


def write_source_files(tmp_path, file_format, files=2, rows=100):
    """``files`` files of ``rows`` rows each (n = 0, 1, ...; name = "r<n>")."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    for i in range(files):
        table = pa.table({"n": list(range(i * rows, i * rows + rows)),
                          "name": [f"r{n}" for n in range(i * rows, i * rows + rows)]})
        path = tmp_path / f"f{i}.{file_format}"
        if file_format == "parquet":
            pq.write_table(table, path, row_group_size=30)
        elif file_format == "csv":
            pcsv.write_csv(table, path)
        else:
            path.write_text("".join(f'{{"n": {r["n"]}, "name": "{r["name"]}"}}\n'
                                    for r in table.to_pylist()))


def batch_source(tmp_path, file_format, columns=None):
    from headwater.connectors.arrow_files import BatchFileSource

    if file_format == "parquet":
        return BatchFileSource.for_parquet(tmp_path, columns=columns)
    if file_format == "csv":
        return BatchFileSource.for_csv(tmp_path, columns=columns, block_size=256)
    return BatchFileSource.for_jsonl(tmp_path, columns=columns, block_size=256)


@pytest.mark.parametrize("file_format", ["parquet", "csv", "jsonl"])
def test_batch_file_source_resumes_after_the_last_emitted_block(tmp_path, file_format):
    write_source_files(tmp_path, file_format)

    class Output:
        cancelled = False

        def __init__(self, stop_after=None):
            self.batches, self.stop_after = [], stop_after

        def collect_batch(self, values, timestamps=None):
            self.batches.extend(values)
            if self.stop_after and len(self.batches) >= self.stop_after:
                self.cancelled = True

    op = batch_source(tmp_path, file_format, ["n"]).create_operator()
    op.setup(context("files"))
    op.initialize_state(None)
    first = Output(stop_after=5)
    op.run(first)
    assert len(first.batches) == 5 and first.batches[0].schema.names == ["n"]
    snapshot = op.snapshot_state(1)
    assert snapshot["parquet-source-splits"][1][0][1] > 0  # mid-file
    again = batch_source(tmp_path, file_format, ["n"]).create_operator()
    again.setup(context("files"))
    again.initialize_state(snapshot)
    rest = Output()
    again.run(rest)
    rows = [n for b in first.batches + rest.batches for n in b.column("n").to_pylist()]
    assert rows == list(range(200))


def test_unreadable_csv_and_jsonl_name_the_file(tmp_path):
    from headwater.connectors.arrow_files import BatchFileSource

    (tmp_path / "bad.jsonl").write_text('{"n": 1}\n{"n": \n')
    op = BatchFileSource.for_jsonl(tmp_path).create_operator()
    op.setup(context("files"))
    op.initialize_state(None)
    with pytest.raises(ValueError, match="bad.jsonl"):
        op.run(type("Out", (), {"cancelled": False, "collect_batch": lambda *a: None})())


# -- sliding and session windows, allowed lateness ----------------------------------------

WINDOW_OUTPUTS = {"total": ("v", "sum"), "rows": (None, "count"), "low": ("v", "min"),
                  "high": ("v", "max"), "avg": ("v", "mean")}


def random_rows(n, seed=3, spread=60_000, disorder=300):
    import random

    rnd = random.Random(seed)
    times = sorted(rnd.randrange(spread) for _ in range(n))
    return [{"k": f"k{rnd.randrange(5)}", "t": t + rnd.randrange(disorder),
             "v": rnd.randrange(100)} for t in times]


def run_windows(make, rows, batch=97, delay=300, local=False, parallelism=1):
    """Feed ``rows`` in batches with watermarks ``max - delay - 1`` after each batch,
    through a local and a global stage (``local``) or one complete operator per
    subtask; every row of output as a tuple."""
    ops = []
    for index in range(parallelism):
        op = make("global" if local else "complete")
        op.setup(context("window", index, parallelism))
        op.initialize_state(None)
        op.open()
        ops.append(op)
    pre = make("local") if local else None
    out, top = [], -2**63
    for start in range(0, len(rows), batch):
        chunk = pa.RecordBatch.from_pylist(rows[start:start + batch])
        top = max(top, max(r["t"] for r in rows[start:start + batch]))
        pieces = pre.process_batch([chunk], None)[0] if pre else [chunk]
        for piece in pieces:
            for c, part in split_by_channel(piece, ["k"], parallelism, 128):
                out += ops[c].process_batch([part], None)[0]
        for op in ops:
            out += op.process_watermark(top - delay - 1)[0]
    for op in ops:
        out += op.process_watermark(2**63 - 1)[0]
    return sorted(tuple(r.values()) for b in out for r in b.to_pylist()), ops


@pytest.mark.parametrize("local", [False, True])
@pytest.mark.parametrize("size,slide", [(10_000, 2_500), (7_000, 3_000), (5_000, 5_000)])
def test_sliding_windows_equal_an_independent_computation(size, slide, local):
    from headwater.runtime.operators.columnar import ColumnarWindowOperator
    from tests.columnar_windows import sliding

    rows = random_rows(2000)
    got, ops = run_windows(lambda stage: ColumnarWindowOperator(
        ["k"], WINDOW_OUTPUTS, "t", size, slide=slide, stage=stage), rows, local=local,
        delay=400, parallelism=2)
    assert got == sliding(rows, "k", "t", "v", size, slide)
    assert all(op.num_late_records_dropped == 0 for op in ops)


@pytest.mark.parametrize("local", [False, True])
@pytest.mark.parametrize("batch", [1, 13, 500])
def test_session_windows_equal_an_independent_computation(batch, local):
    from headwater.runtime.operators.columnar import ColumnarSessionWindowOperator
    from tests.columnar_windows import sessions

    rows = random_rows(1500, seed=5, spread=400_000, disorder=200)
    got, ops = run_windows(lambda stage: ColumnarSessionWindowOperator(
        ["k"], WINDOW_OUTPUTS, "t", 1_000, stage=stage), rows, batch=batch, local=local,
        delay=1_300, parallelism=2)
    assert got == sessions(rows, "k", "t", "v", 1_000)
    assert all(op.num_late_records_dropped == 0 for op in ops)
    assert all(op.state.num_rows == 0 for op in ops)


def test_a_later_batch_bridges_two_sessions():
    from headwater.runtime.operators.columnar import ColumnarSessionWindowOperator

    op = ColumnarSessionWindowOperator(["k"], {"n": (None, "count")}, "t", 10)
    op.setup(context())
    op.process_batch([pa.record_batch({"k": ["a", "a", "b"], "t": [0, 25, 0]})], None)
    assert sorted(op.state.column("window_start").to_pylist()) == [0, 0, 25]
    op.process_batch([pa.record_batch({"k": ["a", "b", "a"], "t": [15, 10, 10]})], None)
    assert sorted(op.state.column("window_start").to_pylist()) == [0, 0]  # bridged
    out, _ = op.process_watermark(2**63 - 1)
    assert sorted(tuple(r.values()) for b in out for r in b.to_pylist()) == [
        ("a", 0, 35, 4), ("b", 0, 20, 2)]


def test_allowed_lateness_re_emits_windows_and_drops_later_rows():
    from headwater.runtime.operators.columnar import ColumnarWindowOperator

    op = ColumnarWindowOperator(["k"], {"n": (None, "count"), "s": ("v", "sum")}, "t", 10,
                                allowed_lateness=5)
    op.setup(context())

    def feed(t, v):
        out, _ = op.process_batch([pa.record_batch({"k": ["a"] * len(t), "t": t,
                                                    "v": v})], None)
        return [tuple(r.values()) for b in out for r in b.to_pylist()]

    def watermark(w):
        return [tuple(r.values()) for b in op.process_watermark(w)[0] for r in b.to_pylist()]

    assert feed([1, 2, 12], [1, 2, 3]) == []
    assert watermark(9) == [("a", 0, 10, 2, 3)]
    assert watermark(12) == []  # fired once only
    assert feed([3], [10]) == [("a", 0, 10, 3, 13)]  # late, within lateness: again
    snapshot = op.snapshot_state(1)
    restored = ColumnarWindowOperator(["k"], {"n": (None, "count"), "s": ("v", "sum")},
                                      "t", 10, allowed_lateness=5)
    restored.setup(context())
    restored.initialize_state(snapshot)
    assert restored.process_watermark(12) == ([], None)  # the fired flag is state
    assert watermark(14) == []  # 0..10 is gone now (9 + 5 <= 14)
    assert feed([4, 5, 11], [1, 1, 1]) == []
    assert op.num_late_records_dropped == 2
    assert watermark(2**63 - 1) == [("a", 10, 20, 2, 4)]


def test_sliding_late_rows_count_once_and_session_lateness():
    from headwater.runtime.operators.columnar import (
        ColumnarSessionWindowOperator,
        ColumnarWindowOperator,
    )

    op = ColumnarWindowOperator(["k"], {"n": (None, "count")}, "t", 10, slide=5)
    op.setup(context())
    op.process_watermark(12)
    out, _ = op.process_batch([pa.record_batch({"k": ["a", "a"], "t": [2, 8]})], None)
    assert op.num_late_records_dropped == 1  # 2: both windows late; 8: [5, 15) is not
    assert out == []
    local = ColumnarWindowOperator(["k"], {"n": (None, "count")}, "t", 10, slide=5,
                                   stage="local")
    local.setup(context())
    partials, _ = local.process_batch([pa.record_batch({"k": ["a", "a", "a"],
                                                        "t": [2, 3, 8]})], None)
    merged = ColumnarWindowOperator(["k"], {"n": (None, "count")}, "t", 10, slide=5,
                                    stage="global")
    merged.setup(context())
    merged.process_watermark(12)
    merged.process_batch(partials, None)
    assert merged.num_late_records_dropped == 2  # counted in rows, from the partials
    assert [r for b in merged.process_watermark(14)[0] for r in b.to_pylist()] == [
        {"k": "a", "window_start": 5, "window_end": 15, "n": 1}]
    session = ColumnarSessionWindowOperator(["k"], {"n": (None, "count")}, "t", 10,
                                            allowed_lateness=10)
    session.setup(context())
    session.process_batch([pa.record_batch({"k": ["a"], "t": [0]})], None)
    assert [r for b in session.process_watermark(15)[0] for r in b.to_pylist()] == [
        {"k": "a", "window_start": 0, "window_end": 10, "n": 1}]
    out, _ = session.process_batch([pa.record_batch({"k": ["a", "b"], "t": [5, -20]})],
                                   None)  # a: merges, re-emitted; b: too late
    assert [r for b in out for r in b.to_pylist()] == [
        {"k": "a", "window_start": 0, "window_end": 15, "n": 2}]
    assert session.num_late_records_dropped == 1
    assert session.process_watermark(19)[0] == []  # 0..15 stays until 14 + 10 < 19
    assert session.process_watermark(24)[0] == [] and session.state.num_rows == 0


def test_session_state_rescales_by_key_group():
    from headwater.runtime.operators.columnar import ColumnarSessionWindowOperator
    from tests.columnar_windows import sessions

    rows = random_rows(800, seed=9, spread=100_000)
    make = lambda: ColumnarSessionWindowOperator(["k"], WINDOW_OUTPUTS, "t", 2_000)  # noqa: E731
    first = make()
    first.setup(context("window"))
    first.process_batch([pa.RecordBatch.from_pylist(rows[:400])], None)
    snapshot = first.snapshot_state(1)
    out = []
    for index in range(2):
        op = make()
        op.setup(context("window", index, 2))
        op.initialize_state(snapshot)
        rest = pa.RecordBatch.from_pylist(rows[400:])
        out += op.process_batch([p for c, p in split_by_channel(rest, ["k"], 2, 128)
                                 if c == index], None)[0]
        out += op.process_watermark(2**63 - 1)[0]
    assert sorted(tuple(r.values()) for b in out for r in b.to_pylist()) == \
        sessions(rows, "k", "t", "v", 2_000)


def test_late_rows_go_to_the_side_output_instead_of_being_dropped():
    from headwater.runtime.operators.columnar import (
        ColumnarSessionWindowOperator,
        ColumnarWindowOperator,
    )

    side = []
    ctx = context()
    ctx.emit_side_output = lambda tag, values, ts: side.extend(
        (tag, r) for b in values for r in b.to_pylist())
    sliding = ColumnarWindowOperator(["k"], {"n": (None, "count")}, "t", 10, slide=5,
                                     late_tag="late")
    sliding.setup(ctx)
    sliding.process_watermark(12)
    sliding.process_batch([pa.record_batch({"k": ["a", "a"], "t": [2, 8]})], None)
    assert side == [("late", {"k": "a", "t": 2})]
    assert sliding.num_late_records_dropped == 0
    out, _ = sliding.process_watermark(2**63 - 1)
    assert [r for b in out for r in b.to_pylist()] == [
        {"k": "a", "window_start": 5, "window_end": 15, "n": 1}]

    side.clear()
    session = ColumnarSessionWindowOperator(["k"], {"n": (None, "count")}, "t", 10,
                                            late_tag="late")
    session.setup(ctx)
    session.process_batch([pa.record_batch({"k": pa.array(["a"]).dictionary_encode(),
                                            "t": [100]})], None)
    session.process_watermark(50)
    batch = pa.record_batch({"k": pa.array(["a", "b", "b", "a"]).dictionary_encode(),
                             "t": [95, 20, 25, 30]})
    session.process_batch([batch], None)  # a@95 joins a@100's session; b and a@30: late
    assert sorted(r["t"] for _, r in side) == [20, 25, 30]
    assert session.num_late_records_dropped == 0
    out, _ = session.process_watermark(2**63 - 1)
    assert [r for b in out for r in b.to_pylist()] == [
        {"k": "a", "window_start": 95, "window_end": 110, "n": 2}]
