"""Polling instead of sleeping: :func:`wait_for` waits until a condition holds,
:func:`wait_for_async` does the same inside an event loop."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

_NOTHING = object()


def wait_for(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
             message: str | Callable[[], str] = "condition not met") -> T:
    """Call ``condition`` until it returns a truthy value and return that value.

    Exceptions raised by ``condition`` count as "not yet" (the last one is reported).
    After ``timeout`` seconds raises an AssertionError naming ``message`` (a string, or a
    function called then, to describe the state reached) and the last value or
    exception::

        wait_for(lambda: client.job(job_id)["state"] == "RUNNING", timeout=60,
                 message=lambda: f"job running, is {client.job(job_id)['state']}")
    """
    deadline = time.monotonic() + timeout
    last: object = _NOTHING
    while True:
        try:
            value = condition()
        except Exception as exc:  # the system under test is not ready yet
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, message, last)
        time.sleep(interval)


async def wait_for_async(condition: Callable[[], T | Awaitable[T]], timeout: float = 30.0,
                         interval: float = 0.01,
                         message: str | Callable[[], str] = "condition not met") -> T:
    """:func:`wait_for` for coroutines: ``condition`` may be a plain or an async function;
    the loop keeps running between attempts::

        answer = await wait_for_async(lambda: call("GET", path), 5,
                                      message="savepoint completed")
    """
    deadline = time.monotonic() + timeout
    last: object = _NOTHING
    while True:
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:  # the system under test is not ready yet
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, message, last)
        await asyncio.sleep(interval)


def _timed_out(timeout: float, message: str | Callable[[], str],
               last: object) -> AssertionError:
    shown = "no attempt finished" if last is _NOTHING else repr(last)
    text = message() if callable(message) else message
    return AssertionError(f"timed out after {timeout:g} s: {text} (last: {shown})")
