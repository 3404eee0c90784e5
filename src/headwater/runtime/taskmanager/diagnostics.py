"""The TaskManager's answers to the JobManager's diagnostic requests.

The JobManager never reads a TaskManager's files itself (they may live on another
machine): it sends :class:`RequestLogList`, :class:`RequestLogFile` or
:class:`RequestThreadDump` over the RPC connection and the TaskManager answers from its
own log directory and threads. Log file names are checked against the directory listing
(see :mod:`headwater.runtime.log_files`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from headwater.runtime import log_files, thread_dump
from headwater.runtime.rpc.messages import RequestLogFile, RequestLogList, RequestThreadDump


@dataclasses.dataclass
class ProcessFiles:
    """Names (within the log directory) of this TaskManager's log and stdout files."""

    log: str | None = None
    stdout: str | None = None


#: Aliases a RequestLogFile may name instead of a file name.
LOG_ALIAS = ":log"
STDOUT_ALIAS = ":stdout"


class Diagnostics:
    """Answers log and thread-dump requests from one TaskManager's log directory."""

    def __init__(self, log_dir: str | None, files: ProcessFiles | None = None) -> None:
        self.log_dir = log_dir
        self.files = files or ProcessFiles()

    def list_logs(self, request: RequestLogList) -> list[dict[str, int | str]]:
        """Every file of the TaskManager's log directory with its size."""
        return log_files.list_log_files(self.log_dir)

    def read_log(self, request: RequestLogFile) -> bytes:
        """One listed file of the log directory (``:log`` / ``:stdout`` name this
        process's own files); FileNotFoundError for anything else."""
        name: str | None = request.name
        if name == LOG_ALIAS:
            name = self.files.log
        elif name == STDOUT_ALIAS:
            name = self.files.stdout
        if not name:
            raise log_files.LogFileNotFound(f"This TaskManager has no {request.name[1:]} file.")
        return log_files.read_log_file(self.log_dir, name,
                                       request.max_bytes or log_files.MAX_SERVED_BYTES)

    def dump_threads(self, request: RequestThreadDump) -> list[dict[str, Any]]:
        """Stacks of every thread of this TaskManager process."""
        return thread_dump.thread_dump()
