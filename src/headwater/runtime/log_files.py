"""A process's log files: rotating file logging, and listing and reading them safely.

Every JobManager and TaskManager writes its log through a size-rotated
:class:`logging.handlers.RotatingFileHandler` (``jobmanager.log``, ``taskmanager-0.log``,
rotated to ``.log.1``, ``.log.2``...) and has its stdout and stderr redirected to a
``.out`` file next to it, as Flink's daemon scripts do::

    configure_file_logging(Path("log/taskmanager-0.log"))

The REST API serves these files by name. A name is served only if it is one of the
regular files :func:`list_log_files` reports for the directory: ``..``, slashes, absolute
paths, symlinks and anything else that is not a listed file are refused before anything
is opened (CVE-2020-17519), and the file is opened with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
from pathlib import Path

#: Size at which a log file is rotated (env ``HEADWATER_LOG_MAX_BYTES`` overrides).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: How many rotated files are kept (env ``HEADWATER_LOG_BACKUPS`` overrides).
DEFAULT_BACKUPS = 10
#: Largest part of a file served in one answer: its last this many bytes.
MAX_SERVED_BYTES = 64 * 1024 * 1024

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s - %(message)s"


class LogFileNotFound(FileNotFoundError):
    """The name is not one of the files of the log directory."""


def configure_file_logging(log_file: str | os.PathLike, level: int = logging.INFO,
                           max_bytes: int | None = None, backups: int | None = None) -> None:
    """Send the root logger to ``log_file``, rotated by size."""
    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    if max_bytes is None:
        max_bytes = int(os.environ.get("HEADWATER_LOG_MAX_BYTES", DEFAULT_MAX_BYTES))
    if backups is None:
        backups = int(os.environ.get("HEADWATER_LOG_BACKUPS", DEFAULT_BACKUPS))
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes,
                                                   backupCount=backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def list_log_files(log_dir: str | os.PathLike[str] | None) -> list[dict[str, int | str]]:
    """Flink's ``LogInfo`` list: every regular file (not symlink) directly in ``log_dir``."""
    if log_dir is None:
        return []
    out: list[dict[str, int | str]] = []
    try:
        entries = list(os.scandir(os.fspath(log_dir)))
    except OSError:
        return []
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False):
                out.append({"name": entry.name, "size": entry.stat(follow_symlinks=False).st_size})
        except OSError:
            continue
    out.sort(key=lambda info: str(info["name"]))
    return out


def read_log_file(log_dir: str | os.PathLike | None, name: str,
                  max_bytes: int = MAX_SERVED_BYTES) -> bytes:
    """The contents (at most the last ``max_bytes``) of the listed file ``name``.

    Raises :class:`LogFileNotFound` for anything that is not a listed regular file.
    """
    listed = {info["name"] for info in list_log_files(log_dir)}
    if log_dir is None or name not in listed or "/" in name or "\\" in name or name in (".", ".."):
        raise LogFileNotFound(f"The file {name} does not exist in the log directory.")
    path = os.path.join(os.fspath(log_dir), name)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise LogFileNotFound(f"The file {name} does not exist in the log directory.") from exc
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise LogFileNotFound(f"The file {name} does not exist in the log directory.")
        limit = max_bytes if max_bytes > 0 else MAX_SERVED_BYTES
        if info.st_size > limit:
            f.seek(info.st_size - limit)
        return f.read(limit)
