"""Process figures of a JobManager or TaskManager under Flink's ``Status.JVM.*`` names.

There is no JVM: every figure is measured from the Python process with psutil and the
gc module (:mod:`headwater.runtime.process_figures`), mapped onto Flink's names:

==========================================  ================================================
``Status.JVM.CPU.Load``                     CPU used by the process over the time since the
                                            previous reading, as a fraction of all cores
``Status.JVM.CPU.Time``                     user + system CPU time so far, in nanoseconds
``Status.JVM.Memory.Heap.Used/Committed``   resident memory not shared with other processes
                                            (RSS minus shared pages), in bytes
``Status.JVM.Memory.Heap.Max``              the host's physical memory
``Status.JVM.Memory.NonHeap.Used/Committed`` resident shared pages (libraries, shared memory)
``Status.JVM.Memory.NonHeap.Max``           -1 (no limit; Flink's value for "undefined")
``Status.JVM.Threads.Count``                OS threads of the process
``Status.JVM.GarbageCollector.<gen>.Count`` collections of gc generation ``generation0..2``
``Status.JVM.GarbageCollector.<gen>.Time``  milliseconds spent in them (measured through
                                            ``gc.callbacks`` once the process started)
``Status.JVM.ClassLoader.ClassesLoaded``    modules imported (``len(sys.modules)``)
==========================================  ================================================

Flink's direct/mapped buffer pools, metaspace and unloaded classes have no Python
counterpart and are left out rather than invented.
"""

from __future__ import annotations

import sys
import threading
import time

import psutil

from headwater.runtime import process_figures
from headwater.runtime.metrics.groups import MetricGroup


class _CpuLoad:
    """Process CPU load since the previous reading (at most one new reading a 0.5 s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (time.monotonic(), process_figures.cpu_time_ns())
        self._value = 0.0
        self._cores = psutil.cpu_count() or 1

    def __call__(self) -> float:
        with self._lock:
            t0, c0 = self._last
            t1, c1 = time.monotonic(), process_figures.cpu_time_ns()
            if t1 - t0 >= 0.5:
                self._value = max(0.0, (c1 - c0) / 1e9 / (t1 - t0) / self._cores)
                self._last = (t1, c1)
            return self._value


def _shared() -> int:
    return int(getattr(process_figures.memory_info(), "shared", 0))


def _private() -> int:
    mem = process_figures.memory_info()
    return int(mem.rss - getattr(mem, "shared", 0))


def _gc(index: int, field: int):
    def read() -> int:
        figures = process_figures.gc_figures()
        return int(figures[index][field]) if index < len(figures) else 0
    return read


def register_process_metrics(group: MetricGroup) -> None:
    """Add the ``Status.JVM.*`` figures of this process to ``group``."""
    process_figures.install_gc_timer()
    status = group.add_group("Status").add_group("JVM")
    cpu = status.add_group("CPU")
    cpu.gauge("Load", _CpuLoad())
    cpu.gauge("Time", process_figures.cpu_time_ns)
    memory = status.add_group("Memory")
    heap = memory.add_group("Heap")
    heap.gauge("Used", _private)
    heap.gauge("Committed", _private)
    total = psutil.virtual_memory().total
    heap.gauge("Max", lambda: total)
    non_heap = memory.add_group("NonHeap")
    non_heap.gauge("Used", _shared)
    non_heap.gauge("Committed", _shared)
    non_heap.gauge("Max", lambda: -1)
    status.add_group("Threads").gauge("Count", process_figures.num_threads)
    gc_group = status.add_group("GarbageCollector")
    for i, (name, _, _) in enumerate(process_figures.gc_figures()):
        gen = gc_group.add_group(name)
        gen.gauge("Count", _gc(i, 1))
        gen.gauge("Time", _gc(i, 2))
    status.add_group("ClassLoader").gauge("ClassesLoaded", lambda: len(sys.modules))
