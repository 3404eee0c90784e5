"""JDBC jobs on a real cluster and a real PostgreSQL server: a batch job copying a table
through the split JdbcSource at parallelism 2, and jobs that must fail cleanly (an
unreachable database, a bad statement) while the cluster stays healthy."""

from __future__ import annotations

import collections

import pytest

from headwater.testing.fixtures import postgres  # noqa: F401 - the fixture
from tests.integration.conftest import EXAMPLES, free_port, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of

COPY_JOB = '''
import sys
from headwater.api import StreamExecutionEnvironment
from headwater.connectors.jdbc import (JdbcConnectionOptions, JdbcExecutionOptions,
                                       JdbcNumericBetweenParametersProvider, JdbcSink,
                                       JdbcSource)

url, source_table, target_table, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
source = (JdbcSource.builder().set_db_url(url)
          .set_sql(f"SELECT id, name FROM {source_table} WHERE id BETWEEN %s AND %s "
                   "ORDER BY id")
          .set_jdbc_parameter_values_provider(
              JdbcNumericBetweenParametersProvider(1, rows).of_batch_num(5))
          .set_fetch_size(100).build())
connection = JdbcConnectionOptions.JdbcConnectionOptionsBuilder().with_url(url).build()
(env.from_source(source, None, "pg-rows")
    .map(lambda row: (row[0], row[1].upper()))
    .add_sink(JdbcSink.sink(f"INSERT INTO {target_table} (id, name) VALUES (%s, %s)", None,
                            connection, JdbcExecutionOptions.builder()
                            .with_batch_size(200).build())).name("copy"))
env.execute("jdbc copy")
'''

FAILING_JOB = '''
import sys
from headwater.api import RestartStrategies, StreamExecutionEnvironment
from headwater.connectors.jdbc import JdbcConnectionOptions, JdbcExecutionOptions, JdbcSink

url, sql = sys.argv[1], sys.argv[2]
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
env.set_restart_strategy(RestartStrategies.no_restart())
connection = (JdbcConnectionOptions.JdbcConnectionOptionsBuilder().with_url(url)
              .with_user_name("postgres").with_password("topsecret").build())
execution = JdbcExecutionOptions.builder().with_batch_size(10).with_max_retries(2).build()
env.from_collection(list(range(100))).add_sink(JdbcSink.sink(sql, None, connection,
                                                             execution)).name("bad")
env.execute("jdbc bad input")
'''

ROWS = 2000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("jdbc-jobs"), taskmanagers=2, slots=1)
    yield c
    stop_cluster(c)


def test_jdbc_source_reads_every_row_once_over_two_subtasks(cluster, postgres, tmp_path):  # noqa: F811
    postgres.query("CREATE TABLE people (id int PRIMARY KEY, name text)")
    postgres.query("INSERT INTO people SELECT g, 'p' || g FROM generate_series(1, %s) g",
                   (ROWS,))
    postgres.query("CREATE TABLE people_copy (id int, name text)")
    script = tmp_path / "copy.py"
    script.write_text(COPY_JOB)
    job_id = job_id_of(cluster.run("-d", str(script), postgres.jdbc_url, "people",
                                   "people_copy", str(ROWS)).stdout)
    job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=180)
    assert job["state"] == "FINISHED", cluster.client.request(
        "GET", f"/jobs/{job_id}/exceptions")["root-exception"]
    copied = collections.Counter(postgres.query("SELECT id, name FROM people_copy"))
    assert copied == collections.Counter((i, f"P{i}") for i in range(1, ROWS + 1))
    source = job["vertices"][0]["id"]
    metrics = cluster.client.request("GET", f"/jobs/{job_id}/vertices/{source}/metrics",
                                     params={"get": "0.Source__pg-rows.numRecordsOut,"
                                                    "1.Source__pg-rows.numRecordsOut"})
    per_subtask = {m["id"]: int(m["value"]) for m in metrics}
    assert sum(per_subtask.values()) == ROWS
    assert all(n > 0 for n in per_subtask.values()), per_subtask  # both subtasks read


def run_failing(cluster, tmp_path, url, sql) -> str:
    script = tmp_path / "bad.py"
    script.write_text(FAILING_JOB)
    proc = cluster.run(str(script), url, sql, check=False, timeout=240)
    assert proc.returncode == 1
    job_id = job_id_of(proc.stdout)
    assert cluster.client.job(job_id)["state"] == "FAILED"
    return cluster.client.request("GET", f"/jobs/{job_id}/exceptions")["root-exception"]


def test_unreachable_database_fails_the_job_after_the_retries(cluster, postgres, tmp_path):  # noqa: F811
    url = f"jdbc:postgresql://127.0.0.1:{free_port()}/postgres"
    root = run_failing(cluster, tmp_path, url, "INSERT INTO nowhere VALUES (%s)")
    assert "JDBC sink cannot connect to jdbc:postgresql://127.0.0.1:" in root
    assert "after 3 attempt(s)" in root and "topsecret" not in root
    assert_cluster_healthy(cluster, postgres, tmp_path)


def test_sql_error_fails_the_job_naming_it(cluster, postgres, tmp_path):  # noqa: F811
    postgres.query("CREATE TABLE narrow (v smallint)")
    root = run_failing(cluster, tmp_path, postgres.url,
                       "INSERT INTO narrow (v, missing) VALUES (%s, 1)")
    assert 'column "missing" of relation "narrow" does not exist' in root
    assert "statement: INSERT INTO narrow (v, missing)" in root
    assert_cluster_healthy(cluster, postgres, tmp_path)


def assert_cluster_healthy(cluster, pg, tmp_path) -> None:
    """Both TaskManagers are still there and the next JDBC job runs."""
    assert cluster.client.overview()["taskmanagers"] >= 1
    table = f"after_{tmp_path.name[-8:].replace('-', '_')}"
    pg.query(f"CREATE TABLE {table} (v int)")
    script = tmp_path / "good.py"
    script.write_text(FAILING_JOB)  # the same job with a good URL and statement
    cluster.run(str(script), pg.url, f"INSERT INTO {table} VALUES (%s)", timeout=240)
    assert pg.query(f"SELECT count(*) FROM {table}") == [(100,)]


def test_clicks_to_postgres_example(cluster, postgres):  # noqa: F811
    clicks, users, per_second = 6000, 7, 40   # 150 s of event time: three minutes
    cluster.run(str(EXAMPLES / "clicks_to_postgres.py"), "--url", postgres.jdbc_url,
                "--clicks", str(clicks), "--rate", "3000", "--users", str(users),
                "--event-clicks-per-second", str(per_second), "--checkpoint-interval", "300",
                timeout=240)
    expected = collections.Counter(
        (f"user-{i % users}", int(i * 1000 / per_second) // 60_000) for i in range(clicks))
    rows = postgres.query("SELECT user_id, (extract(epoch FROM minute) / 60)::int, clicks "
                          "FROM clicks_per_minute")
    assert {(u, m): n for u, m, n in rows} == dict(expected)
    assert postgres.query("SELECT gid FROM pg_prepared_xacts") == []
