"""Measured figures of the current Python process and its host (psutil + gc).

These stand in for the JVM figures Flink reports: the resident set size for heap use,
the gc module's per-generation collection counts and the time spent in them. The
metric system (:mod:`headwater.runtime.metrics.system`) reads the same figures.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Any

import psutil

from headwater.clock import now_ms

_gc_time_ns = [0, 0, 0]
_gc_started = [0]
_gc_lock = threading.Lock()


def _gc_callback(phase: str, info: dict) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter_ns()
    elif _gc_started[0]:
        gen = info.get("generation", 0)
        _gc_time_ns[gen] += time.perf_counter_ns() - _gc_started[0]


def install_gc_timer() -> None:
    """Start measuring time spent in garbage collection (once per process)."""
    with _gc_lock:
        if _gc_callback not in gc.callbacks:
            gc.callbacks.append(_gc_callback)


_process = psutil.Process(os.getpid())


def hardware() -> dict[str, int]:
    """Host hardware as Flink's ``HardwareDescription``."""
    vm = psutil.virtual_memory()
    return {
        "cpuCores": psutil.cpu_count() or 1,
        "physicalMemory": vm.total,
        "freeMemory": vm.available,
        "managedMemory": 0,
    }


def process_figures() -> dict:
    """Current figures of this process: memory, CPU, threads, garbage collection."""
    mem = _process.memory_info()
    cpu = _process.cpu_times()
    vm = psutil.virtual_memory()
    stats = gc.get_stats()
    return {
        "pid": _process.pid,
        "rss": mem.rss,
        "vms": mem.vms,
        "memory_total": vm.total,
        "memory_available": vm.available,
        "cpu_percent": _process.cpu_percent(None),
        "cpu_time_ns": int((cpu.user + cpu.system) * 1e9),
        "num_threads": _process.num_threads(),
        "gc": [
            {"name": f"generation{i}", "count": s.get("collections", 0),
             "time": _gc_time_ns[i] // 1_000_000}
            for i, s in enumerate(stats)
        ],
        "timestamp": now_ms(),
    }


def memory_info() -> Any:
    """psutil's memory figures of this process (rss, vms, shared on Linux...)."""
    return _process.memory_info()


def cpu_time_ns() -> int:
    """CPU time (user + system) this process used so far, in nanoseconds."""
    cpu = _process.cpu_times()
    return int((cpu.user + cpu.system) * 1e9)


def num_threads() -> int:
    """OS threads of this process."""
    return _process.num_threads()


def gc_figures() -> list[tuple[str, int, int]]:
    """(name, collections, milliseconds spent) per garbage-collector generation (the time
    counts once :func:`install_gc_timer` ran)."""
    return [(f"generation{i}", s.get("collections", 0), _gc_time_ns[i] // 1_000_000)
            for i, s in enumerate(gc.get_stats())]
