"""Asynchronous operations behind trigger ids (Flink's ``AbstractAsynchronousOperationHandlers``).

Savepoints, stop-with-savepoint, rescaling and savepoint disposal take longer than a
request should. A trigger endpoint starts the work and answers a trigger id at once; the
status endpoint answers ``IN_PROGRESS`` until the work ends, then ``COMPLETED`` with its
result or its failure. Completed results are kept for five minutes, as Flink's
``CompletedOperationCache`` keeps them::

    ops = AsyncOperations()
    trigger_id = ops.trigger(("savepoint", job_id), lambda: master.trigger_savepoint(d, False))
    ...
    ops.status_body(("savepoint", job_id), trigger_id, lambda loc: {"location": loc})

An operation fails with whatever exception its work raises; the status answer reports it
as Flink's ``SerializedThrowable`` (``class``, ``stack-trace``, ``serialized-throwable``).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import pickle
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from aiohttp import web

#: How long a completed operation's result stays available (Flink: 300 s).
KEEP_SECONDS = 300.0

@dataclasses.dataclass
class Operation:
    """One triggered operation: running, or done with a result or an error."""

    trigger_id: str
    task: asyncio.Future[Any] | None = None
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    #: monotonic time the operation ended (None while running)
    done_at: float | None = None


class AsyncOperations:
    """Running and recently completed operations, by (scope key, trigger id).

    The scope key separates the families of operations as Flink's separate caches do: a
    savepoint trigger id is unknown to the rescaling status endpoint, and an operation
    triggered for one job is unknown under another job's path.
    """

    def __init__(self, keep_seconds: float = KEEP_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.keep_seconds = keep_seconds
        self._clock = clock
        self._operations: dict[tuple[Hashable, str], Operation] = {}

    def trigger(self, scope: Hashable, work: Callable[[], Awaitable[Any]]) -> str:
        """Start ``work()`` in the background and return its new trigger id (32 hex)."""
        self._expire()
        trigger_id = secrets.token_hex(16)
        op = Operation(trigger_id)
        self._operations[(scope, trigger_id)] = op

        async def run() -> Any:
            return await work()

        task = asyncio.ensure_future(run())
        op.task = task
        task.add_done_callback(lambda t: self._finish(op, t))
        return trigger_id

    def get(self, scope: Hashable, trigger_id: str) -> Operation | None:
        """The operation, or None if unknown or completed too long ago."""
        self._expire()
        return self._operations.get((scope, trigger_id))

    def status_body(self, op: Operation,
                    on_success: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """Flink's ``AsynchronousOperationResult``: IN_PROGRESS, or COMPLETED with
        ``on_success(result)`` or the failure cause as ``operation``."""
        if not op.done:
            return {"status": {"id": "IN_PROGRESS"}, "operation": None}
        if op.error is not None:
            operation = {"failure-cause": failure_cause(op.error)}
        else:
            operation = on_success(op.result)
        return {"status": {"id": "COMPLETED"}, "operation": operation}

    async def close(self) -> None:
        """Cancel the operations still running (the REST server is stopping)."""
        tasks = [op.task for op in self._operations.values()
                 if op.task is not None and not op.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _finish(self, op: Operation, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            op.error = asyncio.CancelledError("The operation was cancelled.")
        elif task.exception() is not None:
            op.error = task.exception()
        else:
            op.result = task.result()
        op.done = True
        op.done_at = self._clock()
        op.task = None

    def _expire(self) -> None:
        limit = self._clock() - self.keep_seconds
        stale = [key for key, op in self._operations.items()
                 if op.done_at is not None and op.done_at < limit]
        for key in stale:
            del self._operations[key]


def exception_class(exc: BaseException) -> str:
    """The exception's qualified class name (``builtins.`` left out)."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def failure_cause(exc: BaseException) -> dict[str, str]:
    """Flink's serialized ``SerializedThrowable`` of a failed operation.

    ``stack-trace`` is the Python traceback text; ``serialized-throwable`` is that text
    pickled and base64-encoded, as the job endpoints ship failures.
    """
    if exc.__traceback__ is not None:
        lines = traceback.format_exception(exc)
    else:
        lines = traceback.format_exception_only(exc)
    text = "".join(lines).rstrip("\n")
    return {
        "class": exception_class(exc),
        "stack-trace": text,
        "serialized-throwable": base64.b64encode(pickle.dumps(text, protocol=5)).decode(
            "ascii"),
    }


#: Where the REST app keeps its registry (``request.app[OPERATIONS_KEY]``).
OPERATIONS_KEY = web.AppKey("headwater_async_operations", AsyncOperations)
