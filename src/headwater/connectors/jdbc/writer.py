"""What both JDBC sink operators share: the record buffer, the statement, the connection
and the metrics.

Metrics (per subtask, in the operator's group of the REST vertex metrics, e.g.
``0.Sink__clicks.numRecordsWritten``): ``numRecordsWritten``, ``numBatchesFlushed``,
``numRetries``, and for the exactly-once sink ``numTransactionsPrepared``,
``numTransactionsCommitted``, ``numTransactionsRolledBack``.
"""

from __future__ import annotations

from typing import Any

from headwater.connectors.jdbc.connection import (
    JdbcConnectionOptions,
    JdbcError,
    with_retries,
)
from headwater.connectors.jdbc.options import JdbcExecutionOptions
from headwater.connectors.jdbc.statements import statement_builder_of
from headwater.runtime.metrics.types import Counter
from headwater.runtime.operators.base import StreamOperator, Timestamps


class JdbcWriterOperator(StreamOperator):
    """Base of the JDBC sink operators: buffers statement parameters of records."""

    #: Names of this operator's counters.
    METRICS: tuple[str, ...] = ("numRecordsWritten", "numBatchesFlushed", "numRetries")

    def __init__(self, sql: str, statement_builder: Any,
                 connection_options: JdbcConnectionOptions,
                 execution_options: JdbcExecutionOptions) -> None:
        if not isinstance(sql, str) or not sql.strip():
            raise ValueError("a JDBC sink needs an SQL statement")
        if not isinstance(connection_options, JdbcConnectionOptions):
            raise TypeError("connection options must be JdbcConnectionOptions")
        self.sql = sql
        self.params = statement_builder_of(statement_builder)
        self.connection_options = connection_options
        self.execution_options = execution_options
        self._buffer: list[Any] = []
        self._conn: Any = None
        self._counters: dict[str, Counter] | None = None

    def setup(self, ctx: Any) -> None:
        """Attach the context and register the metrics (they report 0 until used)."""
        super().setup(ctx)
        self._counters = None
        self.counter(self.METRICS[0])

    # -- metrics ------------------------------------------------------------------------

    def counter(self, name: str) -> Counter:
        """One of :attr:`METRICS` (registered in the operator's metric group)."""
        if self._counters is None:
            group = getattr(getattr(self, "ctx", None), "metric_group", None)
            self._counters = {}
            for metric in self.METRICS:
                self._counters[metric] = group.counter(metric) if group is not None \
                    else Counter()
        return self._counters[name]

    # -- connection ---------------------------------------------------------------------

    def _new_connection(self) -> Any:
        """Open a connection (psycopg); subclasses choose its mode."""
        return self.connection_options.connect()

    def raw_connection(self) -> Any:
        """The open connection, or a new one (connection errors propagate as they are)."""
        if self._conn is None or self._conn.closed:
            self._conn = None
            self._conn = self._new_connection()
        return self._conn

    def connection(self) -> Any:
        """The open connection, reconnecting with retries if there is none."""
        return with_retries(self.raw_connection, self.execution_options.max_retries,
                            lambda: self.counter("numRetries").inc(), self._connect_failed)

    def _connect_failed(self, error: BaseException, attempts: int) -> str:
        return (f"JDBC sink cannot connect to {self.connection_options.describe()} after "
                f"{attempts} attempt(s): {type(error).__name__}: {str(error).strip()}")

    def _statement_failed(self, error: BaseException, attempts: int) -> str:
        state = getattr(error, "sqlstate", None)
        return (f"JDBC sink statement failed after {attempts} attempt(s) "
                f"({type(error).__name__}{f', SQLSTATE {state}' if state else ''}): "
                f"{str(error).strip()} -- statement: {self.sql}")

    def discard_connection(self) -> None:
        """Close the connection (ignoring errors); the next use opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is broken anyway
                pass

    def execute_batch(self, conn: Any, rows: list[Any]) -> None:
        """Run the statement once per parameter row (``executemany``, pipelined)."""
        with conn.cursor() as cur:
            cur.executemany(self.sql, rows)

    # -- records ------------------------------------------------------------------------

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Buffer the records' parameters; write when the batch is full."""
        if values:
            self._buffer.extend(map(self.params, values))
            if len(self._buffer) >= self.execution_options.batch_size:
                self.batch_full()
        return [], None

    def batch_full(self) -> None:
        """The buffer reached the batch size."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection."""
        self.discard_connection()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("ctx", None)
        state["_buffer"] = []
        state["_conn"] = None
        state["_counters"] = None
        return state


__all__ = ["JdbcError", "JdbcWriterOperator"]
