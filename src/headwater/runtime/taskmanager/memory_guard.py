"""A TaskManager's memory hygiene: a process size limit and giving memory back after jobs.

``taskmanager.memory.process.size`` is enforced as a memory limit is: a watcher thread
samples the process's resident size and, once it passes the limit, reports it (the
TaskExecutor fails the running tasks with :class:`MemoryLimitExceeded`, whose message
names the figures and the key). After a job, :func:`release_memory` collects garbage and
asks the C allocator to return freed pages to the system, so that one greedy job does not
leave the process large for the next; what still stays above
``taskmanager.memory.recycle-threshold`` makes the ResourceManager replace the
TaskManager with a fresh process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
from collections.abc import Callable

from headwater.runtime import process_figures

log = logging.getLogger(__name__)


class MemoryLimitExceeded(MemoryError):
    """The TaskManager process grew past ``taskmanager.memory.process.size``."""

    def __init__(self, rss: int, limit: int) -> None:
        super().__init__(
            f"The TaskManager process uses {rss / 2**20:.0f} MiB, more than its "
            f"taskmanager.memory.process.size of {limit / 2**20:.0f} MiB: a task holds too "
            "much in memory (large state on the heap backend, unbounded buffers or caches "
            "in a user function).")
        self.rss = rss
        self.limit = limit


def resident_bytes() -> int:
    """This process's resident set size."""
    return int(process_figures.memory_info().rss)


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


def release_memory() -> tuple[int, int]:
    """Collect garbage and hand freed heap pages back to the system; (RSS before, after)."""
    before = resident_bytes()
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)
    return before, resident_bytes()


class MemoryGuard:
    """Samples the process's RSS every ``interval`` seconds; calls ``on_exceeded(rss,
    limit)`` once when it passes ``limit`` (again only after it fell below 90% of it)."""

    def __init__(self, limit: int, on_exceeded: Callable[[int, int], None],
                 interval: float = 0.1) -> None:
        if limit <= 0:
            raise ValueError("taskmanager.memory.process.size must be positive")
        self.limit = limit
        self.on_exceeded = on_exceeded
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="memory-guard", daemon=True)
        self.tripped = False

    def start(self) -> MemoryGuard:
        """Start watching."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            rss = resident_bytes()
            if not self.tripped and rss > self.limit:
                self.tripped = True
                log.error("process memory %d bytes exceeds taskmanager.memory.process.size "
                          "%d bytes", rss, self.limit)
                try:
                    self.on_exceeded(rss, self.limit)
                except Exception:  # the guard keeps watching whatever the callback does
                    log.exception("memory limit callback failed")
            elif self.tripped and rss < 0.9 * self.limit:
                self.tripped = False
