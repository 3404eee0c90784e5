"""A bounded source of the rows of a query, split for parallel reading (Flink's
``JdbcSource``/``JdbcInputFormat`` with a ``JdbcNumericBetweenParametersProvider``)::

    source = (JdbcSource.builder()
              .set_db_url("jdbc:postgresql://localhost:5432/db")
              .set_username("app").set_password("secret")
              .set_sql("SELECT id, name FROM users WHERE id BETWEEN %s AND %s ORDER BY id")
              .set_jdbc_parameter_values_provider(
                  JdbcNumericBetweenParametersProvider(1, 1_000_000).of_batch_num(16))
              .build())
    rows = env.from_source(source, None, "users")      # (id, name) tuples

or, naming the partition column of any query::

    JdbcSource.builder().set_db_url(url).set_query("SELECT id, name FROM users")
        .set_partition_column("id").set_partition_bounds(1, 1_000_000)
        .set_num_partitions(16).build()

Each split is the query run with one parameter tuple; splits are dealt out round-robin
over the subtasks and kept as "split" operator state ``(split, parameters, rows
emitted)``: a restored job (also at another parallelism) skips what a split emitted
before the checkpoint, so give the query an ``ORDER BY`` if the table's physical order
may change. Rows are tuples, or dicts with ``set_row_format("dict")``, or whatever
``set_result_extractor(row -> record)`` makes of them. Without a parameters provider
the whole query is one split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from headwater.connectors.jdbc.connection import (
    JdbcConnectionOptions,
    JdbcError,
    psycopg_module,
    with_retries,
)
from headwater.connectors.jdbc.parameters import (
    JdbcNumericBetweenParametersProvider,
    JdbcParameterValuesProvider,
)
from headwater.runtime.operators.base import OperatorStateSnapshot, SourceOutput
from headwater.runtime.operators.sources import ChunkSizer, SplitSource, _checkpoint_lock


class JdbcSource:
    """The rows of a (split) query; build with :meth:`builder`."""

    def __init__(self, connection_options: JdbcConnectionOptions, sql: str,
                 parameters: list[tuple[Any, ...]] | None, row_format: str = "tuple",
                 result_extractor: Callable[[Any], Any] | None = None,
                 fetch_size: int = 1000, max_retries: int = 3) -> None:
        self.connection_options = connection_options
        self.sql = sql
        self.parameters = parameters
        self.row_format = row_format
        self.result_extractor = result_extractor
        self.fetch_size = fetch_size
        self.max_retries = max_retries

    @staticmethod
    def builder() -> JdbcSourceBuilder:
        """A builder."""
        return JdbcSourceBuilder()

    def splits(self) -> list[tuple[Any, ...] | None]:
        """The parameters of every split (None: the query has no parameters)."""
        return list(self.parameters) if self.parameters is not None else [None]

    def create_operator(self) -> JdbcSourceOperator:
        """The source operator the environment adds to the job."""
        return JdbcSourceOperator(self)


class JdbcSourceBuilder:
    """Builds a :class:`JdbcSource` (Flink's setter names)."""

    def __init__(self) -> None:
        self._url = ""
        self._user: str | None = None
        self._password: str | None = None
        self._options: JdbcConnectionOptions | None = None
        self._sql = ""
        self._provider: JdbcParameterValuesProvider | None = None
        self._column: str | None = None
        self._bounds: tuple[int, int] | None = None
        self._partitions = 1
        self._row_format = "tuple"
        self._extractor: Callable[[Any], Any] | None = None
        self._fetch_size = 1000
        self._max_retries = 3

    def set_db_url(self, url: str) -> JdbcSourceBuilder:
        """``postgresql://...`` or ``jdbc:postgresql://...``."""
        self._url = url
        return self

    def set_username(self, user: str) -> JdbcSourceBuilder:
        """The database user."""
        self._user = user
        return self

    def set_password(self, password: str) -> JdbcSourceBuilder:
        """The user's password."""
        self._password = password
        return self

    def set_connection_options(self, options: JdbcConnectionOptions) -> JdbcSourceBuilder:
        """All connection settings at once (instead of URL, user, password)."""
        self._options = options
        return self

    def set_sql(self, sql: str) -> JdbcSourceBuilder:
        """The query; with a parameters provider it has one placeholder per parameter."""
        self._sql = sql
        return self

    def set_query(self, query: str) -> JdbcSourceBuilder:
        """The query (the same as :meth:`set_sql`)."""
        return self.set_sql(query)

    def set_jdbc_parameter_values_provider(self, provider: JdbcParameterValuesProvider
                                           ) -> JdbcSourceBuilder:
        """The parameters of each split."""
        self._provider = provider
        return self

    def set_partition_column(self, column: str) -> JdbcSourceBuilder:
        """Split the query by ranges of this numeric column (with the bounds and the
        number of partitions)."""
        self._column = column
        return self

    def set_partition_bounds(self, lower: int, upper: int) -> JdbcSourceBuilder:
        """The smallest and largest value of the partition column (inclusive)."""
        self._bounds = (int(lower), int(upper))
        return self

    def set_num_partitions(self, partitions: int) -> JdbcSourceBuilder:
        """How many splits the column range is cut into."""
        self._partitions = int(partitions)
        return self

    def set_row_format(self, row_format: str) -> JdbcSourceBuilder:
        """"tuple" (default) or "dict" (column name -> value)."""
        if row_format not in ("tuple", "dict"):
            raise ValueError("row format must be 'tuple' or 'dict'")
        self._row_format = row_format
        return self

    def set_result_extractor(self, extractor: Callable[[Any], Any]) -> JdbcSourceBuilder:
        """Turns each row (tuple or dict) into the record emitted."""
        self._extractor = extractor
        return self

    def set_fetch_size(self, size: int) -> JdbcSourceBuilder:
        """Rows fetched per round trip (a server-side cursor)."""
        self._fetch_size = max(1, int(size))
        return self

    def set_max_retries(self, retries: int) -> JdbcSourceBuilder:
        """Retries of a failing connection attempt."""
        self._max_retries = int(retries)
        return self

    def build(self) -> JdbcSource:
        """The source."""
        options = self._options or JdbcConnectionOptions(self._url, self._user, self._password)
        if not self._sql:
            raise ValueError("a JdbcSource needs a query (set_sql)")
        sql = self._sql
        provider = self._provider
        if self._column is not None:
            if provider is not None:
                raise ValueError("give either a partition column or a parameters provider")
            if self._bounds is None:
                raise ValueError("a partition column needs its bounds "
                                 "(set_partition_bounds)")
            psql = psycopg_module().sql
            column = psql.Identifier(*self._column.split(".")).as_string(None)
            sql = (f"SELECT * FROM ({sql.rstrip().rstrip(';')}) AS headwater_partitioned "
                   f"WHERE {column} BETWEEN %s AND %s")
            provider = JdbcNumericBetweenParametersProvider(*self._bounds) \
                .of_batch_num(self._partitions)
        parameters = provider.get_parameter_values() if provider is not None else None
        return JdbcSource(options, sql, parameters, self._row_format, self._extractor,
                          self._fetch_size, self._max_retries)


class JdbcSourceOperator(SplitSource):
    """Reads its splits; checkpoints ``[split index, parameters, rows emitted]``."""

    state_name = "jdbc-source-splits"

    def __init__(self, source: JdbcSource) -> None:
        super().__init__()
        self.source = source
        self._conn: Any = None

    def initial_splits(self) -> list[list[Any]]:
        """Splits i, i+p, ... of subtask i."""
        i, p = self.ctx.subtask_index, self.ctx.parallelism
        return [[n, params, 0] for n, params in enumerate(self.source.splits())][i::p]

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Resume the restored splits (None: read everything)."""
        entry = state.get(self.state_name) if state else None
        self._splits = None if entry is None else [list(s) for s in entry[1]]

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot:
        """The unfinished splits as "split" list state."""
        return {self.state_name: ("split", [tuple(s) for s in self._positions()])}

    def _connect(self) -> Any:
        options = self.source.connection_options

        def describe(error: BaseException, attempts: int) -> str:
            return (f"JDBC source cannot connect to {options.describe()} after {attempts} "
                    f"attempt(s): {type(error).__name__}: {str(error).strip()}")

        return with_retries(options.connect, self.source.max_retries, lambda: None, describe)

    def run(self, output: SourceOutput) -> None:
        """Run each split's query and emit its rows in chunks."""
        from psycopg.rows import dict_row, tuple_row

        lock = _checkpoint_lock(output)
        splits = self._positions()
        if not splits:
            return
        src = self.source
        extract = src.result_extractor
        self._conn = conn = self._connect()
        conn.row_factory = dict_row if src.row_format == "dict" else tuple_row
        sizer = ChunkSizer(maximum=src.fetch_size)
        clock = time.perf_counter
        while splits:
            split = splits[0]
            number, params, emitted = split
            with conn.transaction():
                cur = conn.cursor(name=f"headwater_split_{number}")
                try:
                    try:
                        cur.execute(src.sql, params)
                    except Exception as exc:
                        state = getattr(exc, "sqlstate", None)
                        raise JdbcError(
                            f"JDBC source query failed ({type(exc).__name__}"
                            f"{f', SQLSTATE {state}' if state else ''}): {str(exc).strip()} "
                            f"-- query: {src.sql} -- parameters: {params}") from exc
                    skip = emitted
                    while skip:
                        dropped = len(cur.fetchmany(min(skip, src.fetch_size)))
                        if not dropped:
                            break
                        skip -= dropped
                        if self._cancelled or output.cancelled:
                            return
                    while True:
                        if self._cancelled or output.cancelled:
                            return
                        rows = cur.fetchmany(sizer.size)
                        if not rows:
                            break
                        records = rows if extract is None else list(map(extract, rows))
                        t0 = clock()
                        with lock:
                            output.collect_batch(records)
                            split[2] += len(rows)
                        sizer.observe(len(rows), clock() - t0)
                        sizer.pause()
                finally:
                    cur.close()
            with lock:
                splits.pop(0)

    def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing anyway
                pass

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_conn"] = None
        return state
