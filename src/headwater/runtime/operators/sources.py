"""Source operators: the head of a source vertex.

The task calls ``run(output)`` once in the task thread; the source writes records into
``output`` (a :class:`~headwater.runtime.operators.base.SourceOutput`) and returns when
exhausted. ``cancel()`` comes from another thread; built-in sources also check
``output.cancelled`` between batches.

* :class:`CollectionSource`: subtask i emits elements i, i+p, i+2p... in order;
* :class:`SequenceSource`: [start, end] split into contiguous ranges, one per subtask;
* :class:`UserSource`: a ``SourceFunction`` (``run(ctx)``/``cancel()``), a generator
  function or other zero-argument callable returning an iterable, or an iterable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from headwater.api.functions import RichFunction, RuntimeContext, SourceContext, SourceFunction
from headwater.runtime.operators.base import SourceOperator, SourceOutput

#: Records per ``collect_batch`` call of the built-in sources.
CHUNK = 1024


class CollectionSource(SourceOperator):
    """Emits a list's elements; subtask i of p takes elements i, i+p, i+2p..."""

    def __init__(self, elements: Iterable[Any]) -> None:
        self.elements = list(elements)
        self._cancelled = False

    def share(self, subtask_index: int, parallelism: int) -> list:
        """The elements one subtask emits."""
        return self.elements[subtask_index::parallelism]

    def run(self, output: SourceOutput) -> None:
        """Emit this subtask's share in chunks."""
        mine = self.share(self.ctx.subtask_index, self.ctx.parallelism)
        for i in range(0, len(mine), CHUNK):
            if self._cancelled or output.cancelled:
                return
            output.collect_batch(mine[i:i + CHUNK])

    def cancel(self) -> None:
        """Stop after the current chunk."""
        self._cancelled = True


class SequenceSource(SourceOperator):
    """Emits the integers start..end (inclusive), split into contiguous ranges."""

    def __init__(self, start: int, end: int) -> None:
        if end < start:
            raise ValueError(f"end ({end}) must not be smaller than start ({start})")
        self.start = start
        self.end = end
        self._cancelled = False

    def split(self, subtask_index: int, parallelism: int) -> range:
        """The range one subtask emits (sizes differ by at most one)."""
        n = self.end - self.start + 1
        lo = self.start + n * subtask_index // parallelism
        hi = self.start + n * (subtask_index + 1) // parallelism
        return range(lo, hi)

    def run(self, output: SourceOutput) -> None:
        """Emit this subtask's range in chunks."""
        mine = self.split(self.ctx.subtask_index, self.ctx.parallelism)
        for lo in range(mine.start, mine.stop, CHUNK):
            if self._cancelled or output.cancelled:
                return
            output.collect_batch(list(range(lo, min(lo + CHUNK, mine.stop))))

    def cancel(self) -> None:
        """Stop after the current chunk."""
        self._cancelled = True


class UserSource(SourceOperator):
    """Runs a user's source: a SourceFunction, a generator function or an iterable.

    A SourceFunction gets a :class:`SourceContext` whose ``collect`` is the task output's
    own method. Iterables are pulled record by record into ``output.collect``; the task
    batches them and flushes on its buffer timeout, so slow generators keep low latency.
    """

    def __init__(self, source: Any) -> None:
        if not (isinstance(source, SourceFunction) or callable(source)
                or isinstance(source, Iterable)):
            raise TypeError("a source must be a SourceFunction, a generator function or an "
                            f"iterable, got {type(source).__name__}")
        self.source = source
        self._cancelled = False

    def open(self) -> None:
        """Open a class-based source function."""
        self._cancelled = False
        if isinstance(self.source, RichFunction):
            self.source.open(RuntimeContext(self.ctx))

    def run(self, output: SourceOutput) -> None:
        """Run the user's source until it ends or is cancelled."""
        src = self.source
        if isinstance(src, SourceFunction):
            src.run(SourceContext(output, getattr(output, "lock", None) or threading.RLock()))
            return
        iterable = src() if callable(src) and not isinstance(src, Iterable) else src
        collect = output.collect
        n = 0
        for value in iterable:
            collect(value)
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
        return state
