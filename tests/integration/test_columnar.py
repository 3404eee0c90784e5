"""Columnar streams (Arrow) on real clusters: the columnar word count against the record
one, row metrics, exactly once through a killed TaskManager, rescaling 2 -> 1 -> 2 of
columnar keyed state, and clear failures (schema mismatch, wrong return type, missing
key column) after which the cluster runs the next job."""

from __future__ import annotations

import collections
import importlib.util
import json
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pc = pytest.importorskip("pyarrow.compute")

from headwater.api import SourceFunction  # noqa: E402
from headwater.cluster.minicluster import JobExecutionException  # noqa: E402
from headwater.testing import CollectSink  # noqa: E402
from tests.integration.conftest import EXAMPLES, start_cluster, stop_cluster  # noqa: E402
from tests.integration.helpers import (  # noqa: E402
    job_id_of,
    kill_after_checkpoints,
    new_env,
    rescale_through,
    wait_for_checkpoints,
)


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_example", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def get(cluster, path: str):
    with urllib.request.urlopen(cluster.rest_url + path, timeout=10) as answer:
        return json.loads(answer.read())


# -- on the mini cluster ------------------------------------------------------------------


def test_columnar_wordcount_counts_equal_the_record_wordcount(mini_cluster):
    record, columnar = load_example("wordcount"), load_example("wordcount_columnar")
    counts = []
    for module in (record, columnar):
        env = new_env()
        module.build(env, 3000, 2)
        result = env.execute(module.__name__)
        counts.append(dict(result.get_accumulator_result("word-counts")))
    assert counts[0] == counts[1] == record.expected_counts(3000, 2)


def test_transformations_and_running_aggregation(mini_cluster):
    env = new_env()
    table = pa.table({"user": [f"u{i % 5}" for i in range(200)], "n": list(range(200))})
    sink = CollectSink()
    (env.from_arrow(table, batch_size=32)
        .filter(lambda b: pc.equal(pc.bit_wise_and(b["n"], 1), 0))
        .with_columns(double=pc.field("n") * 2)
        .map_batches(lambda b: pa.Table.from_batches([b]))
        .select("user", "double")
        .key_by("user")
        .aggregate({"total": ("double", "sum"), "rows": (None, "count"),
                    "avg": ("double", "mean")})
        .to_records()
        .add_sink(sink))
    latest = {}
    for user, total, rows, avg in sink.records(env.execute("running")):
        if rows > latest.get(user, (0, 0))[1]:
            latest[user] = (total, rows, avg)
    expected = {}
    for i in range(0, 200, 2):
        total, rows, _ = expected.get(f"u{i % 5}", (0, 0, 0))
        expected[f"u{i % 5}"] = (total + 2 * i, rows + 1, 0)
    assert latest == {u: (t, r, t / r) for u, (t, r, _) in expected.items()}


def test_records_to_batches_and_back(mini_cluster):
    env = new_env()
    sink = CollectSink()
    schema = pa.schema([("word", pa.string()), ("n", pa.int64())])
    (env.from_collection([(f"w{i % 3}", i) for i in range(100)])
        .to_batches(16, schema)
        .key_by("word")
        .sum("n", emit="final", local=False)
        .to_records(as_dicts=True)
        .add_sink(sink))
    got = {r["word"]: r["n"] for r in sink.records(env.execute("round trip"))}
    assert got == {f"w{k}": sum(i for i in range(100) if i % 3 == k) for k in range(3)}


def test_row_metrics_count_rows_not_batches(mini_cluster):
    env = new_env()
    table = pa.table({"k": [i % 7 for i in range(1000)], "v": [1] * 1000})
    (env.from_arrow(table, batch_size=100).name("rows")
        .key_by("k").sum("v", emit="final", local=False).name("sums")
        .add_sink(lambda batch: None).name("sink"))
    job_id = mini_cluster.submit(env.get_job_graph("row metrics"))
    assert mini_cluster.wait(job_id, timeout=60).state.value == "FINISHED"
    job = get(mini_cluster, f"/jobs/{job_id}")
    source, sums = job["vertices"][0], job["vertices"][1]
    assert source["metrics"]["write-records"] == 1000
    assert sums["metrics"]["read-records"] == 1000
    assert sums["metrics"]["read-bytes"] > 0  # Arrow IPC bytes from the other TaskManager
    agg = get(mini_cluster, f"/jobs/{job_id}/vertices/{sums['id']}/subtasks/metrics"
                            "?get=numRecordsIn,sums.numRecordsIn,sums.numRecordsOut&agg=sum")
    figures = {m["id"]: m["sum"] for m in agg}
    assert figures == {"numRecordsIn": 1000.0, "sums.numRecordsIn": 1000.0,
                       "sums.numRecordsOut": 7.0}  # one final row per key


class EndlessBatches(SourceFunction):
    """Emits batches of 1000 rows until cancelled."""

    def __init__(self) -> None:
        self.running = True

    def run(self, ctx) -> None:
        batch = pa.record_batch({"n": list(range(1000))})
        while self.running:
            ctx.collect(batch)

    def cancel(self) -> None:
        self.running = False


def slow_sink(batch) -> None:
    time.sleep(0.02)  # a slow sink on purpose: it back-pressures


def test_a_slow_columnar_sink_back_pressures_its_producer(mini_cluster):
    from headwater.testing import wait_for

    env = new_env(1)
    env.from_batch_source(EndlessBatches()).name("endless").rebalance() \
        .add_sink(slow_sink).name("slow")
    job_id = mini_cluster.submit(env.get_job_graph("columnar back-pressure"))
    try:
        source = wait_for(lambda: (j := get(mini_cluster, f"/jobs/{job_id}"))["vertices"]
                          and all(v["status"] == "RUNNING" for v in j["vertices"])
                          and j["vertices"][0]["id"], 30, 0.1, "running")
        wait_for(lambda: get(mini_cluster, f"/jobs/{job_id}/vertices/{source}/backpressure")
                 .get("backpressure-level") == "high", 30, 0.2, "high back-pressure")
        rows = wait_for(lambda: (v := get(mini_cluster, f"/jobs/{job_id}")["vertices"][1])
                        ["metrics"]["read-records"] >= 2000 and v["metrics"]["read-records"],
                        30, 0.2, "rows read")
        assert rows % 1000 == 0  # whole batches, counted in rows
    finally:
        mini_cluster.cancel(job_id)
        mini_cluster.wait(job_id, timeout=60)


def failure_of(env, name: str) -> str:
    with pytest.raises(JobExecutionException) as err:
        env.execute(name)
    assert err.value.status == "FAILED"
    return err.value.cause


def test_bad_batches_fail_the_job_with_the_operator_named(mini_cluster):
    env = new_env(1)
    batches = [pa.record_batch({"a": [1, 2]}), pa.record_batch({"a": ["x"]})]
    env.from_arrow(batches).map_batches(lambda b: b).name("identity").add_sink(print)
    cause = failure_of(env, "schema mismatch")
    assert "operator 'identity'" in cause and "schema mismatch" in cause, cause

    env = new_env(1)
    env.from_arrow(pa.table({"a": [1]})).map_batches(lambda b: b.to_pylist()) \
        .name("to-list").add_sink(print)
    cause = failure_of(env, "wrong type")
    assert "map_batches in operator 'to-list' must return a pyarrow.RecordBatch" in cause, cause

    env = new_env(2)
    env.from_arrow(pa.table({"a": [1, 2, 3]})).key_by("user").count().add_sink(print)
    cause = failure_of(env, "missing key")
    assert "no column 'user'" in cause and "operator 'LocalAggregate'" in cause, cause

    env = new_env(2)
    env.from_arrow(pa.table({"a": [1, 2, 3]})).map_batches(lambda b: b).name("parse") \
        .key_by("user").count(local=False).add_sink(print)
    cause = failure_of(env, "missing key, no local stage")
    assert "after operator 'parse': no key column 'user'" in cause, cause

    # the cluster runs the next job
    env = new_env(2)
    sink = CollectSink()
    env.from_arrow(pa.table({"a": [1, 2, 3]})).to_records().add_sink(sink)
    assert sorted(sink.records(env.execute("next"))) == [(1,), (2,), (3,)]


# -- on a real cluster: crash and rescale -------------------------------------------------

JOB = '''
import sys, time
import pyarrow as pa
from headwater.api import RestartStrategies, StreamExecutionEnvironment
from headwater.connectors.file import FileSink, FileSource

source_dir, out_dir, delay, parallelism = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])


def slow(batch):
    time.sleep(delay * batch.num_rows)  # paces the job so that failures hit it mid-stream
    return batch


def words(batch):
    return pa.record_batch({"word": [w.strip() for w in batch.column(0).to_pylist()],
                            "n": [1] * batch.num_rows})


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(parallelism)
env.enable_checkpointing(300)
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 200))
(env.from_source(FileSource.for_path(source_dir), None, "lines").uid("lines")
    .to_batches(64).uid("batches")
    .map_batches(words).uid("words")
    .map_batches(slow).uid("slow")
    .key_by("word")
    .aggregate({"total": ("n", "sum"), "rows": (None, "count")}, emit="final").uid("count")
    .to_records().uid("records")
    .sink_to(FileSink.for_row_format(out_dir).build()).uid("sink"))
env.execute("columnar exactly-once")
'''

FILES, LINES, KEYS = 4, 600, 13


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("col"), taskmanagers=2, slots=1,
                      extra=("-D", "heartbeat.timeout=3000"))
    yield c
    stop_cluster(c)


@pytest.fixture
def job(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for f in range(FILES):
        (source / f"input-{f}.txt").write_text(
            "".join(f"k{(f * LINES + i) % KEYS}\n" for i in range(LINES)))
    script = tmp_path / "job.py"
    script.write_text(JOB)
    return script, source


def expected_lines() -> collections.Counter:
    totals = collections.Counter(f"k{i % KEYS}" for i in range(FILES * LINES))
    return collections.Counter(f"('{k}', {n}, {n})" for k, n in totals.items())


def committed(out: Path) -> collections.Counter:
    lines: collections.Counter = collections.Counter()
    for part in out.glob("part-*"):
        lines.update(part.read_text().splitlines())
    return lines


def test_killed_taskmanager_gives_the_output_of_a_clean_run(cluster, job, tmp_path):
    script, source = job
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), str(source), str(out), "0.004",
                                   "2").stdout)
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 2)
    victim = [p for p in cluster.processes() if "task_executor" in " ".join(p.cmdline())][0]
    victim.send_signal(signal.SIGKILL)
    state = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=180)
    assert state["state"] == "FINISHED"
    assert committed(out) == expected_lines()
    checkpoints = cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")
    assert checkpoints["counts"]["restored"] >= 1


def test_rescale_two_one_two_of_columnar_keyed_state_is_exact(cluster, job, tmp_path):
    script, source = job
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), str(source), str(out), "0.006",
                                   "2").stdout)
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 1)
    rescale_through(cluster, job_id)
    state = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=180)
    assert state["state"] == "FINISHED"
    assert committed(out) == expected_lines()


@pytest.mark.parametrize("local", [True, False])
def test_tumbling_windows_equal_a_plain_pyarrow_computation(mini_cluster, local):
    import random

    rnd = random.Random(7)
    n = 4000
    ts = [t + rnd.randrange(0, 400) for t in sorted(rnd.randrange(0, 90_000) for _ in range(n))]
    trips = pa.table({"zone": [f"z{rnd.randrange(6)}" for _ in range(n)],
                      "fare": [rnd.randrange(100) for _ in range(n)],
                      "ts": pa.array(ts, pa.timestamp("ms"))})
    env = new_env(2)
    sink = CollectSink()
    (env.from_arrow(trips, batch_size=200).set_parallelism(1)
        .with_watermarks("ts", max_out_of_orderness=1000)
        .key_by("zone")
        .tumbling_window(10_000, "ts")
        .aggregate({"total": ("fare", "sum"), "trips": (None, "count"),
                    "top": ("fare", "max")}, local=local)
        .to_records()
        .add_sink(sink))
    got = sorted(sink.records(env.execute("windows")))
    millis = pc.cast(trips["ts"], pa.int64())
    starts = pc.multiply(pc.divide(millis, 10_000), 10_000)
    expected = trips.append_column("start", starts).group_by(["zone", "start"]).aggregate(
        [("fare", "sum"), ("fare", "count"), ("fare", "max")]).to_pylist()
    assert got == sorted((r["zone"], r["start"], r["start"] + 10_000, r["fare_sum"],
                          r["fare_count"], r["fare_max"]) for r in expected)


PARQUET_JOB = '''
import sys, time
import pyarrow as pa
from headwater.api import RestartStrategies, StreamExecutionEnvironment
from headwater.connectors.arrow_files import BatchFileSink
from headwater.connectors.file import FileSource

source_dir, out_dir, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])


def slow(batch):
    time.sleep(delay * batch.num_rows)
    return pa.record_batch({"line": [w.strip() for w in batch.column(0).to_pylist()]})


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.enable_checkpointing(300)
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 200))
(env.from_source(FileSource.for_path(source_dir), None, "lines").uid("lines")
    .to_batches(50).uid("batches")
    .map_batches(slow).uid("slow")
    .sink_to(BatchFileSink.for_parquet(out_dir)).uid("sink"))
env.execute("parquet exactly-once")
'''


def test_parquet_sink_is_exactly_once_through_a_killed_taskmanager(cluster, job, tmp_path):
    import pyarrow.parquet as pq

    _, source = job
    script = tmp_path / "parquet_job.py"
    script.write_text(PARQUET_JOB)
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), str(source), str(out), "0.008").stdout)
    kill_after_checkpoints(cluster, job_id)
    rows: collections.Counter = collections.Counter()
    for part in out.glob("part-*.parquet"):
        rows.update(pq.read_table(part).column("line").to_pylist())
    assert rows == collections.Counter(f"k{i % KEYS}" for i in range(FILES * LINES))


PARQUET_TO_PARQUET_JOB = '''
import sys, time
from headwater.api import RestartStrategies, StreamExecutionEnvironment
from headwater.connectors.arrow_files import BatchFileSink, BatchFileSource

source_dir, out_dir, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])


def slow(batch):
    time.sleep(delay * batch.num_rows)
    return batch


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.enable_checkpointing(300)
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 200))
(env.from_batch_source(BatchFileSource.for_parquet(source_dir), "trips").uid("trips")
    .map_batches(slow).uid("slow")
    .sink_to(BatchFileSink.for_parquet(out_dir)).uid("sink"))
env.execute("parquet to parquet")
'''


def test_parquet_source_and_sink_are_exactly_once_through_a_killed_taskmanager(cluster,
                                                                              tmp_path):
    import pyarrow.parquet as pq

    source = tmp_path / "in"
    source.mkdir()
    for f in range(4):
        pq.write_table(pa.table({"id": list(range(f * 600, f * 600 + 600))}),
                       source / f"trips-{f}.parquet", row_group_size=40)
    script = tmp_path / "job.py"
    script.write_text(PARQUET_TO_PARQUET_JOB)
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), str(source), str(out), "0.008").stdout)
    kill_after_checkpoints(cluster, job_id)
    ids = sorted(i for part in out.glob("part-*.parquet")
                 for i in pq.read_table(part).column("id").to_pylist())
    assert ids == list(range(2400))


TEXT_FILES_JOB = '''
import sys, time
from headwater.api import RestartStrategies, StreamExecutionEnvironment
from headwater.connectors.arrow_files import BatchFileSink, BatchFileSource

file_format, source_dir, out_dir, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])


def slow(batch):
    time.sleep(delay * batch.num_rows)
    return batch


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.enable_checkpointing(300)
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 200))
source = (BatchFileSource.for_csv if file_format == "csv" else BatchFileSource.for_jsonl)(
    source_dir, block_size=1024)
(env.from_batch_source(source, "trips").uid("trips")
    .map_batches(slow).uid("slow")
    .sink_to(BatchFileSink.for_parquet(out_dir)).uid("sink"))
env.execute(f"{file_format} to parquet")
'''


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_csv_and_jsonl_sources_are_exactly_once_through_a_killed_taskmanager(
        cluster, tmp_path, file_format):
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    source = tmp_path / "in"
    source.mkdir()
    for f in range(4):
        table = pa.table({"id": list(range(f * 600, f * 600 + 600)),
                          "zone": [f"z{i % 7}" for i in range(600)]})
        if file_format == "csv":
            pcsv.write_csv(table, source / f"trips-{f}.csv")
        else:
            (source / f"trips-{f}.jsonl").write_text("".join(
                json.dumps(r) + "\n" for r in table.to_pylist()))
    script = tmp_path / "job.py"
    script.write_text(TEXT_FILES_JOB)

    def rows(out: Path) -> list:
        return sorted((r["id"], r["zone"]) for part in out.glob("part-*.parquet")
                      for r in pq.read_table(part).to_pylist())

    cluster.run(str(script), file_format, str(source), str(tmp_path / "clean"), "0")
    clean = rows(tmp_path / "clean")
    assert clean == [(i, f"z{i % 600 % 7}") for i in range(2400)]
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), file_format, str(source), str(out),
                                   "0.008").stdout)
    kill_after_checkpoints(cluster, job_id)
    assert rows(out) == clean


SOURCE_METRICS_JOB = '''
import sys
from headwater.api import StreamExecutionEnvironment
from headwater.connectors.arrow_files import BatchFileSource

env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
(env.from_batch_source(BatchFileSource.for_parquet(sys.argv[1]), "trips")
    .map_batches(lambda batch: batch).name("identity")
    .key_by("zone").count(emit="final", local=False).name("counts")
    .add_sink(lambda batch: None).name("drop"))
env.execute("source metrics")
'''


def test_columnar_source_counts_rows_in_its_rest_metrics(cluster, tmp_path):
    import pyarrow.parquet as pq

    source = tmp_path / "in"
    source.mkdir()
    for f in range(3):
        pq.write_table(pa.table({"zone": [f"z{i % 5}" for i in range(700)]}),
                       source / f"trips-{f}.parquet", row_group_size=100)
    script = tmp_path / "job.py"
    script.write_text(SOURCE_METRICS_JOB)
    job_id = job_id_of(cluster.run("-d", str(script), str(source)).stdout)
    assert cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=120)["state"] \
        == "FINISHED"
    def rest(path: str):
        return cluster.client.request("GET", path)

    vertex = rest(f"/jobs/{job_id}")["vertices"][0]
    assert vertex["name"].startswith("Source: trips")
    assert vertex["metrics"]["write-records"] == 2100
    base = f"/jobs/{job_id}/vertices/{vertex['id']}"
    names = "numRecordsOut,Source__trips.numRecordsOut,identity.numRecordsIn," \
            "identity.numRecordsOut"
    figures = {m["id"]: m["sum"] for m in rest(f"{base}/subtasks/metrics?get={names}"
                                                       "&agg=sum")}
    assert figures == {name: 2100.0 for name in names.split(",")}
    per_subtask = rest(f"{base}/metrics?get=0.Source__trips.numRecordsOut,"
                               "1.Source__trips.numRecordsOut")
    assert sum(float(m["value"]) for m in per_subtask) == 2100.0
    for index in (0, 1):
        subtask = rest(f"{base}/subtasks/{index}/metrics?get=Source__trips.numRecordsOut")
        assert float(subtask[0]["value"]) in (700.0, 1400.0)


def test_taxi_windows_example_equals_a_pyarrow_group_by(cluster, tmp_path):
    import pyarrow.parquet as pq

    trips_path, out = tmp_path / "trips.parquet", tmp_path / "windows"
    proc = cluster.run(str(EXAMPLES / "taxi_windows.py"), "--trips", "30000", "--seed", "7",
                       "--input", str(trips_path), "--output", str(out))
    assert "wrote the windows" in proc.stdout, proc.stdout + proc.stderr
    trips = pq.read_table(trips_path)
    assert trips.num_rows == 30000
    quarter = 15 * 60_000
    starts = pc.multiply(pc.divide(trips["pickup_time"], quarter), quarter)
    expected = trips.append_column("start", starts).group_by(["pickup_zone", "start"]) \
        .aggregate([("fare", "sum"), ("fare", "count"), ("distance", "mean")]).to_pylist()
    got = sorted(
        (r["pickup_zone"], r["window_start"], r["window_end"], r["fares"], r["trips"],
         r["avg_distance"]) for part in out.glob("part-*.parquet")
        for r in pq.read_table(part).to_pylist())
    want = sorted((r["pickup_zone"], r["start"], r["start"] + quarter, r["fare_sum"],
                   r["fare_count"], r["distance_mean"]) for r in expected)
    assert len(got) == len(want) > 40 * 90
    assert [g[:3] + g[4:5] for g in got] == [w[:3] + w[4:5] for w in want]
    assert [g[3] for g in got] == pytest.approx([w[3] for w in want], rel=1e-9)
    assert [g[5] for g in got] == pytest.approx([w[5] for w in want], rel=1e-9)
