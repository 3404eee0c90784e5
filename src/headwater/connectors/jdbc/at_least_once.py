"""The at-least-once JDBC sink: batches of records written with ``executemany`` and
committed, when a batch is full, every batch interval and at every checkpoint (so a
completed checkpoint implies its records are in the database). After a failure the
records since the last checkpoint come again: make the statement idempotent (an upsert,
``INSERT ... ON CONFLICT (key) DO UPDATE SET ...``) and the table ends up exact.

A transient error (connection lost, server restart, serialization failure) is retried on
a new connection ``max_retries`` times with a growing pause; any other error (a bad
statement, a constraint violation) fails the job at once, naming the database's message
and the statement.
"""

from __future__ import annotations

from typing import Any

from headwater.connectors.jdbc.connection import is_transient, with_retries
from headwater.connectors.jdbc.writer import JdbcWriterOperator
from headwater.runtime.operators.base import OperatorStateSnapshot, Timestamps


class JdbcAtLeastOnceSinkOperator(JdbcWriterOperator):
    """Flink's ``JdbcOutputFormat`` behind ``JdbcSink.sink``: batching and retries."""

    def open(self) -> None:
        """Connect (with retries: an unreachable database fails here) and start the
        batch interval timer."""
        self.connection()
        self._timer_service = getattr(self.ctx, "processing_time_service", None)
        self._schedule()

    def _schedule(self) -> None:
        interval = self.execution_options.batch_interval_ms
        service = getattr(self, "_timer_service", None)
        if interval > 0 and service is not None:
            service.register_timer(service.current_processing_time() + interval,
                                   self._on_timer)

    def _on_timer(self, timestamp: int) -> None:
        self.flush()
        self._schedule()

    def batch_full(self) -> None:
        """Write the full batch."""
        self.flush()

    def flush(self) -> None:
        """Write and commit the buffered records (retrying transient errors)."""
        rows = self._buffer
        if not rows:
            return

        def attempt() -> None:
            conn = self.raw_connection()
            try:
                self.execute_batch(conn, rows)
                conn.commit()
            except Exception as exc:
                if is_transient(exc) or conn.broken:
                    self.discard_connection()
                else:
                    conn.rollback()
                raise

        with_retries(attempt, self.execution_options.max_retries,
                     lambda: self.counter("numRetries").inc(), self._describe)
        self._buffer = []
        self.counter("numRecordsWritten").inc(len(rows))
        self.counter("numBatchesFlushed").inc()

    def _describe(self, error: BaseException, attempts: int) -> str:
        if self._conn is None and is_transient(error):
            return self._connect_failed(error, attempts)
        return self._statement_failed(error, attempts)

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot | None:
        """Flush: the checkpoint completes only with every record before it written."""
        self.flush()
        return None

    def end_input(self) -> tuple[list, Timestamps]:
        """Write what is left."""
        self.flush()
        return [], None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_timer_service", None)
        return state
