"""The one clock of headwater: wall-clock and monotonic milliseconds.

Flink reports every timestamp (job start times, checkpoint trigger times, processing
time) as milliseconds since the epoch; durations and deadlines use the monotonic clock
so that a wall-clock step cannot stretch or shorten them.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch (processing time, REST timestamps)."""
    return int(time.time() * 1000)


def monotonic_ms() -> float:
    """Milliseconds of the monotonic clock: only differences between two calls mean
    anything (durations, deadlines, rate windows)."""
    return time.monotonic() * 1000
