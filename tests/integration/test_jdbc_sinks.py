"""The JDBC sinks in real jobs on a real cluster, writing to a real PostgreSQL server.

The job: a deterministic, rate-limited DataGeneratorSource of ``(i % KEYS, 1)`` ->
running count per key (keyed reduce) -> JDBC sink. The at-least-once sink upserts
``(key, count)``, so its table ends with every key's total whatever was replayed; the
exactly-once sink INSERTs every ``(key, running count)`` row with no key constraint, so
any replayed record would show as a duplicate row. A TaskManager is killed with SIGKILL
mid-job; the tables must equal those of a clean run, with no prepared transaction left.
"""

from __future__ import annotations

import collections
import itertools
import re
import signal

import psutil
import pytest

from headwater.testing import wait_for
from headwater.testing.fixtures import postgres  # noqa: F401 - the fixture
from tests.integration.conftest import headwater, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of

JOB = '''
import sys
from headwater.api import RestartStrategies, StreamExecutionEnvironment, WatermarkStrategy
from headwater.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from headwater.connectors.jdbc import (JdbcConnectionOptions, JdbcExactlyOnceOptions,
                                       JdbcExecutionOptions, JdbcSink)

url, table, mode = sys.argv[1], sys.argv[2], sys.argv[3]
count, rate, keys = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
parallelism = int(sys.argv[7]) if len(sys.argv) > 7 else 2

env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(parallelism)
env.enable_checkpointing(300)
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 200))
connection = (JdbcConnectionOptions.JdbcConnectionOptionsBuilder().with_url(url)
              .with_user_name("postgres").with_password("unused").build())
execution = (JdbcExecutionOptions.builder().with_batch_size(50).with_batch_interval_ms(200)
             .with_max_retries(3).build())
source = DataGeneratorSource(lambda i: (i % keys, 1), count,
                             RateLimiterStrategy.per_second(rate))
counts = (env.from_source(source, WatermarkStrategy.no_watermarks(), "gen").uid("gen")
          .key_by(lambda r: r[0]).reduce(lambda a, b: (a[0], a[1] + b[1])).uid("count"))
if mode == "upsert":
    sink = JdbcSink.sink(f"INSERT INTO {table} (k, n) VALUES (%s, %s) "
                         "ON CONFLICT (k) DO UPDATE SET n = EXCLUDED.n",
                         None, connection, execution)
else:
    sink = JdbcSink.exactly_once_sink(f"INSERT INTO {table} (k, n) VALUES (%s, %s)", None,
                                      execution, JdbcExactlyOnceOptions.defaults(),
                                      connection)
counts.add_sink(sink).name("pg").uid("pg")
if len(sys.argv) > 8:  # the first attempt stalls checkpoints >= N in a side branch
    import time
    from headwater.api import CheckpointedFunction, SinkFunction

    stall_from = int(sys.argv[8])

    class StallCheckpoints(SinkFunction, CheckpointedFunction):
        def open(self, runtime_context):
            self.first_attempt = runtime_context.get_attempt_number() == 0

        def initialize_state(self, context):
            pass

        def snapshot_state(self, context):
            if self.first_attempt and context.get_checkpoint_id() >= stall_from:
                time.sleep(10)  # the checkpoint cannot complete: the test kills meanwhile

        def invoke(self, value, context):
            pass

    env.from_source(DataGeneratorSource(lambda i: i, count, RateLimiterStrategy.per_second(rate)),
                    WatermarkStrategy.no_watermarks(), "side").uid("side") \
        .rebalance().add_sink(StallCheckpoints()).name("stall").uid("stall")
env.execute(f"jdbc-{mode}")
'''

COUNT, KEYS = 3000, 7
_tables = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("jdbc"), taskmanagers=2, slots=1,
                      extra=("-D", "heartbeat.timeout=3000"))
    yield c
    stop_cluster(c)


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("jdbc-job") / "job.py"
    path.write_text(JOB)
    return path


def new_table(pg, mode: str) -> str:
    name = f"sink_{mode}_{next(_tables)}"
    key = "PRIMARY KEY" if mode == "upsert" else ""
    pg.query(f"CREATE TABLE {name} (k int {key}, n int)")
    return name


def submit(cluster, script, pg, table, mode, rate=500, parallelism=2, *extra):
    """Submit the job; ``extra``: options of ``run`` (those starting with "-") and then
    further job arguments."""
    options = [e for e in extra if e.startswith("-")] + \
        [e for i, e in enumerate(extra) if i and extra[i - 1] == "-s"]
    arguments = [e for e in extra if e not in options]
    return job_id_of(cluster.run("-d", *options, str(script), pg.url, table, mode, str(COUNT),
                                 str(rate), str(KEYS), str(parallelism), *arguments).stdout)


def finish(cluster, job_id):
    job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED", "CANCELED"}, timeout=240)
    assert job["state"] == "FINISHED", cluster.client.request("GET",
                                                              f"/jobs/{job_id}/exceptions")
    return job


def busy_taskmanager(cluster, job_id):
    """The process of a TaskManager running the JDBC sink's subtask 0 (the resource
    manager may also keep idle TaskManagers around)."""
    vertex = next(v["id"] for v in cluster.client.job(job_id)["vertices"] if "pg" in v["name"])
    detail = cluster.client.request("GET", f"/jobs/{job_id}/vertices/{vertex}")
    resource_id = detail["subtasks"][0]["taskmanager-id"]      # host:dataport-suffix
    port = int(resource_id.rsplit(":", 1)[1].split("-")[0])
    for process in cluster.processes():
        if "task_executor" in " ".join(process.cmdline()) and any(
                c.laddr.port == port for c in process.net_connections("tcp")
                if c.status == psutil.CONN_LISTEN):
            return process
    raise AssertionError(f"no TaskManager process listens on {port} ({resource_id})")


def kill_a_taskmanager_mid_job(cluster, job_id):
    cluster.wait_until_running(job_id, timeout=120)
    wait_for(lambda: cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")
             ["counts"]["completed"] >= 2, 60, 0.1, "two completed checkpoints")
    busy_taskmanager(cluster, job_id).send_signal(signal.SIGKILL)


def totals() -> dict[int, int]:
    return dict(collections.Counter(i % KEYS for i in range(COUNT)))


def table_rows(pg, table) -> collections.Counter:
    return collections.Counter(pg.query(f"SELECT k, n FROM {table}"))


def restarted(cluster, job_id) -> bool:
    metrics = cluster.client.request("GET", f"/jobs/{job_id}/metrics",
                                     params={"get": "numRestarts"})
    return int(metrics[0]["value"]) >= 1


def sink_metrics(cluster, job_id) -> dict[str, float]:
    """The JDBC sink's counters summed over its subtasks, by metric name (REST reports
    them while the sink runs)."""
    vertices = cluster.client.job(job_id)["vertices"]
    vertex = next(v["id"] for v in vertices if "pg" in v["name"])
    base = f"/jobs/{job_id}/vertices/{vertex}"
    ids = [m["id"] for m in cluster.client.request("GET", f"{base}/metrics")]
    ours = [i for i in ids if i.split(".")[-1].startswith(("numRecordsWritten", "numBatches",
                                                            "numRetries", "numTransactions"))]
    if not ours:
        return {}
    values = cluster.client.request("GET", f"{base}/metrics", params={"get": ",".join(ours)})
    out: dict[str, float] = collections.defaultdict(float)
    for m in values:
        out[m["id"].split(".")[-1]] += float(m["value"])
    return dict(out)


def wait_for_sink_metrics(cluster, job_id, *positive: str) -> dict[str, float]:
    """Poll the running job's sink metrics until each of ``positive`` is above 0."""
    return wait_for(lambda: (m := sink_metrics(cluster, job_id)) and
                    all(m.get(name, 0) > 0 for name in positive) and m, 120, 0.2,
                    lambda: f"sink metrics {positive}: {sink_metrics(cluster, job_id)}")


def test_upsert_sink_clean_run(cluster, script, postgres):  # noqa: F811
    table = new_table(postgres, "upsert")
    job_id = submit(cluster, script, postgres, table, "upsert", rate=1000)
    metrics = wait_for_sink_metrics(cluster, job_id, "numRecordsWritten", "numBatchesFlushed")
    assert metrics["numRetries"] == 0
    finish(cluster, job_id)
    assert dict(postgres.query(f"SELECT k, n FROM {table}")) == totals()


def test_upsert_sink_after_a_killed_taskmanager(cluster, script, postgres):  # noqa: F811
    table = new_table(postgres, "upsert")
    job_id = submit(cluster, script, postgres, table, "upsert")
    kill_a_taskmanager_mid_job(cluster, job_id)
    finish(cluster, job_id)
    assert restarted(cluster, job_id)
    assert dict(postgres.query(f"SELECT k, n FROM {table}")) == totals()


def test_exactly_once_sink_survives_a_killed_taskmanager(cluster, script, postgres):  # noqa: F811
    clean = new_table(postgres, "exactly_once")
    clean_job = submit(cluster, script, postgres, clean, "exactly_once", rate=1000)
    metrics = wait_for_sink_metrics(cluster, clean_job, "numTransactionsPrepared",
                                    "numTransactionsCommitted", "numRecordsWritten")
    assert metrics["numTransactionsRolledBack"] == 0
    finish(cluster, clean_job)
    expected = collections.Counter((k, n) for k, total in totals().items()
                                   for n in range(1, total + 1))
    assert table_rows(postgres, clean) == expected

    table = new_table(postgres, "exactly_once")
    job_id = submit(cluster, script, postgres, table, "exactly_once")
    kill_a_taskmanager_mid_job(cluster, job_id)
    finish(cluster, job_id)
    assert restarted(cluster, job_id)
    assert table_rows(postgres, table) == table_rows(postgres, clean)
    assert postgres.query("SELECT gid FROM pg_prepared_xacts") == []


def test_exactly_once_sink_through_a_savepoint_and_a_rescale(cluster, script, postgres,  # noqa: F811
                                                             tmp_path):
    table = new_table(postgres, "exactly_once")
    job_id = submit(cluster, script, postgres, table, "exactly_once")
    cluster.wait_until_running(job_id, timeout=120)
    wait_for(lambda: postgres.query(f"SELECT count(*) FROM {table}")[0][0] > 0, 60, 0.1,
             "committed rows")
    proc = headwater("cancel", "-m", f"127.0.0.1:{cluster.port}", "-s",
                     str(tmp_path / "savepoints"), job_id)
    match = re.search(r"(file:\S+savepoint-\S+)", proc.stdout)
    assert match, proc.stdout
    cluster.wait_for_state(job_id, {"CANCELED"})
    assert sum(table_rows(postgres, table).values()) < COUNT  # interrupted mid-stream
    resumed = submit(cluster, script, postgres, table, "exactly_once", 3000, 1, "-s",
                     match.group(1).rstrip("."))
    job = finish(cluster, resumed)
    assert {v["parallelism"] for v in job["vertices"]} == {1}
    assert table_rows(postgres, table) == collections.Counter(
        (k, n) for k, total in totals().items() for n in range(1, total + 1))
    assert postgres.query("SELECT gid FROM pg_prepared_xacts") == []


def test_a_prepared_transaction_of_an_incomplete_checkpoint_is_rolled_back(
        cluster, script, postgres):  # noqa: F811
    """Deterministic recovery: the sinks prepare at checkpoint 3, which a side branch keeps
    from completing; a TaskManager dies with those transactions prepared; the restored
    job must roll them back: committing them would duplicate the replayed rows, leaving
    them would show in pg_prepared_xacts."""
    table = new_table(postgres, "exactly_once")
    job_id = submit(cluster, script, postgres, table, "exactly_once", 400, 2, "3")
    cluster.wait_until_running(job_id, timeout=120)

    def stalled_prepared():
        gids = [g for (g,) in postgres.query("SELECT gid FROM pg_prepared_xacts")]
        return [g for g in gids if int(g.rsplit(":", 1)[1]) >= 3] or None

    stalled = wait_for(stalled_prepared, 60, 0.05, "a prepared transaction of checkpoint 3")
    latest = cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")["latest"]["completed"]
    assert latest is None or latest["id"] < 3  # checkpoint 3 cannot complete
    busy_taskmanager(cluster, job_id).send_signal(signal.SIGKILL)
    finish(cluster, job_id)
    assert table_rows(postgres, table) == collections.Counter(
        (k, n) for k, total in totals().items() for n in range(1, total + 1))
    assert postgres.query("SELECT gid FROM pg_prepared_xacts") == []
    assert restarted(cluster, job_id) and stalled
