"""Where the database is (Flink's ``JdbcConnectionOptions``) and how to reach it: psycopg
connections with retries on transient errors.

URLs are libpq's (``postgresql://host:port/db``, ``postgres://...``, or a ``key=value``
string) or JDBC's (``jdbc:postgresql://host:port/db?...``: the ``jdbc:`` prefix is
dropped, the rest is a libpq URL). Messages name the URL without its password.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any


class JdbcConnectionOptions:
    """URL, user and password of the database (build with :meth:`builder`)."""

    def __init__(self, url: str, user_name: str | None = None, password: str | None = None,
                 driver_name: str | None = None, connection_check_timeout_seconds: int = 60,
                 properties: dict[str, Any] | None = None) -> None:
        if not url:
            raise ValueError("a JDBC connection needs a URL")
        self.url = url
        self.user_name = user_name
        self.password = password
        self.driver_name = driver_name
        self.connection_check_timeout_seconds = connection_check_timeout_seconds
        self.properties = dict(properties or {})

    @staticmethod
    def builder() -> JdbcConnectionOptionsBuilder:
        """A builder (``JdbcConnectionOptions.JdbcConnectionOptionsBuilder()`` also works)."""
        return JdbcConnectionOptionsBuilder()

    def conninfo(self) -> str:
        """The libpq connection string of :attr:`url`."""
        url = self.url.strip()
        if url.startswith("jdbc:"):
            url = url[len("jdbc:"):]
        return url

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``psycopg.connect`` besides the connection string."""
        kwargs: dict[str, Any] = dict(self.properties)
        if self.user_name is not None:
            kwargs["user"] = self.user_name
        if self.password is not None:
            kwargs["password"] = self.password
        kwargs.setdefault("connect_timeout", max(1, int(self.connection_check_timeout_seconds)))
        return kwargs

    def describe(self) -> str:
        """The URL without a password, for messages."""
        return mask_password(self.url)

    def connect(self, autocommit: bool = False) -> Any:
        """A new psycopg connection."""
        psycopg = psycopg_module()
        return psycopg.connect(self.conninfo(), autocommit=autocommit, **self.connect_kwargs())


class JdbcConnectionOptionsBuilder:
    """Flink's ``JdbcConnectionOptionsBuilder``: ``with_url(...)...build()``."""

    def __init__(self) -> None:
        self._url = ""
        self._user: str | None = None
        self._password: str | None = None
        self._driver: str | None = None
        self._timeout = 60
        self._properties: dict[str, Any] = {}

    def with_url(self, url: str) -> JdbcConnectionOptionsBuilder:
        """``postgresql://host:port/db`` or ``jdbc:postgresql://host:port/db``."""
        self._url = url
        return self

    def with_user_name(self, user_name: str) -> JdbcConnectionOptionsBuilder:
        """The database user."""
        self._user = user_name
        return self

    def with_password(self, password: str) -> JdbcConnectionOptionsBuilder:
        """The user's password."""
        self._password = password
        return self

    def with_driver_name(self, driver_name: str) -> JdbcConnectionOptionsBuilder:
        """Accepted for Flink compatibility; headwater always uses psycopg."""
        self._driver = driver_name
        return self

    def with_connection_check_timeout_seconds(self, seconds: int) -> JdbcConnectionOptionsBuilder:
        """Seconds to wait for a connection (``connect_timeout``)."""
        self._timeout = int(seconds)
        return self

    def with_property(self, key: str, value: Any) -> JdbcConnectionOptionsBuilder:
        """An extra libpq connection parameter (e.g. ``sslmode``)."""
        self._properties[key] = value
        return self

    def build(self) -> JdbcConnectionOptions:
        """The options."""
        return JdbcConnectionOptions(self._url, self._user, self._password, self._driver,
                                     self._timeout, self._properties)


JdbcConnectionOptions.JdbcConnectionOptionsBuilder = (  # type: ignore[attr-defined]
    JdbcConnectionOptionsBuilder)


def psycopg_module() -> Any:
    """The ``psycopg`` module, or an ImportError that says how to install it."""
    try:
        import psycopg
    except ImportError as exc:
        raise ImportError("the PostgreSQL (JDBC) connector needs psycopg 3 where the job "
                          "runs: pip install 'headwater[postgres]'") from exc
    return psycopg


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    url = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
    url = re.sub(r"(password=)[^&\s]*", r"\1***", url, flags=re.IGNORECASE)
    return url


def is_transient(error: BaseException) -> bool:
    """True for errors worth retrying on a new connection: the connection failed or
    broke, the server shut down, a serialization failure or deadlock."""
    import psycopg

    return isinstance(error, psycopg.OperationalError)


def backoff_seconds(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): Flink's 1 s per attempt."""
    return 1.0 * attempt


def with_retries(action: Callable[[], Any], max_retries: int, on_retry: Callable[[], None],
                 describe: Callable[[BaseException, int], str],
                 sleep: Callable[[float], None] = time.sleep) -> Any:
    """Run ``action``; on a transient error call ``on_retry`` and try again, up to
    ``max_retries`` times, waiting :func:`backoff_seconds` between attempts. A
    non-transient error, or the last transient one, raises :class:`JdbcError` with the
    message ``describe(error, attempts)``."""
    attempt = 0
    while True:
        try:
            return action()
        except JdbcError:
            raise
        except Exception as exc:
            transient = is_transient(exc)
            if not transient or attempt >= max_retries:
                raise JdbcError(describe(exc, attempt + 1)) from exc
            attempt += 1
            on_retry()
            sleep(backoff_seconds(attempt))


class JdbcError(RuntimeError):
    """A JDBC connector operation failed (the message says which and why)."""
