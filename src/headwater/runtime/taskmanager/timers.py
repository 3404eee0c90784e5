"""Processing-time timers of a task.

Operators register callbacks for wall-clock times; the task runs them in its own thread
(input tasks between buffers, source tasks from the timer thread under the checkpoint
lock), so operator code never runs concurrently with itself.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from headwater.clock import now_ms


class ProcessingTimeService:
    """A heap of (time, callback) owned by one task."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Callable[[int], None]]] = []
        self._seq = itertools.count()
        self._cancelled: set[int] = set()

    def current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        return now_ms()

    def register_timer(self, timestamp: int, callback: Callable[[int], None]) -> int:
        """Run ``callback(timestamp)`` once processing time reaches ``timestamp``.
        Returns a handle for :meth:`cancel`."""
        handle = next(self._seq)
        heapq.heappush(self._heap, (int(timestamp), handle, callback))
        return handle

    def cancel(self, handle: int) -> None:
        """Forget a timer."""
        self._cancelled.add(handle)

    def seconds_to_next(self) -> float | None:
        """Seconds until the next timer is due (0 if overdue), None without timers."""
        while self._heap and self._heap[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._heap)[1])
        if not self._heap:
            return None
        return max(0.0, (self._heap[0][0] - now_ms()) / 1000.0)

    def fire_due(self) -> int:
        """Run every due timer in time order; returns how many ran."""
        fired = 0
        now = now_ms()
        while self._heap and self._heap[0][0] <= now:
            ts, handle, callback = heapq.heappop(self._heap)
            if handle in self._cancelled:
                self._cancelled.discard(handle)
                continue
            callback(ts)
            fired += 1
        return fired
