"""Samples of Python stacks of some threads of this process, for flame graphs.

One sample is :func:`sys._current_frames` plus the scheduler state of each sampled
thread, taken by the sampling thread itself (never under a lock of the sampled threads).
Samples are aggregated as they are taken: each distinct (thread state, stack) once with
its count::

    >>> aggregate = ThreadInfoSamples()
    >>> aggregate.add("R", ("run (threading:982)", "burn (job:3)"))
    >>> aggregate.add("R", ("run (threading:982)", "burn (job:3)"))
    >>> aggregate.to_wire()["samples"]
    [['R', 2, ['run (threading:982)', 'burn (job:3)']]]

A frame is named like Flink's ``method (file:line)``: ``function (module:line)``, with the
line the frame executes, so a flame graph shows which line of a user function burns the
time. Stacks are listed from the outermost frame and keep the innermost ``max_depth``
frames (Flink's ``rest.flamegraph.stack-depth``).

The state is the thread's state in ``/proc/self/task/<tid>/stat``: ``R`` (running or
runnable) is on-CPU, anything else (``S`` sleeping on a lock, a queue, the GIL or I/O,
``D`` in uninterruptible I/O) off-CPU. Where ``/proc`` is missing, a thread whose innermost
frame is a known blocking call counts as ``S``, any other as ``R``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from headwater.clock import now_ms
from headwater.runtime import thread_dump

#: The scheduler state that counts as on-CPU (Java's RUNNABLE in Flink's flame graphs).
ON_CPU_STATE = "R"


def frame_name(frame: FrameType) -> str:
    """``function (module:line)``: the qualified function name, its module (the file's
    name for ``__main__`` code, the user's job script) and the line the frame executes."""
    code = frame.f_code
    module = frame.f_globals.get("__name__")
    if not isinstance(module, str) or module == "__main__":
        # Functions pickled by value lose their code's file name but keep __file__.
        path = frame.f_globals.get("__file__")
        module = os.path.basename(path if isinstance(path, str) else code.co_filename)
    return f"{code.co_qualname} ({module}:{frame.f_lineno or code.co_firstlineno})"


def stack_of(frame: FrameType | None, max_depth: int) -> tuple[str, ...]:
    """The innermost ``max_depth`` frames of a stack, outermost first."""
    names: list[str] = []
    while frame is not None and len(names) < max_depth:
        names.append(frame_name(frame))
        frame = frame.f_back
    names.reverse()
    return tuple(names)


@dataclasses.dataclass
class ThreadInfoSamples:
    """Samples of some threads, counted per distinct (state, stack)."""

    counts: dict[tuple[str, tuple[str, ...]], int] = dataclasses.field(default_factory=dict)
    #: How many samples were taken (each sample counts every sampled thread once).
    num_samples: int = 0
    start_time: int = 0
    end_time: int = 0

    def add(self, state: str, stack: tuple[str, ...], count: int = 1) -> None:
        """Count ``count`` more samples of a thread in ``state`` at ``stack``."""
        key = (state, stack)
        self.counts[key] = self.counts.get(key, 0) + count

    def to_wire(self) -> dict[str, Any]:
        """The msgpack-able answer: ``samples`` as ``[state, count, [frames...]]``."""
        return {"samples": [[state, n, list(stack)] for (state, stack), n in self.counts.items()],
                "numSamples": self.num_samples, "startTime": self.start_time,
                "endTime": self.end_time}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ThreadInfoSamples:
        """The inverse of :meth:`to_wire`."""
        samples = cls(num_samples=int(data.get("numSamples", 0)),
                      start_time=int(data.get("startTime", 0)),
                      end_time=int(data.get("endTime", 0)))
        for state, count, frames in data.get("samples", []):
            samples.add(str(state), tuple(str(f) for f in frames), int(count))
        return samples

    def merge(self, other: ThreadInfoSamples) -> None:
        """Add ``other``'s samples to these (samples of more subtasks)."""
        for (state, stack), n in other.counts.items():
            self.add(state, stack, n)
        self.num_samples = max(self.num_samples, other.num_samples)
        if other.start_time and (not self.start_time or other.start_time < self.start_time):
            self.start_time = other.start_time
        self.end_time = max(self.end_time, other.end_time)


class _ThreadStates:
    """Reads threads' scheduler states from ``/proc/self/task/<tid>/stat``, keeping each
    file open for the whole sampling (a ``pread`` at offset 0 reads the current state)."""

    def __init__(self) -> None:
        self._files: dict[int, int | None] = {}

    def state(self, thread: threading.Thread, frame: FrameType | None) -> str:
        """One letter: ``R`` running or runnable, ``S`` sleeping, ``D`` disk wait..."""
        tid = thread.native_id
        fd = self._open(tid) if tid is not None else None
        if fd is not None:
            try:
                stat = os.pread(fd, 512, 0)
                # "pid (comm) S ...": comm may hold spaces and parentheses.
                fields = stat.rpartition(b")")[2].split()
                if fields:
                    return fields[0].decode("ascii", "replace")
            except OSError:
                pass
        return "S" if thread_dump.thread_state(frame) == "WAITING" else ON_CPU_STATE

    def _open(self, tid: int) -> int | None:
        if tid not in self._files:
            try:
                self._files[tid] = os.open(f"/proc/self/task/{tid}/stat", os.O_RDONLY)
            except OSError:
                self._files[tid] = None
        return self._files[tid]

    def close(self) -> None:
        """Close every file opened."""
        for fd in self._files.values():
            if fd is not None:
                os.close(fd)
        self._files.clear()


def sample_threads(threads: Callable[[], Iterable[threading.Thread]], num_samples: int,
                   delay: float, max_depth: int,
                   stopped: Callable[[], bool] = lambda: False) -> ThreadInfoSamples:
    """Take ``num_samples`` samples, ``delay`` seconds apart, of the threads ``threads()``
    names at each sample (threads that have not started or have ended are skipped).
    Blocks the calling thread for about ``num_samples * delay`` seconds; ``stopped``
    ends the sampling early."""
    result = ThreadInfoSamples(start_time=now_ms())
    states = _ThreadStates()
    try:
        for i in range(num_samples):
            if i:
                time.sleep(delay)
            if stopped():
                break
            sampled = [t for t in threads() if t.is_alive()]
            frames = sys._current_frames()
            # Name every stack before reading any state: a read lets the threads run on.
            stacks = [(t, frame, stack_of(frame, max_depth)) for t in sampled
                      if t.ident is not None and (frame := frames.get(t.ident)) is not None]
            del frames
            for thread, frame, stack in stacks:
                result.add(states.state(thread, frame), stack)
            del stacks  # frames keep their locals alive
            result.num_samples += 1
    finally:
        states.close()
    result.end_time = now_ms()
    return result

