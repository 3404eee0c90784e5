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
from headwater.runtime.taskmanager.task_executor import request_handler


@dataclasses.dataclass
class ProcessFiles:
    """Names (within the log directory) of this TaskManager's log and stdout files."""

    log: str | None = None
    stdout: str | None = None


#: Set by the TaskManager's ``main`` from ``--log-file`` / ``--stdout-file``.
PROCESS_FILES = ProcessFiles()

#: Aliases a RequestLogFile may name instead of a file name.
LOG_ALIAS = ":log"
STDOUT_ALIAS = ":stdout"


@request_handler(RequestLogList)
def list_logs(executor: Any, request: RequestLogList) -> list[dict[str, Any]]:
    """Every file of the TaskManager's log directory with its size."""
    return log_files.list_log_files(executor.log_dir)


@request_handler(RequestLogFile)
def read_log(executor: Any, request: RequestLogFile) -> bytes:
    """One listed file of the log directory (``:log`` / ``:stdout`` name this process's
    own files); FileNotFoundError for anything else."""
    name = request.name
    if name == LOG_ALIAS:
        name = PROCESS_FILES.log
    elif name == STDOUT_ALIAS:
        name = PROCESS_FILES.stdout
    if not name:
        raise log_files.LogFileNotFound(f"This TaskManager has no {request.name[1:]} file.")
    return log_files.read_log_file(executor.log_dir, name,
                                   request.max_bytes or log_files.MAX_SERVED_BYTES)


@request_handler(RequestThreadDump)
def dump_threads(executor: Any, request: RequestThreadDump) -> list[dict[str, Any]]:
    """Stacks of every thread of this TaskManager process."""
    return thread_dump.thread_dump()
