"""The exactly-once JDBC sink: PostgreSQL's two-phase commit, driven by checkpoints
(Flink's ``JdbcXaSinkFunction``, with ``PREPARE TRANSACTION`` in place of XA).

Per subtask, the records of one checkpoint interval are written in one transaction
(``executemany`` per full batch). At the checkpoint barrier the sink writes what it
buffered and prepares the transaction: ``PREPARE TRANSACTION '<gid>'``; the gid is
``<prefix>:<operator id>:<job id>:<subtask>:<attempt>:<checkpoint id>`` and goes into the
checkpoint. When the checkpoint completes everywhere, ``COMMIT PREPARED '<gid>'``
makes the interval's rows visible; a reader never sees rows of a checkpoint that did not
complete.

While a prepared transaction waits for its checkpoint to complete, new records stay in
memory (and go into the next checkpoint's state if it comes first), so the next
transaction never waits for a lock the prepared one holds (an upsert of the same key).

On (re)start, each subtask commits the prepared transactions its restored state records
(already committed ones are skipped) and rolls back every other prepared transaction of
this sink that belongs to it (from a failed attempt, found in ``pg_prepared_xacts`` by the
gid prefix), then writes the records the state held. After rescaling, old subtask ``s``
belongs to new subtask ``s % parallelism``. Whenever a checkpoint completes (and at the
end), the subtask sweeps again for prepared transactions of earlier attempts of itself,
in case a cancelled attempt prepared one after this attempt started.

Needs ``max_prepared_transactions > 0`` on the server (the sink fails at start with a
clear message otherwise). At the end of a bounded input the sink commits everything
(as the file sink does); a job that fails for good leaves its prepared transactions for
the next run of the same sink to resolve.
"""

from __future__ import annotations

import logging
from typing import Any

from headwater.connectors.jdbc.connection import (
    JdbcConnectionOptions,
    JdbcError,
    is_transient,
    with_retries,
)
from headwater.connectors.jdbc.options import JdbcExactlyOnceOptions, JdbcExecutionOptions
from headwater.connectors.jdbc.writer import JdbcWriterOperator
from headwater.runtime.operators.base import OperatorStateSnapshot, Timestamps

log = logging.getLogger(__name__)


class JdbcExactlyOnceSinkOperator(JdbcWriterOperator):
    """One subtask of ``JdbcSink.exactly_once_sink`` (see the module doc)."""

    METRICS = JdbcWriterOperator.METRICS + ("numTransactionsPrepared",
                                            "numTransactionsCommitted",
                                            "numTransactionsRolledBack")
    #: Operator state: this sink's prepared, uncommitted transactions
    #: ``(subtask, gid, checkpoint id)``.
    PREPARED = "jdbc-sink-prepared-transactions"
    #: Operator state: records not yet in any transaction ``(subtask, [params, ...])``.
    UNWRITTEN = "jdbc-sink-unwritten-records"

    def __init__(self, sql: str, statement_builder: Any,
                 connection_options: JdbcConnectionOptions,
                 execution_options: JdbcExecutionOptions,
                 exactly_once_options: JdbcExactlyOnceOptions) -> None:
        super().__init__(sql, statement_builder, connection_options, execution_options)
        self.exactly_once_options = exactly_once_options
        self._reset()

    def _reset(self) -> None:
        self._buffer = []
        self._prepared: list[tuple[int, str, int]] = []
        self._in_transaction = False
        self._failure: BaseException | None = None
        self._initialized = False

    def _new_connection(self) -> Any:
        return self.connection_options.connect(autocommit=True)

    # -- transaction ids ----------------------------------------------------------------

    def gid_prefix(self) -> str:
        """The prefix of every transaction id of this sink."""
        return f"{self.exactly_once_options.transaction_id_prefix}:{self.ctx.operator_id[:16]}:"

    def gid(self, checkpoint_id: int) -> str:
        """The transaction id of this subtask attempt's transaction of a checkpoint."""
        ctx = self.ctx
        return (f"{self.gid_prefix()}{ctx.job_id}:{ctx.subtask_index}:{ctx.attempt_number}:"
                f"{checkpoint_id}")

    @staticmethod
    def subtask_of(gid: str) -> int | None:
        """The subtask index in a gid of this sink (None if it does not parse)."""
        parts = gid.split(":")
        try:
            return int(parts[3]) if len(parts) == 6 else None
        except ValueError:
            return None

    # -- start --------------------------------------------------------------------------

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Check two-phase commit, commit the restored prepared transactions, roll back
        this subtask's unknown ones, and take over the unwritten records."""
        self._reset()
        conn = self.connection()
        self._check_two_phase_commit(conn)
        me, p = self.ctx.subtask_index, self.ctx.parallelism
        recorded = (state or {}).get(self.PREPARED)
        known = set()
        for s, gid, _ in (recorded[1] if recorded else ()):
            known.add(gid)
            if s % p == me:
                self._commit_prepared(gid)
        self._roll_back_strays(known, keep_own=False)  # this attempt has none yet
        unwritten = (state or {}).get(self.UNWRITTEN)
        for s, rows in (unwritten[1] if unwritten else ()):
            if s % p == me:
                self._buffer.extend(rows)
        self._initialized = True

    def open(self) -> None:
        """Start fresh unless the task restored state."""
        if not self._initialized:
            self.initialize_state(None)

    def _roll_back_strays(self, known: set[str], keep_own: bool = True) -> None:
        """Roll back the prepared transactions of this sink that belong to this subtask
        and are not ``known`` (recorded in the restored state) nor, with ``keep_own``,
        this attempt's: those of a failed attempt, also ones a cancelled attempt prepared
        after this one started."""
        if not self.exactly_once_options.recovered_and_rollback:
            return
        me, p = self.ctx.subtask_index, self.ctx.parallelism
        mine = self.gid(0).rsplit(":", 1)[0] + ":" if keep_own else None
        for gid in self._prepared_of_this_sink():
            s = self.subtask_of(gid)
            if gid in known or (mine and gid.startswith(mine)) or s is None or s % p != me:
                continue
            log.info("JDBC sink: rolling back prepared transaction %s (not part of the "
                     "restored checkpoint)", gid)
            if self._finish_prepared("ROLLBACK", gid):
                self.counter("numTransactionsRolledBack").inc()

    def _check_two_phase_commit(self, conn: Any) -> None:
        value = conn.execute("SHOW max_prepared_transactions").fetchone()[0]
        if int(value) <= 0:
            raise JdbcError(
                "JdbcSink.exactly_once_sink needs PostgreSQL's two-phase commit, but "
                f"max_prepared_transactions is 0 on {self.connection_options.describe()}: "
                "set max_prepared_transactions (at least the sink's parallelism times the "
                "checkpoints that may be in flight) in postgresql.conf and restart the server")

    def _prepared_of_this_sink(self) -> list[str]:
        prefix = self.gid_prefix()
        rows = self.connection().execute(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() "
            "AND left(gid, %s) = %s ORDER BY prepared", (len(prefix), prefix)).fetchall()
        return [r[0] for r in rows]

    # -- transactions -------------------------------------------------------------------

    def _finish_prepared(self, verb: str, gid: str) -> bool:
        """``COMMIT PREPARED`` or ``ROLLBACK PREPARED`` (retrying transient errors);
        False if the transaction no longer exists (finished before)."""
        import psycopg
        from psycopg import sql

        statement = sql.SQL(verb + " PREPARED {}").format(sql.Literal(gid))

        def attempt() -> bool:
            try:
                self.raw_connection().execute(statement)
                return True
            except psycopg.errors.UndefinedObject:
                return False
            except Exception as exc:
                if is_transient(exc):
                    self.discard_connection()
                raise

        def describe(error: BaseException, attempts: int) -> str:
            return (f"JDBC sink: {verb} PREPARED '{gid}' failed after {attempts} attempt(s) "
                    f"on {self.connection_options.describe()}: {type(error).__name__}: "
                    f"{str(error).strip()}")

        done: bool = with_retries(attempt, self.exactly_once_options.max_commit_attempts - 1,
                                  lambda: self.counter("numRetries").inc(), describe)
        return done

    def _commit_prepared(self, gid: str) -> None:
        if self._finish_prepared("COMMIT", gid):
            self.counter("numTransactionsCommitted").inc()
        else:
            log.info("JDBC sink: prepared transaction %s was committed before", gid)

    def _write_buffer(self) -> None:
        """Write the buffered records into the open transaction (begun if needed) unless
        a prepared transaction still waits for its commit."""
        if not self._buffer or self._prepared:
            return
        if self._in_transaction:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                raise JdbcError("JDBC sink lost its connection during a transaction; the job "
                                "restarts from its last checkpoint")
        else:
            conn = self.connection()
            conn.execute("BEGIN")
            self._in_transaction = True
        rows = self._buffer
        try:
            self.execute_batch(conn, rows)
        except Exception as exc:
            raise JdbcError(self._statement_failed(exc, 1)) from exc
        self._buffer = []
        self.counter("numRecordsWritten").inc(len(rows))
        self.counter("numBatchesFlushed").inc()

    def _check(self) -> None:
        if self._failure is not None:
            raise JdbcError(f"JDBC sink failed at a checkpoint: {self._failure}") \
                from self._failure

    # -- the operator -------------------------------------------------------------------

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Buffer the records; write a full batch into the open transaction."""
        self._check()
        return super().process_batch(values, timestamps)

    def batch_full(self) -> None:
        """Write the full batch (unless a prepared transaction waits)."""
        self._write_buffer()

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot:
        """Write the buffer and prepare the interval's transaction; the state lists the
        prepared transactions and the records not written yet."""
        self._check()
        try:
            self._write_buffer()
            if self._in_transaction:
                from psycopg import sql

                gid = self.gid(checkpoint_id)
                self.connection().execute(
                    sql.SQL("PREPARE TRANSACTION {}").format(sql.Literal(gid)))
                self._in_transaction = False
                self._prepared.append((self.ctx.subtask_index, gid, checkpoint_id))
                self.counter("numTransactionsPrepared").inc()
        except Exception as exc:
            self._failure = exc  # the transaction is lost: fail the task at the next record
            raise
        me = self.ctx.subtask_index
        return {self.PREPARED: ("union", list(self._prepared)),
                self.UNWRITTEN: ("union", [(me, list(self._buffer))] if self._buffer else [])}

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Commit the prepared transactions of checkpoints up to ``checkpoint_id``."""
        keep = []
        for entry in self._prepared:
            if entry[2] <= checkpoint_id:
                self._commit_prepared(entry[1])
            else:
                keep.append(entry)
        self._prepared = keep
        if not self._in_transaction:
            self._roll_back_strays(set())
        if len(self._buffer) >= self.execution_options.batch_size:
            self._write_buffer()

    def end_input(self) -> tuple[list, Timestamps]:
        """Bounded input done: commit everything (see the module doc)."""
        self._check()
        for entry in self._prepared:
            self._commit_prepared(entry[1])
        self._prepared = []
        self._write_buffer()
        if self._in_transaction:
            self.connection().execute("COMMIT")
            self._in_transaction = False
            self.counter("numTransactionsCommitted").inc()
        self._roll_back_strays(set())
        return [], None

    def close(self) -> None:
        """Roll back an open (unprepared) transaction and disconnect."""
        conn = self._conn
        if self._in_transaction and conn is not None and not conn.closed:
            try:
                conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - closing discards it anyway
                pass
        self._in_transaction = False
        super().close()

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_prepared"] = []
        state["_in_transaction"] = False
        state["_failure"] = None
        state["_initialized"] = False
        return state
