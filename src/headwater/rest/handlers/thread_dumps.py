"""Thread dumps of the JobManager and the TaskManagers (Flink's ``ThreadDumpInfo``).

Each dump lists the process's real threads with their stacks, innermost frame first (see
:mod:`headwater.runtime.thread_dump`); a TaskManager builds its own dump and sends it over
its RPC connection, so a user function stuck in a task thread shows up by name.
"""

from __future__ import annotations

import asyncio
from typing import Any

from headwater.rest.context import HandlerContext
from headwater.rest.handlers.logs import request_task_manager
from headwater.runtime.rpc.messages import RequestThreadDump
from headwater.runtime.thread_dump import thread_dump


async def jobmanager_thread_dump(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobmanager/thread-dump: every thread of the JobManager process."""
    return {"threadInfos": await asyncio.to_thread(thread_dump)}


async def taskmanager_thread_dump(ctx: HandlerContext) -> dict[str, Any]:
    """GET /taskmanagers/:taskmanagerid/thread-dump: every thread of that TaskManager."""
    return {"threadInfos": await request_task_manager(ctx, RequestThreadDump())}
