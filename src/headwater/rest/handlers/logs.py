"""Log and stdout files of the JobManager and the TaskManagers (text/plain).

The JobManager serves its own log directory (``jobmanager.log`` rotated by size,
``jobmanager.out`` for stdout/stderr; Flink lists every file of the directory, and so do
we). A TaskManager's files are read *by that TaskManager* and travel back over its RPC
connection (:mod:`headwater.runtime.taskmanager.diagnostics`): no shared filesystem is
assumed. A file name is served only if it is one of the listed regular files; anything
else (``..``, encoded slashes, absolute paths, symlinks) is 404 and nothing is read.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.runtime import log_files
from headwater.runtime.rpc.messages import Request, RequestLogFile, RequestLogList
from headwater.runtime.taskmanager.diagnostics import LOG_ALIAS, STDOUT_ALIAS

JOBMANAGER_LOG = "jobmanager.log"
JOBMANAGER_STDOUT = "jobmanager.out"
#: Seconds a TaskManager has to answer a file or thread-dump request.
REQUEST_TIMEOUT = 10.0


def text_response(data: bytes) -> web.Response:
    """A text/plain answer."""
    return web.Response(body=data, content_type="text/plain", charset="utf-8")


# -- JobManager -------------------------------------------------------------------------


async def jobmanager_logs(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobmanager/logs: the files of the JobManager's log directory."""
    log_dir = ctx.cluster.log_dir
    return {"logs": await asyncio.to_thread(log_files.list_log_files, log_dir)}


async def _jobmanager_file(ctx: HandlerContext, name: str) -> web.Response:
    log_dir = ctx.cluster.log_dir
    try:
        data = await asyncio.to_thread(log_files.read_log_file, log_dir, name)
    except log_files.LogFileNotFound as exc:
        raise RestError(404, f"The file {name} does not exist on the JobManager.") from exc
    return text_response(data)


async def jobmanager_log(ctx: HandlerContext) -> web.Response:
    """GET /jobmanager/log: ``jobmanager.log``."""
    return await _jobmanager_file(ctx, JOBMANAGER_LOG)


async def jobmanager_stdout(ctx: HandlerContext) -> web.Response:
    """GET /jobmanager/stdout: ``jobmanager.out``."""
    return await _jobmanager_file(ctx, JOBMANAGER_STDOUT)


async def jobmanager_log_file(ctx: HandlerContext) -> web.Response:
    """GET /jobmanager/logs/:logname: one listed file of the log directory."""
    return await _jobmanager_file(ctx, ctx.path["logname"])


# -- TaskManagers -----------------------------------------------------------------------


async def request_task_manager(ctx: HandlerContext, request: Request) -> Any:
    """Send ``request`` to the TaskManager of the path; map failures to REST errors."""
    from headwater.runtime.jobmanager.resource_manager import RequestFailed

    tm_id = ctx.path["taskmanagerid"]
    if not any(tm.resource_id == tm_id for tm in ctx.cluster.task_managers()):
        raise RestError(404, f"Could not find TaskExecutor {tm_id}.")
    try:
        return await ctx.cluster.request_task_manager(tm_id, request, REQUEST_TIMEOUT)
    except KeyError as exc:
        raise RestError(404, f"Could not find TaskExecutor {tm_id}.") from exc
    except TimeoutError as exc:
        raise RestError(503, f"TaskExecutor {tm_id} did not answer within "
                             f"{REQUEST_TIMEOUT:g} s.") from exc
    except RequestFailed as exc:
        message = str(exc)
        if message.startswith(("LogFileNotFound", "FileNotFoundError")):
            raise RestError(404, message.split(": ", 1)[-1]) from exc
        raise RestError(500, f"TaskExecutor {tm_id} failed to answer: {message}") from exc


async def taskmanager_logs(ctx: HandlerContext) -> dict[str, Any]:
    """GET /taskmanagers/:taskmanagerid/logs: the files of the TaskManager's log dir."""
    return {"logs": await request_task_manager(ctx, RequestLogList())}


async def _taskmanager_file(ctx: HandlerContext, name: str) -> web.Response:
    data = await request_task_manager(ctx, RequestLogFile(name=name,
                                                          max_bytes=log_files.MAX_SERVED_BYTES))
    return text_response(bytes(data))


async def taskmanager_log(ctx: HandlerContext) -> web.Response:
    """GET /taskmanagers/:taskmanagerid/log: the TaskManager's log file."""
    return await _taskmanager_file(ctx, LOG_ALIAS)


async def taskmanager_stdout(ctx: HandlerContext) -> web.Response:
    """GET /taskmanagers/:taskmanagerid/stdout: what the TaskManager printed."""
    return await _taskmanager_file(ctx, STDOUT_ALIAS)


async def taskmanager_log_file(ctx: HandlerContext) -> web.Response:
    """GET /taskmanagers/:taskmanagerid/logs/:logname: one listed file of its log dir."""
    name = ctx.path["logname"]
    if name.startswith(":"):
        raise RestError(404, f"The file {name} does not exist in the log directory.")
    return await _taskmanager_file(ctx, name)
