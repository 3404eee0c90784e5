"""``JdbcSink``: PyFlink's factory of JDBC sinks (at-least-once and exactly-once)::

    from headwater.connectors.jdbc import (JdbcConnectionOptions, JdbcExecutionOptions,
                                           JdbcSink)

    stream.add_sink(JdbcSink.sink(
        "INSERT INTO counts (word, n) VALUES (%s, %s) "
        "ON CONFLICT (word) DO UPDATE SET n = EXCLUDED.n",
        None,                                 # records are (word, n) tuples
        JdbcConnectionOptions.JdbcConnectionOptionsBuilder()
            .with_url("jdbc:postgresql://localhost:5432/db")
            .with_user_name("app").with_password("secret").build(),
        JdbcExecutionOptions.builder().with_batch_size(1000)
            .with_batch_interval_ms(200).with_max_retries(3).build()))

The options may come in PyFlink's order (connection, execution) or Java's (execution,
connection). The statement uses psycopg's placeholders (``%s``, ``%(name)s``); see
:mod:`headwater.connectors.jdbc.statements` for how records become parameters.
"""

from __future__ import annotations

from typing import Any

from headwater.connectors.jdbc.connection import JdbcConnectionOptions
from headwater.connectors.jdbc.options import JdbcExactlyOnceOptions, JdbcExecutionOptions
from headwater.runtime.operators.base import StreamOperator


def _sort_options(options: tuple[Any, ...]) -> dict[type, Any]:
    found: dict[type, Any] = {}
    for option in options:
        if option is None:
            continue
        kind = next((k for k in (JdbcConnectionOptions, JdbcExecutionOptions,
                                 JdbcExactlyOnceOptions) if isinstance(option, k)), None)
        if kind is None:
            raise TypeError(f"not a JDBC option object: {type(option).__name__}")
        if kind in found:
            raise TypeError(f"{kind.__name__} given twice")
        found[kind] = option
    if JdbcConnectionOptions not in found:
        raise TypeError("a JDBC sink needs JdbcConnectionOptions")
    return found


class JdbcSink:
    """A JDBC sink; make one with :meth:`sink` or :meth:`exactly_once_sink` and add it
    with ``stream.add_sink(...)`` or ``stream.sink_to(...)``."""

    def __init__(self, sql: str, statement_builder: Any,
                 connection_options: JdbcConnectionOptions,
                 execution_options: JdbcExecutionOptions,
                 exactly_once_options: JdbcExactlyOnceOptions | None = None) -> None:
        self.sql = sql
        self.statement_builder = statement_builder
        self.connection_options = connection_options
        self.execution_options = execution_options
        self.exactly_once_options = exactly_once_options

    @staticmethod
    def sink(sql: str, statement_builder_or_type_info: Any, *options: Any) -> JdbcSink:
        """At-least-once: batches written on size, interval and every checkpoint, with
        retries (see :mod:`headwater.connectors.jdbc.at_least_once`). ``options``:
        JdbcConnectionOptions and optionally JdbcExecutionOptions, in either order."""
        found = _sort_options(options)
        if JdbcExactlyOnceOptions in found:
            raise TypeError("JdbcExactlyOnceOptions belong to JdbcSink.exactly_once_sink")
        JdbcSink._check_sql(sql)
        return JdbcSink(sql, statement_builder_or_type_info, found[JdbcConnectionOptions],
                        found.get(JdbcExecutionOptions) or JdbcExecutionOptions.defaults())

    @staticmethod
    def exactly_once_sink(sql: str, statement_builder: Any, *options: Any) -> JdbcSink:
        """Exactly-once through PostgreSQL's two-phase commit (see
        :mod:`headwater.connectors.jdbc.exactly_once`). ``options``: JdbcConnectionOptions,
        and optionally JdbcExecutionOptions and JdbcExactlyOnceOptions, in any order (Java:
        execution, exactly-once, connection)."""
        found = _sort_options(options)
        JdbcSink._check_sql(sql)
        return JdbcSink(sql, statement_builder, found[JdbcConnectionOptions],
                        found.get(JdbcExecutionOptions) or JdbcExecutionOptions.defaults(),
                        found.get(JdbcExactlyOnceOptions) or JdbcExactlyOnceOptions.defaults())

    @staticmethod
    def _check_sql(sql: Any) -> None:
        if not isinstance(sql, str) or not sql.strip():
            raise ValueError("a JDBC sink needs an SQL statement")

    @property
    def exactly_once(self) -> bool:
        """True for a two-phase-commit sink."""
        return self.exactly_once_options is not None

    def create_operator(self) -> StreamOperator:
        """The sink operator the stream adds to the job."""
        if self.exactly_once_options is not None:
            from headwater.connectors.jdbc.exactly_once import JdbcExactlyOnceSinkOperator

            return JdbcExactlyOnceSinkOperator(self.sql, self.statement_builder,
                                               self.connection_options,
                                               self.execution_options,
                                               self.exactly_once_options)
        from headwater.connectors.jdbc.at_least_once import JdbcAtLeastOnceSinkOperator

        return JdbcAtLeastOnceSinkOperator(self.sql, self.statement_builder,
                                           self.connection_options, self.execution_options)
