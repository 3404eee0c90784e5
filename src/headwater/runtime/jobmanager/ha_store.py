"""The JobManager's embedded high-availability store (``high-availability: embedded``).

One SQLite database in ``high-availability.storageDir`` keeps what a restarted JobManager
needs to carry on where a crashed one stopped, as Flink's HA services do with ZooKeeper
and a file system:

- submitted job graphs of jobs that have not ended (Flink's ``JobGraphStore``), so that
  running jobs are recovered with the same job id;
- per job, the pointer to its latest completed checkpoint (Flink's
  ``CompletedCheckpointStore``), which recovery restores from;
- archives of finished jobs (Flink's ``ExecutionGraphInfoStore``), so that every REST
  endpoint still serves them, bounded by ``jobstore.max-capacity`` and
  ``jobstore.expiration-time``.

Writes are transactions in WAL mode: a JobManager killed at any point leaves the last
committed state. Payloads (serialized job graphs, archives) are opaque bytes here.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from pathlib import Path

from headwater.clock import now_ms

#: File name of the database inside ``high-availability.storageDir``.
DATABASE = "headwater-ha.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_graphs (
    job_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    submitted_ms INTEGER NOT NULL,
    graph BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    job_id TEXT PRIMARY KEY,
    checkpoint_id INTEGER NOT NULL,
    location TEXT NOT NULL,
    completed_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS archives (
    job_id TEXT PRIMARY KEY,
    finished_ms INTEGER NOT NULL,
    archive BLOB NOT NULL
);
"""


@dataclasses.dataclass(frozen=True)
class StoredJobGraph:
    """A job that had not ended when the store last heard of it."""

    job_id: str
    name: str
    submitted_ms: int
    graph: bytes


@dataclasses.dataclass(frozen=True)
class CheckpointPointer:
    """Where a job's latest completed checkpoint lives."""

    job_id: str
    checkpoint_id: int
    location: str
    completed_ms: int


class EmbeddedHaStore:
    """Job graphs, checkpoint pointers and finished-job archives in one SQLite file."""

    def __init__(self, directory: str | Path, max_archives: int = 1000,
                 archive_expiration_ms: int = 3_600_000) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / DATABASE
        self.max_archives = max_archives
        self.archive_expiration_ms = archive_expiration_ms
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _write(self, sql: str, *args: object) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(sql, args)

    # -- job graphs ----------------------------------------------------------------------

    def put_job_graph(self, job_id: str, name: str, graph: bytes,
                      submitted_ms: int | None = None) -> None:
        """Remember a submitted job until it ends."""
        submitted = now_ms() if submitted_ms is None else submitted_ms
        self._write("INSERT OR REPLACE INTO job_graphs VALUES (?, ?, ?, ?)",
                    job_id, name, submitted, graph)

    def job_graphs(self) -> list[StoredJobGraph]:
        """Jobs to recover, oldest submission first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, name, submitted_ms, graph FROM job_graphs "
                "ORDER BY submitted_ms, job_id").fetchall()
        return [StoredJobGraph(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    # -- checkpoints ---------------------------------------------------------------------

    def put_checkpoint(self, job_id: str, checkpoint_id: int, location: str,
                       completed_ms: int | None = None) -> None:
        """Record a completed checkpoint (an older one never replaces a newer one)."""
        completed = now_ms() if completed_ms is None else completed_ms
        self._write("INSERT INTO checkpoints VALUES (?, ?, ?, ?) ON CONFLICT(job_id) DO "
                    "UPDATE SET checkpoint_id = excluded.checkpoint_id, "
                    "location = excluded.location, completed_ms = excluded.completed_ms "
                    "WHERE excluded.checkpoint_id > checkpoints.checkpoint_id",
                    job_id, checkpoint_id, location, completed)

    def latest_checkpoint(self, job_id: str) -> CheckpointPointer | None:
        """The job's latest completed checkpoint, if any."""
        with self._lock:
            row = self._db.execute("SELECT job_id, checkpoint_id, location, completed_ms "
                                   "FROM checkpoints WHERE job_id = ?", (job_id,)).fetchone()
        return CheckpointPointer(*row) if row else None

    # -- finished jobs -------------------------------------------------------------------

    def archive_job(self, job_id: str, archive: bytes, finished_ms: int | None = None) -> None:
        """A job ended: keep its archive, forget its graph and checkpoint pointer, and
        drop the archives beyond the capacity or past the expiration time."""
        finished = now_ms() if finished_ms is None else finished_ms
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO archives VALUES (?, ?, ?)",
                             (job_id, finished, archive))
            self._db.execute("DELETE FROM job_graphs WHERE job_id = ?", (job_id,))
            self._db.execute("DELETE FROM checkpoints WHERE job_id = ?", (job_id,))
            self._expire(finished)

    def _expire(self, now_ms: int) -> None:
        if self.archive_expiration_ms > 0:
            self._db.execute("DELETE FROM archives WHERE finished_ms < ?",
                             (now_ms - self.archive_expiration_ms,))
        self._db.execute(
            "DELETE FROM archives WHERE job_id NOT IN (SELECT job_id FROM archives "
            "ORDER BY finished_ms DESC, job_id LIMIT ?)", (max(0, self.max_archives),))

    def archives(self, at_ms: int | None = None) -> list[tuple[str, int, bytes]]:
        """(job id, finish time, archive) of the retained finished jobs, oldest first."""
        now = now_ms() if at_ms is None else at_ms
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._expire(now)
            rows = self._db.execute("SELECT job_id, finished_ms, archive FROM archives "
                                    "ORDER BY finished_ms, job_id").fetchall()
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def remove_archive(self, job_id: str) -> None:
        """Forget one finished job."""
        self._write("DELETE FROM archives WHERE job_id = ?", job_id)
