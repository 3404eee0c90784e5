"""Memory hygiene of a TaskManager process: the size limit trips, freed memory goes back."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from headwater.config import parse_memory_size
from headwater.runtime.taskmanager.memory_guard import (
    MemoryGuard,
    MemoryLimitExceeded,
    release_memory,
    resident_bytes,
)


def test_memory_sizes_use_flinks_format():
    assert parse_memory_size("512m") == 512 * 2**20
    assert parse_memory_size("1728 mb") == 1728 * 2**20
    assert parse_memory_size("2g") == 2 * 2**30
    assert parse_memory_size(4096) == 4096
    for bad in ("1.5g", "lots", ""):
        with pytest.raises(ValueError):
            parse_memory_size(bad)


def test_the_guard_trips_once_when_the_process_grows_past_the_limit():
    tripped: list[tuple[int, int]] = []
    done = threading.Event()

    def on_exceeded(rss: int, limit: int) -> None:
        tripped.append((rss, limit))
        done.set()

    limit = resident_bytes() + 64 * 2**20
    guard = MemoryGuard(limit, on_exceeded, interval=0.01).start()
    try:
        ballast = bytearray(128 * 2**20)
        ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident
        assert done.wait(5)
    finally:
        guard.stop()
    del ballast
    assert len(tripped) == 1 and tripped[0][0] > limit
    message = str(MemoryLimitExceeded(*tripped[0]))
    assert "taskmanager.memory.process.size" in message and "MiB" in message


def test_memory_freed_by_a_job_goes_back_to_the_system():
    """In a fresh process: many small objects (the case where RSS stays high without
    help), freed, then released."""
    script = """
from headwater.runtime.taskmanager.memory_guard import release_memory, resident_bytes
base = resident_bytes()
data = [str(i) * 3 for i in range(3_000_000)]
grown = resident_bytes()
del data
before, after = release_memory()
print(base, grown, after)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    base, grown, after = map(int, out)
    assert grown - base > 200 * 2**20
    assert after - base < 0.25 * (grown - base), (base, grown, after)
    assert release_memory()[1] > 0
