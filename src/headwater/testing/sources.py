"""A scripted source: records with timestamps, watermarks, idleness and pauses in a
given order (Flink's test sources)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from typing import Any

from headwater.api.functions import SourceContext, SourceFunction


@dataclasses.dataclass(frozen=True)
class Record:
    """Emit ``value``, with the event ``timestamp`` (ms) when given."""

    value: Any
    timestamp: int | None = None


@dataclasses.dataclass(frozen=True)
class Watermark:
    """Emit a watermark: event time reached ``timestamp`` (ms)."""

    timestamp: int


@dataclasses.dataclass(frozen=True)
class Idle:
    """Mark the source temporarily idle (``ctx.mark_as_temporarily_idle()``)."""


@dataclasses.dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` of wall time before the next step (returns early on cancel)."""

    seconds: float


#: One step of a script.
Step = Record | Watermark | Idle | Pause


class ScriptedSource(SourceFunction):
    """Runs a script of :class:`Record`, :class:`Watermark`, :class:`Idle` and
    :class:`Pause` steps, in order, then finishes. Plain values in the script are records
    without timestamps; ``(value, timestamp)`` pairs can be given with :meth:`of`::

        source = ScriptedSource([Record("a", 1), Record("b", 5), Watermark(5),
                                 Pause(0.1), Record("c", 12), Watermark(20)])
        env.add_source(source).set_parallelism(1)

    Every parallel subtask runs the whole script; give the source parallelism 1 to emit
    it once.
    """

    def __init__(self, steps: Iterable[Step | Any]) -> None:
        self.steps = [s if isinstance(s, (Record, Watermark, Idle, Pause)) else Record(s)
                      for s in steps]
        self._cancelled = threading.Event()

    @classmethod
    def of(cls, timestamped: Iterable[tuple[Any, int]],
           watermark_every: int | None = None) -> ScriptedSource:
        """A script of ``(value, timestamp)`` records; with ``watermark_every`` n, a
        watermark of the highest timestamp so far after every n records and at the end."""
        steps: list[Step] = []
        highest: int | None = None
        for i, (value, ts) in enumerate(timestamped, 1):
            steps.append(Record(value, ts))
            highest = ts if highest is None else max(highest, ts)
            if watermark_every and i % watermark_every == 0:
                steps.append(Watermark(highest))
        if watermark_every and highest is not None and not isinstance(steps[-1], Watermark):
            steps.append(Watermark(highest))
        return cls(steps)

    def run(self, ctx: SourceContext) -> None:
        """Play the script."""
        for step in self.steps:
            if self._cancelled.is_set():
                return
            if isinstance(step, Record):
                if step.timestamp is None:
                    ctx.collect(step.value)
                else:
                    ctx.collect_with_timestamp(step.value, step.timestamp)
            elif isinstance(step, Watermark):
                ctx.emit_watermark(step.timestamp)
            elif isinstance(step, Idle):
                ctx.mark_as_temporarily_idle()
            else:
                self._cancelled.wait(step.seconds)

    def cancel(self) -> None:
        """Stop after the current step."""
        self._cancelled.set()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_cancelled", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._cancelled = threading.Event()
