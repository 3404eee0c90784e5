"""``CompletableFuture`` (PyFlink's future of a job client's answers)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any


class CompletableFuture:
    """A value that is (or will be) available: ``result()``, ``done()``, ``cancel()``,
    ``exception()``, ``add_done_callback(fn)``."""

    def __init__(self, future: concurrent.futures.Future | None = None,
                 value: Any = None) -> None:
        if future is None:
            future = concurrent.futures.Future()
            future.set_result(value)
        self._future = future

    @staticmethod
    def completed(value: Any) -> CompletableFuture:
        """A future that already holds ``value``."""
        return CompletableFuture(value=value)

    def result(self, timeout: float | None = None) -> Any:
        """The value (waits; raises what the computation raised)."""
        return self._future.result(timeout)

    def done(self) -> bool:
        """Whether the value is there."""
        return self._future.done()

    def cancel(self) -> bool:
        """Cancel the computation if it has not started."""
        return self._future.cancel()

    def cancelled(self) -> bool:
        """Whether it was cancelled."""
        return self._future.cancelled()

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """What the computation raised, or None."""
        return self._future.exception(timeout)

    def add_done_callback(self, fn: Callable[[Any], Any]) -> None:
        """Call ``fn(value)`` when done."""
        self._future.add_done_callback(lambda f: fn(f.result()))
