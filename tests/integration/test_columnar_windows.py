"""Columnar sliding and session event-time windows on clusters: results equal an
independent computation (tests/columnar_windows.py), a TaskManager killed mid-job gives
the output of a clean run, session state rescales 2 -> 1 -> 2 exactly through
savepoints, and late rows: allowed lateness re-emits windows, later rows are dropped and
counted in the operator's ``numLateRecordsDropped`` seen through REST."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from headwater.api import SourceFunction  # noqa: E402
from headwater.testing import CollectSink, wait_for  # noqa: E402
from tests.columnar_windows import sessions, sliding  # noqa: E402
from tests.integration.conftest import start_cluster, stop_cluster  # noqa: E402
from tests.integration.helpers import (  # noqa: E402
    job_id_of,
    kill_after_checkpoints,
    new_env,
    rescale_through,
    wait_for_checkpoints,
)

OUTPUTS = {"total": ("fare", "sum"), "trips": (None, "count"), "low": ("fare", "min"),
           "high": ("fare", "max"), "avg": ("fare", "mean")}


def trips(n: int, seed: int, start: int = 0, mean_gap: int = 100,
          jitter: int = 300) -> list[dict]:
    """``n`` trips in time order (each zone about ``mean_gap * 6`` ms apart), every
    pickup time moved up to ``jitter`` ms later: out of order by less than ``jitter``."""
    rnd = random.Random(seed)
    t, rows = start, []
    for _ in range(n):
        t += int(rnd.expovariate(1 / mean_gap))
        rows.append({"zone": f"z{rnd.randrange(6)}", "t": t + rnd.randrange(jitter),
                     "fare": rnd.randrange(1, 100)})
    return rows


def get(cluster, path: str):
    with urllib.request.urlopen(cluster.rest_url + path, timeout=10) as answer:
        return json.loads(answer.read())


def as_tuples(rows) -> list[tuple]:
    return sorted(tuple(r) if isinstance(r, tuple) else tuple(r.values()) for r in rows)


# -- on the mini cluster ------------------------------------------------------------------


def run_windows(rows: list[dict], windows, local: bool) -> list[tuple]:
    env = new_env(2)
    sink = CollectSink()
    keyed = (env.from_arrow(pa.Table.from_pylist(rows), batch_size=150).set_parallelism(1)
             .with_watermarks("t", max_out_of_orderness=500)
             .key_by("zone"))
    windows(keyed).aggregate(OUTPUTS, local=local).to_records().add_sink(sink)
    return as_tuples(sink.records(env.execute("windows")))


@pytest.mark.parametrize("local", [True, False])
def test_sliding_windows_equal_an_independent_computation(mini_cluster, local):
    rows = trips(3000, seed=1)
    got = run_windows(rows, lambda k: k.sliding_window(10_000, 2_500, "t"), local)
    assert got == sliding(rows, "zone", "t", "fare", 10_000, 2_500)


@pytest.mark.parametrize("local", [True, False])
def test_session_windows_equal_an_independent_computation(mini_cluster, local):
    rows = trips(3000, seed=2, mean_gap=150)
    got = run_windows(rows, lambda k: k.session_window(1_000, "t"), local)
    expected = sessions(rows, "zone", "t", "fare", 1_000)
    assert got == expected
    assert len(expected) > 300  # many sessions, several rows in most


class LateTrips(SourceFunction):
    """Batches with explicit watermarks, some rows late within and beyond the allowed
    lateness; then idles until cancelled (so the metric is read from a running job)."""

    def __init__(self) -> None:
        self.running = True

    def run(self, ctx) -> None:
        def batch(times):
            return pa.record_batch({"zone": ["a"] * len(times), "t": times,
                                    "fare": [1] * len(times)})

        ctx.collect(batch([1_000, 2_000, 12_000]))
        ctx.emit_watermark(10_500)           # fires [0, 10s): 2 trips
        ctx.collect(batch([3_000]))          # late, within lateness: [0, 10s) again, 3
        ctx.emit_watermark(15_000)           # [0, 10s) is gone (9999 + 5000 <= 15000)
        ctx.collect(batch([4_000, 5_000, 16_000]))  # 2 late rows dropped
        ctx.emit_watermark(20_000)           # fires [10s, 20s): 2 trips
        while self.running:
            time.sleep(0.05)

    def cancel(self) -> None:
        self.running = False


class AppendRows:
    """A batch sink appending the rows as JSON lines to a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, batch) -> None:
        with open(self.path, "a") as f:
            for row in batch.to_pylist():
                f.write(json.dumps(row) + "\n")


def test_allowed_lateness_and_num_late_records_dropped_through_rest(mini_cluster, tmp_path):
    out = tmp_path / "windows.jsonl"
    env = new_env(1)
    (env.from_batch_source(LateTrips(), "late trips")
        .key_by("zone")
        .tumbling_window(10_000, "t").allowed_lateness(5_000)
        .aggregate({"trips": (None, "count")}, local=False).name("late-window")
        .add_sink(AppendRows(str(out))))
    job_id = mini_cluster.submit(env.get_job_graph("late rows"))
    try:
        vertex = wait_for(lambda: [v["id"] for v in get(mini_cluster, f"/jobs/{job_id}")
                                   ["vertices"] if "late-window" in v["name"]],
                          30, 0.1, "vertex")[0]
        metric = "0.late-window.numLateRecordsDropped"

        def dropped():
            answer = get(mini_cluster, f"/jobs/{job_id}/vertices/{vertex}/metrics?get={metric}")
            return answer and answer[0]["id"] == metric and answer[0]["value"] == "2"

        wait_for(dropped, 30, 0.2, "numLateRecordsDropped == 2")
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == 3, 30, 0.1,
                 "three window results")
        assert [json.loads(line) for line in out.read_text().splitlines()] == [
            {"zone": "a", "window_start": 0, "window_end": 10_000, "trips": 2},
            {"zone": "a", "window_start": 0, "window_end": 10_000, "trips": 3},
            {"zone": "a", "window_start": 10_000, "window_end": 20_000, "trips": 2}]
    finally:
        mini_cluster.cancel(job_id)
        mini_cluster.wait(job_id, timeout=60)


class LateSessionTrips(SourceFunction):
    """Two batches with a watermark between them; the second has late rows."""

    def run(self, ctx) -> None:
        ctx.collect(pa.record_batch({"zone": ["a", "b"], "t": [10_000, 10_000],
                                     "fare": [1, 2]}))
        ctx.emit_watermark(12_000)  # fires a and b: [10s, 11s)
        ctx.collect(pa.record_batch({"zone": ["a", "c", "b"], "t": [10_900, 500, 12_500],
                                     "fare": [4, 8, 16]}))  # a: late, joins a fired
        # session within the lateness; c: beyond it; b: on time

    def cancel(self) -> None:
        pass


def test_late_rows_of_session_windows_go_to_a_side_output(mini_cluster):
    from headwater.api.side_outputs import OutputTag

    env = new_env(2)
    windows, late = CollectSink(), CollectSink()
    tag = OutputTag("late-trips")
    result = (env.from_batch_source(LateSessionTrips(), "trips").set_parallelism(1)
              .key_by("zone")
              .session_window(1_000, "t").allowed_lateness(2_000)
              .side_output_late_data(tag)
              .aggregate({"fares": ("fare", "sum"), "trips": (None, "count")}))
    result.to_records().add_sink(windows)
    result.get_side_output(tag).to_records().add_sink(late)
    job = env.execute("late sessions")
    assert sorted(windows.records(job)) == [
        ("a", 10_000, 11_000, 1, 1), ("a", 10_000, 11_900, 5, 2),
        ("b", 10_000, 11_000, 2, 1), ("b", 12_500, 13_500, 16, 1)]
    assert late.records(job) == [("c", 500, 8)]


# -- on a real cluster: crash and rescale -------------------------------------------------

JOB = '''
import sys, time
from headwater.api import RestartStrategies, StreamExecutionEnvironment
from headwater.connectors.arrow_files import BatchFileSink, BatchFileSource

kind, source_dir, out_dir, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])


def slow(batch):
    time.sleep(delay * batch.num_rows)  # paces the job so that failures hit it mid-stream
    return batch


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.enable_checkpointing(300)
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 200))
keyed = (env.from_batch_source(BatchFileSource.for_parquet(source_dir), "trips").uid("trips")
         .map_batches(slow).uid("slow")
         .with_watermarks("t", max_out_of_orderness=500).uid("watermarks")
         .key_by("zone"))
windows = keyed.sliding_window(10_000, 2_500, "t") if kind == "sliding" \\
    else keyed.session_window(1_000, "t")
(windows.aggregate({"total": ("fare", "sum"), "trips": (None, "count"),
                    "low": ("fare", "min"), "high": ("fare", "max"),
                    "avg": ("fare", "mean")}).uid("windows")
    .sink_to(BatchFileSink.for_parquet(out_dir)).uid("sink"))
env.execute(f"{kind} windows")
'''

FILES, ROWS = 4, 600


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("colwin"), taskmanagers=2, slots=1,
                      extra=("-D", "heartbeat.timeout=3000"))
    yield c
    stop_cluster(c)


@pytest.fixture
def job(tmp_path):
    """The job script and its input: parquet files of consecutive time ranges (each
    subtask reads its files in time order), row groups of 40 trips."""
    source = tmp_path / "in"
    source.mkdir()
    rows: list[dict] = []
    for f in range(FILES):
        part = trips(ROWS, seed=10 + f, start=f * ROWS * 150, mean_gap=140)
        part = [r for r in part if r["t"] < (f + 1) * ROWS * 150]
        pq.write_table(pa.Table.from_pylist(part), source / f"trips-{f}.parquet",
                       row_group_size=40)
        rows += part
    script = tmp_path / "job.py"
    script.write_text(JOB)
    return script, source, rows


def output(out: Path) -> list[tuple]:
    return as_tuples(r for part in out.glob("part-*.parquet")
                     for r in pq.read_table(part).to_pylist())


def clean_run(cluster, script, source, out, kind) -> list[tuple]:
    cluster.run(str(script), kind, str(source), str(out), "0")
    return output(out)


@pytest.mark.parametrize("kind", ["sliding", "session"])
def test_killed_taskmanager_gives_the_output_of_a_clean_run(cluster, job, tmp_path, kind):
    script, source, rows = job
    clean = clean_run(cluster, script, source, tmp_path / "clean", kind)
    expected = sliding(rows, "zone", "t", "fare", 10_000, 2_500) if kind == "sliding" \
        else sessions(rows, "zone", "t", "fare", 1_000)
    assert clean == expected
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), kind, str(source), str(out),
                                   "0.004").stdout)
    kill_after_checkpoints(cluster, job_id)
    assert output(out) == clean


def test_rescale_two_one_two_of_session_window_state_is_exact(cluster, job, tmp_path):
    script, source, rows = job
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), "session", str(source), str(out),
                                   "0.006").stdout)
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 1)
    rescale_through(cluster, job_id)
    state = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=180)
    assert state["state"] == "FINISHED"
    assert output(out) == sessions(rows, "zone", "t", "fare", 1_000)


# -- union ---------------------------------------------------------------------------------


@pytest.mark.parametrize("local", [True, False])
def test_union_of_batch_streams_feeds_windows_and_aggregations(mini_cluster, local):
    first, second = trips(1500, seed=21), trips(1500, seed=22)
    env = new_env(2)
    windows, totals = CollectSink(), CollectSink()

    def stream(rows, name):
        return (env.from_arrow(pa.Table.from_pylist(rows), batch_size=100).name(name)
                .set_parallelism(1).with_watermarks("t", max_out_of_orderness=500))

    union = stream(first, "first").union(stream(second, "second"))
    union.key_by("zone").session_window(1_000, "t").aggregate(OUTPUTS, local=local) \
        .to_records().add_sink(windows)
    union.key_by("zone").aggregate({"fares": ("fare", "sum")}, emit="final", local=local) \
        .to_records().add_sink(totals)
    result = env.execute("union")
    assert as_tuples(windows.records(result)) == \
        sessions(first + second, "zone", "t", "fare", 1_000)
    expected: dict[str, int] = {}
    for r in first + second:
        expected[r["zone"]] = expected.get(r["zone"], 0) + r["fare"]
    assert dict(totals.records(result)) == expected


def test_union_needs_batch_streams_and_one_schema(mini_cluster):
    from headwater.cluster.minicluster import JobExecutionException

    env = new_env(1)
    batches = env.from_arrow(pa.table({"a": [1, 2]}))
    with pytest.raises(TypeError, match="BatchStream.union takes BatchStreams"):
        batches.union(env.from_collection([1]))
    (batches.union(env.from_arrow(pa.table({"a": ["x"]})))
        .map_batches(lambda b: b).name("after-union").add_sink(lambda b: None))
    with pytest.raises(JobExecutionException) as err:
        env.execute("union of two schemas")
    assert "operator 'after-union'" in err.value.cause and "schema mismatch" in \
        err.value.cause, err.value.cause


def test_missing_time_or_key_column_fails_the_job_naming_the_operator(mini_cluster):
    from headwater.cluster.minicluster import JobExecutionException

    def cause(build) -> str:
        env = new_env(2)
        rows = env.from_arrow(pa.Table.from_pylist(trips(50, seed=3))).set_parallelism(1)
        build(rows).add_sink(lambda b: None)
        with pytest.raises(JobExecutionException) as err:
            env.execute("bad windows")
        return err.value.cause

    text = cause(lambda s: s.key_by("zone").session_window(1_000, "pickup")
                 .aggregate(OUTPUTS).name("sessions"))
    assert "operator 'LocalWindow': no time column 'pickup'" in text, text
    text = cause(lambda s: s.key_by("zone").sliding_window(1_000, 500, "pickup")
                 .aggregate(OUTPUTS, local=False).name("sliding"))
    assert "operator 'sliding': no time column 'pickup'" in text, text
    text = cause(lambda s: s.key_by("area").tumbling_window(1_000, "t")
                 .aggregate(OUTPUTS).name("tumbling"))
    assert "operator 'LocalWindow': no column 'area'" in text, text
