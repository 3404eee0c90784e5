"""A bounded pool for the job programs the JobManager runs for ``/jars/:id/plan`` and
``/run``: each holds a thread for as long as its child process takes (up to
``web.submit.program-timeout``), so they get threads of their own, at most
``web.program.max-concurrent`` at once. A request beyond that is refused at once
(:class:`ProgramPoolBusy`) instead of queueing behind slow programs, and the event loop's
default executor stays free for the cluster's housekeeping.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class ProgramPoolBusy(RuntimeError):
    """Every slot of the pool runs a program."""


class ProgramPool:
    """Runs blocking program extractions on at most ``max_concurrent`` threads."""

    def __init__(self, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError("web.program.max-concurrent must be at least 1")
        self.max_concurrent = max_concurrent
        self._executor = ThreadPoolExecutor(max_concurrent, thread_name_prefix="program")
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        """Programs running now."""
        return self._running

    async def run(self, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``function(*args, **kwargs)`` on a pool thread; ProgramPoolBusy when full."""
        with self._lock:
            if self._running >= self.max_concurrent:
                raise ProgramPoolBusy(
                    f"{self._running} job programs are running already, the most this "
                    f"JobManager runs at once (web.program.max-concurrent); try again later.")
            self._running += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))
        finally:
            with self._lock:
                self._running -= 1
