"""Source operators: the head of a source vertex.

The task calls ``run(output)`` once, in the task's source thread; the source writes
records into ``output`` (a :class:`~headwater.runtime.operators.base.SourceOutput`) and
returns when exhausted. ``cancel()`` comes from another thread; built-in sources also
check ``output.cancelled`` between batches.

* :class:`CollectionSource`: subtask i emits elements i, i+p, i+2p... in order;
* :class:`SequenceSource`: [start, end] split into contiguous ranges, one per subtask;
* :class:`UserSource`: a ``SourceFunction`` (``run(ctx)``/``cancel()``), a generator
  function or other zero-argument callable returning an iterable, or an iterable.

All of them checkpoint their position as operator state (see each class), taken by the
task thread under the checkpoint lock (``output.lock``) between ``collect`` calls: a
source advances its position under that lock together with the emit, and sleeps or reads
outside it (see :mod:`headwater.runtime.taskmanager.source_driver`).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from typing import Any

from headwater.api.functions import RichFunction, RuntimeContext, SourceContext, SourceFunction
from headwater.runtime.operators.base import OperatorStateSnapshot, SourceOperator, SourceOutput
from headwater.runtime.state.operator_state import FunctionStateBinding

#: Records per ``collect_batch`` call of the built-in sources.
CHUNK = 1024

#: Pieces a built-in source splits its remaining work into when it snapshots, so that a
#: restore at a higher parallelism can spread the work over more subtasks.
SNAPSHOT_PIECES = 8


class ChunkSizer:
    """Records per ``collect_batch``, adapted so that one batch holds the checkpoint lock
    for about ``target`` seconds: a chunk runs through the whole chain under the lock, so
    with slow operators smaller chunks keep checkpoints (and latency) prompt, while fast
    chains keep the full ``CHUNK``."""

    def __init__(self, maximum: int | None = None, target: float = 0.01) -> None:
        self.maximum = maximum or CHUNK
        self.target = target
        #: Starts small (the chain's speed is unknown) and at most doubles per chunk.
        self.size = min(self.maximum, 8)

    def observe(self, records: int, seconds: float) -> None:
        """A chunk of ``records`` took ``seconds``: choose the next size."""
        if records <= 0:
            return
        if seconds <= 0:
            ideal = self.maximum
        else:
            ideal = int(self.target * records / seconds)
        self.size = max(1, min(self.maximum, ideal, self.size * 2))

    @staticmethod
    def pause() -> None:
        """Between chunks, outside the lock: let a waiting checkpoint take the lock."""
        time.sleep(0)


def _checkpoint_lock(output: SourceOutput) -> Any:
    """The lock under which the task snapshots a source (a private one if none)."""
    lock = getattr(output, "lock", None)
    return lock if lock is not None else threading.RLock()


def _pieces(ranges: list[list[int]], pieces: int) -> list[tuple[int, int, int]]:
    """The non-empty strided ranges ``[start, stop, step]`` cut into about ``pieces``
    pieces in total (for "split" operator state)."""
    ranges = [r for r in ranges if r[0] < r[1]]
    if not ranges:
        return []
    per_range = max(1, pieces // len(ranges))
    out = []
    for start, stop, step in ranges:
        n = -(-(stop - start) // step)
        k = min(n, per_range)
        for j in range(k):
            lo = start + (n * j // k) * step
            hi = min(stop, start + (n * (j + 1) // k) * step)
            out.append((lo, hi, step))
    return out


class SplitSource(SourceOperator):
    """A resumable source whose position is the list of its remaining splits (each a
    mutable list that ``run`` advances under the checkpoint lock): ``initial_splits()`` on
    a fresh start, else what ``initialize_state`` restored from the "split" operator state
    ``state_name``. A pickled copy carries no splits (each subtask makes its own)."""

    #: Name of the operator state holding the remaining splits.
    state_name = "source-splits"

    def __init__(self) -> None:
        self._cancelled = False
        self._splits: list[list[Any]] | None = None

    def initial_splits(self) -> list[list[Any]]:
        """The splits of this subtask on a fresh start."""
        raise NotImplementedError

    def _positions(self) -> list[list[Any]]:
        if self._splits is None:
            self._splits = self.initial_splits()
        return self._splits

    def cancel(self) -> None:
        """Stop after the current chunk."""
        self._cancelled = True

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("ctx", None)
        state["_splits"] = None
        return state


class _RangeSource(SplitSource):
    """A source emitting positions of strided index ranges, resumable at any position.

    Its position is the list of remaining ranges ``[start, stop, step]`` (its splits),
    checkpointed as "split" operator state: after a restore, also at another parallelism,
    every position is emitted exactly once overall. The position advances under the
    checkpoint lock together with ``collect_batch``, so a snapshot always matches what was
    emitted; an exhausted source snapshots an empty list.
    """

    #: Name of the operator state holding the remaining ranges.
    state_name = "source-ranges"

    def initial_ranges(self) -> list[list[int]]:
        """The ranges of this subtask on a fresh start."""
        raise NotImplementedError

    def initial_splits(self) -> list[list[int]]:
        """The ranges of this subtask on a fresh start (:meth:`initial_ranges`)."""
        return self.initial_ranges()

    def values(self, start: int, stop: int, step: int) -> list:
        """The records of positions ``range(start, stop, step)``."""
        raise NotImplementedError

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Resume from the restored remaining ranges (None: start from the beginning)."""
        entry = state.get(self.state_name) if state else None
        self._splits = None if entry is None else [list(r) for r in entry[1]]

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot:
        """The remaining ranges, as "split" list state."""
        return {self.state_name: ("split", _pieces(self._positions(), SNAPSHOT_PIECES))}

    def run(self, output: SourceOutput) -> None:
        """Emit the remaining ranges in chunks."""
        lock = _checkpoint_lock(output)
        ranges = self._positions()
        sizer = ChunkSizer()
        clock = time.perf_counter
        while ranges:
            if self._cancelled or output.cancelled:
                return
            t0 = clock()
            with lock:
                r = ranges[0]
                start, stop, step = r
                if start >= stop:
                    ranges.pop(0)
                    continue
                end = min(stop, start + sizer.size * step)
                output.collect_batch(self.values(start, end, step))
                r[0] = end
            sizer.observe(-(-(end - start) // step), clock() - t0)
            sizer.pause()


class CollectionSource(_RangeSource):
    """Emits a list's elements; subtask i of p takes elements i, i+p, i+2p...

    Resumable: the remaining element indexes are checkpointed (see :class:`_RangeSource`).
    """

    state_name = "collection-source-indexes"

    def __init__(self, elements: Iterable[Any]) -> None:
        super().__init__()
        self.elements = list(elements)

    def share(self, subtask_index: int, parallelism: int) -> list:
        """The elements one subtask emits."""
        return self.elements[subtask_index::parallelism]

    def initial_ranges(self) -> list[list[int]]:
        """Indexes i, i+p, ... of subtask i."""
        return [[self.ctx.subtask_index, len(self.elements), self.ctx.parallelism]]

    def values(self, start: int, stop: int, step: int) -> list:
        """The elements at those indexes."""
        return self.elements[start:stop:step]


class SequenceSource(_RangeSource):
    """Emits the integers start..end (inclusive), split into contiguous ranges.

    Resumable: the remaining integers are checkpointed (see :class:`_RangeSource`).
    """

    state_name = "sequence-source-ranges"

    def __init__(self, start: int, end: int) -> None:
        if end < start:
            raise ValueError(f"end ({end}) must not be smaller than start ({start})")
        super().__init__()
        self.start = start
        self.end = end

    def split(self, subtask_index: int, parallelism: int) -> range:
        """The range one subtask emits (sizes differ by at most one)."""
        n = self.end - self.start + 1
        lo = self.start + n * subtask_index // parallelism
        hi = self.start + n * (subtask_index + 1) // parallelism
        return range(lo, hi)

    def initial_ranges(self) -> list[list[int]]:
        """This subtask's contiguous range."""
        mine = self.split(self.ctx.subtask_index, self.ctx.parallelism)
        return [[mine.start, mine.stop, 1]]

    def values(self, start: int, stop: int, step: int) -> list:
        """The integers of the range."""
        return list(range(start, stop, step))


class UserSource(SourceOperator):
    """Runs a user's source: a SourceFunction, a generator function or an iterable.

    A SourceFunction gets a :class:`SourceContext` whose ``collect`` is the task output's
    own method. Iterables are pulled record by record into ``output.collect``; the task
    batches them and flushes on its buffer timeout, so slow generators keep low latency.

    Checkpoints: a SourceFunction that is a ``CheckpointedFunction`` keeps its own operator
    state (it must update it under ``ctx.get_checkpoint_lock()``). For iterables and
    generator functions the number of records each subtask emitted is checkpointed
    ("union" state of ``(subtask, count)``); after a restore the subtask starts the
    iterable again and skips that many records, which resumes exactly for deterministic
    sources (a list, a generator that yields the same records every run).
    """

    #: Operator state of iterable sources: [(subtask index, records emitted)].
    state_name = "user-source-emitted"

    def __init__(self, source: Any) -> None:
        if not (isinstance(source, SourceFunction) or callable(source)
                or isinstance(source, Iterable)):
            raise TypeError("a source must be a SourceFunction, a generator function or an "
                            f"iterable, got {type(source).__name__}")
        self.source = source
        self._cancelled = False
        self._emitted = 0

    def _binding(self) -> FunctionStateBinding:
        binding = getattr(self, "_fn_state", None)
        if binding is None:
            self.initialize_state(None)
            binding = self._fn_state
        return binding

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Restore the function's state, or the emitted count of an iterable source."""
        self._emitted = 0
        if isinstance(self.source, SourceFunction):
            self._fn_state = FunctionStateBinding(self.source, getattr(self, "ctx", None))
            self._fn_state.initialize(state)
            return
        self._fn_state = FunctionStateBinding(None)
        entry = state.get(self.state_name) if state else None
        if entry is not None:
            mine = self.ctx.subtask_index
            self._emitted = max((n for i, n in entry[1] if i == mine), default=0)

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot | None:
        """The function's operator state, or this subtask's emitted count."""
        if isinstance(self.source, SourceFunction):
            return self._binding().snapshot(checkpoint_id)
        return {self.state_name: ("union", [(self.ctx.subtask_index, self._emitted)])}

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Forward to the source function, if it listens."""
        self._binding().notify_complete(checkpoint_id)

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        """Forward to the source function, if it listens."""
        self._binding().notify_aborted(checkpoint_id)

    def open(self) -> None:
        """Open a class-based source function."""
        self._binding()
        self._cancelled = False
        if isinstance(self.source, RichFunction):
            self.source.open(RuntimeContext(self.ctx))

    def run(self, output: SourceOutput) -> None:
        """Run the user's source until it ends or is cancelled."""
        src = self.source
        lock = _checkpoint_lock(output)
        if isinstance(src, SourceFunction):
            src.run(SourceContext(output, lock))
            return
        iterable = src() if callable(src) and not isinstance(src, Iterable) else src
        it = iter(iterable)
        skip = self._emitted
        if skip:
            for _ in itertools.islice(it, skip):
                pass
        collect = output.collect
        n = 0
        for value in it:
            with lock:
                collect(value)
                self._emitted += 1
            n += 1
            if self._cancelled or (n & 1023 == 0 and output.cancelled):
                break
        close = getattr(iterable, "close", None)  # finish a generator promptly
        if close is not None and self._cancelled:
            close()

    def cancel(self) -> None:
        """Ask the source to return."""
        self._cancelled = True
        if isinstance(self.source, SourceFunction):
            self.source.cancel()

    def close(self) -> None:
        """Close a class-based source function."""
        if isinstance(self.source, RichFunction):
            self.source.close()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("ctx", None)
        state.pop("_fn_state", None)
        return state
