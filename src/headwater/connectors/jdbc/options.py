"""How the JDBC sink writes: Flink's ``JdbcExecutionOptions`` (batching and retries) and
``JdbcExactlyOnceOptions`` (two-phase commit)."""

from __future__ import annotations


class JdbcExecutionOptions:
    """Batching and retries of a JDBC sink (Flink's defaults: 5000 records, 0 ms, 3).

    A batch is written when it holds ``batch_size`` records, every ``batch_interval_ms``
    (0: no timer) and at every checkpoint. A transient error (connection lost, server
    restart, serialization failure) is retried ``max_retries`` times on a new connection,
    waiting 1 s, 2 s, ... between attempts.
    """

    DEFAULT_BATCH_SIZE = 5000
    DEFAULT_MAX_RETRY_TIMES = 3

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE, batch_interval_ms: int = 0,
                 max_retries: int = DEFAULT_MAX_RETRY_TIMES) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be positive, got {batch_size}")
        if batch_interval_ms < 0 or max_retries < 0:
            raise ValueError("batch interval and max retries must not be negative")
        self.batch_size = int(batch_size)
        self.batch_interval_ms = int(batch_interval_ms)
        self.max_retries = int(max_retries)

    @staticmethod
    def builder() -> JdbcExecutionOptionsBuilder:
        """A builder: ``with_batch_size(...).with_batch_interval_ms(...).build()``."""
        return JdbcExecutionOptionsBuilder()

    @staticmethod
    def defaults() -> JdbcExecutionOptions:
        """Flink's defaults."""
        return JdbcExecutionOptions()


class JdbcExecutionOptionsBuilder:
    """Builds :class:`JdbcExecutionOptions`."""

    def __init__(self) -> None:
        self._size = JdbcExecutionOptions.DEFAULT_BATCH_SIZE
        self._interval = 0
        self._retries = JdbcExecutionOptions.DEFAULT_MAX_RETRY_TIMES

    def with_batch_size(self, size: int) -> JdbcExecutionOptionsBuilder:
        """Records per batch."""
        self._size = int(size)
        return self

    def with_batch_interval_ms(self, interval_ms: int) -> JdbcExecutionOptionsBuilder:
        """Write a non-empty batch at least this often (0: only by size and checkpoints)."""
        self._interval = int(interval_ms)
        return self

    def with_max_retries(self, max_retries: int) -> JdbcExecutionOptionsBuilder:
        """Retries of a transient error before the job fails."""
        self._retries = int(max_retries)
        return self

    def build(self) -> JdbcExecutionOptions:
        """The options."""
        return JdbcExecutionOptions(self._size, self._interval, self._retries)


class JdbcExactlyOnceOptions:
    """Two-phase commit settings of ``JdbcSink.exactly_once_sink``.

    * ``recovered_and_rollback``: at start, roll back this sink's prepared transactions
      that no restored checkpoint records (default True);
    * ``max_commit_attempts``: attempts of a ``COMMIT PREPARED`` that fails transiently;
    * ``transaction_id_prefix``: first part of the transaction ids (``gid``); two jobs
      running the same sink (same operator uid) into one database at the same time need
      different prefixes, since each rolls back the other's unknown transactions;
    * ``allow_out_of_order_commits``, ``timeout_sec``, ``transaction_per_connection``:
      accepted for Flink compatibility (PostgreSQL needs none of them).
    """

    def __init__(self, recovered_and_rollback: bool = True, max_commit_attempts: int = 3,
                 transaction_id_prefix: str = "headwater",
                 allow_out_of_order_commits: bool = False, timeout_sec: int | None = None,
                 transaction_per_connection: bool = False) -> None:
        if max_commit_attempts < 1:
            raise ValueError("max commit attempts must be positive")
        if not transaction_id_prefix or ":" in transaction_id_prefix or \
                "'" in transaction_id_prefix or len(transaction_id_prefix) > 64:
            raise ValueError("the transaction id prefix must be 1-64 characters without ':' "
                             "or quotes")
        self.recovered_and_rollback = recovered_and_rollback
        self.max_commit_attempts = int(max_commit_attempts)
        self.transaction_id_prefix = transaction_id_prefix
        self.allow_out_of_order_commits = allow_out_of_order_commits
        self.timeout_sec = timeout_sec
        self.transaction_per_connection = transaction_per_connection

    @staticmethod
    def builder() -> JdbcExactlyOnceOptionsBuilder:
        """A builder: ``with_max_commit_attempts(...)...build()``."""
        return JdbcExactlyOnceOptionsBuilder()

    @staticmethod
    def defaults() -> JdbcExactlyOnceOptions:
        """The defaults."""
        return JdbcExactlyOnceOptions()


class JdbcExactlyOnceOptionsBuilder:
    """Builds :class:`JdbcExactlyOnceOptions`."""

    def __init__(self) -> None:
        self._options: dict = {}

    def with_recovered_and_rollback(self, value: bool) -> JdbcExactlyOnceOptionsBuilder:
        """Roll back unknown prepared transactions of this sink at start."""
        self._options["recovered_and_rollback"] = bool(value)
        return self

    def with_max_commit_attempts(self, value: int) -> JdbcExactlyOnceOptionsBuilder:
        """Attempts of a transiently failing commit."""
        self._options["max_commit_attempts"] = int(value)
        return self

    def with_transaction_id_prefix(self, value: str) -> JdbcExactlyOnceOptionsBuilder:
        """First part of this sink's transaction ids."""
        self._options["transaction_id_prefix"] = value
        return self

    def with_allow_out_of_order_commits(self, value: bool) -> JdbcExactlyOnceOptionsBuilder:
        """Accepted for Flink compatibility."""
        self._options["allow_out_of_order_commits"] = bool(value)
        return self

    def with_timeout_sec(self, value: int) -> JdbcExactlyOnceOptionsBuilder:
        """Accepted for Flink compatibility."""
        self._options["timeout_sec"] = int(value)
        return self

    def with_transaction_per_connection(self, value: bool) -> JdbcExactlyOnceOptionsBuilder:
        """Accepted for Flink compatibility."""
        self._options["transaction_per_connection"] = bool(value)
        return self

    def build(self) -> JdbcExactlyOnceOptions:
        """The options."""
        return JdbcExactlyOnceOptions(**self._options)
