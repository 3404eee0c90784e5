"""The JDBC sink and source operators against a real PostgreSQL server, driven by the
operator test harness (one subtask outside a cluster, checkpoints called by hand): the
at-least-once batching and retries, the two-phase-commit protocol and its recovery, the
split source."""

from __future__ import annotations

import itertools
import threading

import pytest

from headwater.connectors.jdbc import (
    JdbcConnectionOptions,
    JdbcError,
    JdbcExactlyOnceOptions,
    JdbcExecutionOptions,
    JdbcNumericBetweenParametersProvider,
    JdbcSink,
    JdbcSource,
)
from headwater.connectors.jdbc import connection as jdbc_connection
from headwater.runtime.checkpoint.redistribution import redistribute_operator_state
from headwater.testing import OneInputStreamOperatorTestHarness
from headwater.testing.fixtures import postgres  # noqa: F401 - the fixture
from tests.integration.conftest import free_port

_names = itertools.count()


@pytest.fixture
def table(postgres):  # noqa: F811 - the fixture
    """A fresh table ``(k int PRIMARY KEY, v int)``; its name."""
    name = f"t_ops_{next(_names)}"
    postgres.query(f"CREATE TABLE {name} (k int PRIMARY KEY, v int)")
    return name


def options(pg, url=None):
    return (JdbcConnectionOptions.JdbcConnectionOptionsBuilder()
            .with_url(url or pg.jdbc_url).with_user_name("postgres").with_password("secret")
            .build())


def execution(batch_size=100, interval=0, retries=3):
    return (JdbcExecutionOptions.builder().with_batch_size(batch_size)
            .with_batch_interval_ms(interval).with_max_retries(retries).build())


def harness(sink, subtask=0, parallelism=1, state=None, **kw):
    return OneInputStreamOperatorTestHarness(sink.create_operator(), subtask_index=subtask,
                                             parallelism=parallelism, operator_state=state,
                                             **kw)


def rows(pg, table):
    return pg.query(f"SELECT k, v FROM {table} ORDER BY k, v")


def counts(h):
    return {name: c.get_count() for name, c in h.operator._counters.items()}


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(jdbc_connection, "backoff_seconds", lambda attempt: 0.05)


# -- at least once ------------------------------------------------------------------------


def upsert(table):
    return (f"INSERT INTO {table} (k, v) VALUES (%s, %s) "
            "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v")


def test_batches_flush_on_size_interval_checkpoint_and_end(postgres, table):  # noqa: F811
    sink = JdbcSink.sink(upsert(table), None, options(postgres), execution(3, interval=100))
    h = harness(sink)
    h.process_batch([(1, 1), (2, 2)])
    assert rows(postgres, table) == []
    h.process_batch([(1, 10)])                        # size 3: written
    assert rows(postgres, table) == [(1, 10), (2, 2)]
    h.process_batch([(3, 3)])
    h.set_processing_time(100)                        # the batch interval
    assert rows(postgres, table) == [(1, 10), (2, 2), (3, 3)]
    h.process_batch([(4, 4)])
    assert h.snapshot(1) == (None, None)              # a checkpoint flushes
    assert (4, 4) in rows(postgres, table)
    h.process_batch([(5, 5)])
    h.end_input()
    assert len(rows(postgres, table)) == 5
    assert counts(h) == {"numRecordsWritten": 6, "numBatchesFlushed": 4, "numRetries": 0}
    h.close()


def test_records_as_dicts_or_through_a_statement_builder(postgres, table):  # noqa: F811
    named = JdbcSink.sink(f"INSERT INTO {table} VALUES (%(k)s, %(v)s)", None,
                          execution(), options(postgres))          # Java's option order
    h = harness(named)
    h.process_batch([{"k": 1, "v": 2}])
    h.end_input()
    built = JdbcSink.sink(f"INSERT INTO {table} VALUES (%s, %s)", lambda x: (x, x * x),
                          options(postgres))
    h2 = harness(built)
    h2.process_batch([3, 4])
    h2.end_input()
    assert rows(postgres, table) == [(1, 2), (3, 9), (4, 16)]
    h.close()
    h2.close()


def test_a_lost_connection_is_retried_on_a_new_one(postgres, table, fast_backoff):  # noqa: F811
    sink = JdbcSink.sink(upsert(table), None, options(postgres), execution(2))
    h = harness(sink)
    h.process_batch([(1, 1), (2, 2)])
    pid = h.operator._conn.info.backend_pid
    postgres.query("SELECT pg_terminate_backend(%s)", (pid,))
    h.process_batch([(3, 3), (4, 4)])
    assert [k for k, _ in rows(postgres, table)] == [1, 2, 3, 4]
    assert counts(h)["numRetries"] == 1
    assert h.operator._conn.info.backend_pid != pid
    h.close()


def test_a_statement_error_fails_at_once_naming_it(postgres, table, fast_backoff):  # noqa: F811
    sink = JdbcSink.sink("INSERT INTO no_such_table VALUES (%s)", None, options(postgres),
                         execution(1))
    h = harness(sink)
    with pytest.raises(JdbcError) as err:
        h.process_batch([1])
    message = str(err.value)
    assert 'relation "no_such_table" does not exist' in message
    assert "SQLSTATE 42P01" in message and "INSERT INTO no_such_table" in message
    assert counts(h)["numRetries"] == 0
    h.close()


def test_an_unreachable_database_fails_after_the_retries(postgres, fast_backoff):  # noqa: F811
    url = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/postgres"
    sink = JdbcSink.sink("INSERT INTO x VALUES (%s)", None, options(postgres, url),
                         execution(retries=2))
    with pytest.raises(JdbcError) as err:
        harness(sink)
    message = str(err.value)
    assert "cannot connect to postgresql://postgres:***@127.0.0.1" in message
    assert "after 3 attempt(s)" in message and "secret" not in message


# -- exactly once -------------------------------------------------------------------------


def exactly_once(pg, table, prefix, batch_size=2):
    return JdbcSink.exactly_once_sink(
        f"INSERT INTO {table} (k, v) VALUES (%s, %s)", None, execution(batch_size),
        JdbcExactlyOnceOptions.builder().with_transaction_id_prefix(prefix).build(),
        options(pg))


def prepared(pg, prefix):
    return [g for (g,) in pg.query("SELECT gid FROM pg_prepared_xacts ORDER BY gid")
            if g.startswith(prefix + ":")]


def test_prepare_at_the_barrier_commit_on_completion(postgres, table):  # noqa: F811
    h = harness(exactly_once(postgres, table, "proto"))
    h.process_batch([(1, 1), (2, 2), (3, 3)])        # a full batch goes into the transaction
    assert rows(postgres, table) == []               # ... which nobody else sees
    state, _ = h.snapshot(5)
    [gid] = prepared(postgres, "proto")
    assert gid.endswith(":0:0:5") and state["jdbc-sink-prepared-transactions"] == (
        "union", [(0, gid, 5)])
    assert state["jdbc-sink-unwritten-records"] == ("union", [])
    assert rows(postgres, table) == []
    h.process_batch([(4, 4), (5, 5)])                # waits in memory: a commit is due
    assert h.operator._buffer == [(4, 4), (5, 5)]
    h.operator.notify_checkpoint_complete(5)
    assert prepared(postgres, "proto") == []
    assert [k for k, _ in rows(postgres, table)] == [1, 2, 3]
    h.snapshot(6)
    h.operator.notify_checkpoint_complete(6)
    assert [k for k, _ in rows(postgres, table)] == [1, 2, 3, 4, 5]
    assert counts(h) == {"numRecordsWritten": 5, "numBatchesFlushed": 2, "numRetries": 0,
                         "numTransactionsPrepared": 2, "numTransactionsCommitted": 2,
                         "numTransactionsRolledBack": 0}
    h.close()


def test_restore_commits_recorded_and_rolls_back_the_rest(postgres, table):  # noqa: F811
    h = harness(exactly_once(postgres, table, "restore"))
    h.process_batch([(1, 1)])
    state, _ = h.snapshot(1)                         # prepared, completion never heard of
    h.process_batch([(2, 2)])
    h.snapshot(2)                                    # pending record (no commit of 1 yet)
    h.operator.notify_checkpoint_complete(1)
    h.process_batch([(3, 3), (4, 4)])
    h.snapshot(3)                                    # prepared, then the "crash"
    h.operator._conn.close()
    assert len(prepared(postgres, "restore")) == 1
    # restore from checkpoint 1: its transaction commits (again: it was), 3's rolls back
    h2 = harness(exactly_once(postgres, table, "restore"), state=state)
    assert prepared(postgres, "restore") == []
    assert [k for k, _ in rows(postgres, table)] == [1]
    assert counts(h2)["numTransactionsRolledBack"] == 1
    h2.process_batch([(2, 2), (3, 3), (4, 4)])       # the replay
    h2.end_input()
    assert [k for k, _ in rows(postgres, table)] == [1, 2, 3, 4]
    h2.close()


def test_records_waiting_for_a_commit_go_into_the_state(postgres, table):  # noqa: F811
    h = harness(exactly_once(postgres, table, "waiting", batch_size=100))
    h.process_batch([(1, 1)])
    h.snapshot(1)
    h.process_batch([(2, 2)])
    state, _ = h.snapshot(2)                         # checkpoint 1 not complete yet
    assert state["jdbc-sink-unwritten-records"] == ("union", [(0, [(2, 2)])])
    h.close()
    h2 = harness(exactly_once(postgres, table, "waiting"), state=state)
    h2.end_input()
    assert [k for k, _ in rows(postgres, table)] == [1, 2]
    assert prepared(postgres, "waiting") == []
    h2.close()


def test_rescaled_restore_resolves_every_old_subtask(postgres, table):  # noqa: F811
    sink = exactly_once(postgres, table, "rescale")
    states = []
    for i in range(2):
        h = harness(sink, i, 2)
        h.process_batch([(10 * i + 1, i), (10 * i + 2, i), (10 * i + 3, i)])
        state, _ = h.snapshot(4)
        if i == 0:
            h.operator.notify_checkpoint_complete(4)  # subtask 1 never hears of it
            h.process_batch([(10 * i + 4, i)])
            h.snapshot(5)                             # prepared, not in the restored state
        h.operator._conn.close()
        states.append(state)
    assert len(prepared(postgres, "rescale")) == 2
    h = harness(sink, 0, 1, redistribute_operator_state(states, 1, 0))
    assert prepared(postgres, "rescale") == []
    assert [k for k, _ in rows(postgres, table)] == [1, 2, 3, 11, 12, 13]
    h.close()


def test_without_two_phase_commit_the_sink_says_so(table):
    from headwater.testing.postgres import PostgresServer

    with PostgresServer(max_prepared_transactions=0) as pg:
        with pytest.raises(JdbcError, match="max_prepared_transactions is 0"):
            harness(exactly_once(pg, "whatever", "no2pc"))


# -- source -------------------------------------------------------------------------------


def test_numeric_between_parameters_as_flink():
    assert JdbcNumericBetweenParametersProvider(1, 10).of_batch_num(3) \
        .get_parameter_values() == [(1, 4), (5, 7), (8, 10)]
    assert JdbcNumericBetweenParametersProvider(0, 9).of_batch_size(4) \
        .get_parameter_values() == [(0, 3), (4, 6), (7, 9)]
    assert JdbcNumericBetweenParametersProvider(5, 6).of_batch_num(10) \
        .get_parameter_values() == [(5, 5), (6, 6)]


class Output:
    def __init__(self, source, snapshot_at=None, stop_at=None):
        self.lock = threading.RLock()
        self.source, self.snapshot_at, self.stop_at = source, snapshot_at, stop_at
        self.values, self.batches, self.snapshot, self.at_snapshot = [], 0, None, 0

    @property
    def cancelled(self):
        return self.stop_at is not None and self.batches >= self.stop_at

    def collect_batch(self, values, timestamps=None):
        self.batches += 1
        if self.batches == self.snapshot_at:
            self.snapshot = self.source.snapshot_state(1)
            self.at_snapshot = len(self.values)
        self.values.extend(values)


def test_source_resumes_inside_a_split_at_another_parallelism(postgres, table):  # noqa: F811
    postgres.query(f"INSERT INTO {table} SELECT g, g * 2 FROM generate_series(1, 500) g")
    source = (JdbcSource.builder().set_db_url(postgres.url)
              .set_sql(f"SELECT k, v FROM {table} WHERE k BETWEEN %s AND %s ORDER BY k")
              .set_jdbc_parameter_values_provider(
                  JdbcNumericBetweenParametersProvider(1, 500).of_batch_num(5))
              .set_fetch_size(16).build())
    emitted, old = [], []
    for i in range(2):
        h = harness(source, i, 2, open=True)
        out = Output(h.operator, snapshot_at=6, stop_at=9)
        h.operator.run(out)
        emitted += out.values[:out.at_snapshot]
        old.append(out.snapshot)
        h.close()
    for j in range(3):
        h = harness(source, j, 3, redistribute_operator_state(old, 3, j))
        out = Output(h.operator)
        h.operator.run(out)
        emitted += out.values
        h.close()
    assert sorted(emitted) == [(k, 2 * k) for k in range(1, 501)]


def test_source_partition_column_and_dict_rows(postgres, table):  # noqa: F811
    postgres.query(f"INSERT INTO {table} SELECT g, g FROM generate_series(1, 30) g")
    source = (JdbcSource.builder()
              .set_connection_options(options(postgres))
              .set_query(f"SELECT k, v FROM {table}").set_partition_column("k")
              .set_partition_bounds(1, 30).set_num_partitions(4).set_row_format("dict")
              .build())
    assert len(source.parameters) == 4
    got = []
    for i in range(2):
        h = harness(source, i, 2)
        out = Output(h.operator)
        h.operator.run(out)
        got += out.values
        h.close()
    assert sorted(r["k"] for r in got) == list(range(1, 31))


def test_source_query_error_names_the_query(postgres):  # noqa: F811
    source = JdbcSource.builder().set_db_url(postgres.url) \
        .set_sql("SELECT nothing FROM nowhere").build()
    h = harness(source)
    with pytest.raises(JdbcError, match='(?s)relation "nowhere" does not exist.*'
                                        "query: SELECT nothing FROM nowhere"):
        h.operator.run(Output(h.operator))
    h.close()


def test_a_cancelled_attempt_preparing_late_is_rolled_back(postgres, table):  # noqa: F811
    sink = exactly_once(postgres, table, "zombie")
    old = harness(sink)                              # attempt 0 goes on after a failure...
    new = harness(sink)                              # ... while attempt 1 starts
    new.context.attempt_number = 1
    old.process_batch([(1, 1)])
    old.snapshot(7)                                  # the zombie prepares late
    new.process_batch([(2, 2)])
    new.snapshot(8)
    assert len(prepared(postgres, "zombie")) == 2
    new.operator.notify_checkpoint_complete(8)
    assert prepared(postgres, "zombie") == []
    assert rows(postgres, table) == [(2, 2)]
    assert counts(new)["numTransactionsRolledBack"] == 1
    old.close()
    new.close()
