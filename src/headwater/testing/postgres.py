"""A private PostgreSQL server for tests: ``initdb`` in a temporary directory and the
``postgres`` server on a free 127.0.0.1 port, run as an unprivileged user when the tests
run as root (initdb refuses root)::

    with PostgresServer() as pg:              # or the ``postgres`` pytest fixture
        with pg.connect() as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        sink_url = pg.jdbc_url    # jdbc:postgresql://127.0.0.1:PORT/postgres?user=postgres

It uses Debian's server binaries (``apt-get install postgresql``: under
``/usr/lib/postgresql/<version>/bin``) or the ones on ``PATH``; :func:`find_bin_dir` is
None without them. ``max_prepared_transactions`` is 20 by default, so two-phase commit
works; pass 0 to get a server without it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

#: Who runs the server when the tests run as root (the first that exists).
UNPRIVILEGED_USERS = ("postgres", "nobody")


def find_bin_dir() -> str | None:
    """The directory of ``initdb`` and ``postgres`` (newest Debian version first)."""

    def version(path: str) -> tuple[int, ...]:
        part = path.split("/")[-3]
        return tuple(int(x) for x in part.split(".") if x.isdigit())

    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version,
                         reverse=True):
        return os.path.dirname(initdb)
    found = shutil.which("initdb")
    if found:
        bindir = os.path.dirname(os.path.realpath(found))
        if os.path.exists(os.path.join(bindir, "postgres")):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One throw-away PostgreSQL server (trust authentication, user ``postgres``)."""

    def __init__(self, max_prepared_transactions: int = 20,
                 settings: dict[str, Any] | None = None) -> None:
        bindir = find_bin_dir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, postgres) not found; "
                                    "install them with: apt-get install postgresql")
        self.bindir = bindir
        self.settings = {"max_prepared_transactions": max_prepared_transactions,
                         "fsync": "off", "synchronous_commit": "off",
                         "full_page_writes": "off", "max_connections": 100,
                         **(settings or {})}
        self.host = "127.0.0.1"
        self.port = 0
        self.user = "postgres"
        self.dbname = "postgres"
        self.directory = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as: dict[str, Any] = {}

    # -- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """libpq URL: ``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def jdbc_url(self) -> str:
        """JDBC form: ``jdbc:postgresql://127.0.0.1:PORT/postgres?user=postgres``."""
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.dbname}?user={self.user}"

    def connect(self, autocommit: bool = True, **kwargs: Any) -> Any:
        """A psycopg connection to the server (autocommit by default)."""
        import psycopg

        return psycopg.connect(self.url, autocommit=autocommit, **kwargs)

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        """Rows of one statement, run in its own connection."""
        with self.connect() as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    # -- life cycle ---------------------------------------------------------------------

    def _user(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        for name in UNPRIVILEGED_USERS:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        raise RuntimeError("running as root and no unprivileged user to run PostgreSQL as")

    def start(self, timeout: float = 60) -> PostgresServer:
        """initdb, start the server and wait until it accepts connections."""
        self._run_as = self._user()
        # as root the server's user must reach the directory: /tmp, not a private TMPDIR
        parent = "/tmp" if self._run_as and os.path.isdir("/tmp") else None
        self.directory = tempfile.mkdtemp(prefix="headwater-pg-", dir=parent)
        data = os.path.join(self.directory, "data")
        if self._run_as:
            os.chown(self.directory, self._run_as["user"], self._run_as["group"])
        subprocess.run([os.path.join(self.bindir, "initdb"), "-D", data, "-U", self.user,
                        "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"],
                       check=True, capture_output=True, cwd=self.directory, **self._run_as)
        for _ in range(5):
            self.port = _free_port()
            options = ["-D", data, "-p", str(self.port), "-k", self.directory,
                       "-c", f"listen_addresses={self.host}"]
            for key, value in self.settings.items():
                options += ["-c", f"{key}={value}"]
            log = open(os.path.join(self.directory, "server.log"), "ab")
            self.process = subprocess.Popen([os.path.join(self.bindir, "postgres"), *options],
                                            stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.directory, **self._run_as)
            log.close()
            if self._wait_ready(timeout):
                return self
            self._kill()
        raise RuntimeError(f"PostgreSQL did not start:\n{self.log()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False  # e.g. the port was taken meanwhile
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
                self.query("SELECT 1")
                return True
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        return False

    def log(self) -> str:
        """The server's log so far."""
        try:
            with open(os.path.join(self.directory, "server.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _kill(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        self._kill()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = ""

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
