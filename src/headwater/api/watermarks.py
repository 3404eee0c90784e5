"""Event time: where records get their timestamps and how watermarks follow them.

A :class:`WatermarkStrategy` bundles a timestamp assigner (record -> event time in ms)
and a watermark generator (event times seen -> "no record older than W will come").
``DataStream.assign_timestamps_and_watermarks`` applies one; the generator emits every
``pipeline.auto-watermark-interval`` ms (``env.get_config()``, default 200)::

    from headwater.api import Duration, WatermarkStrategy

    strategy = (WatermarkStrategy
                .for_bounded_out_of_orderness(Duration.of_seconds(5))
                .with_timestamp_assigner(lambda event, record_ts: event["ts"]))
    events.assign_timestamps_and_watermarks(strategy)

Like Flink's ``BoundedOutOfOrdernessWatermarks`` the watermark is the largest timestamp
seen minus the out-of-orderness minus 1, so a record exactly ``bound`` ms late is still
on time.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any, Protocol

from headwater.api.time import Duration, to_millis

#: Flink's Long.MIN_VALUE / Long.MAX_VALUE: "no watermark yet" / "end of event time".
MIN_TIMESTAMP = -(2**63)
MAX_TIMESTAMP = 2**63 - 1


class WatermarkOutput(Protocol):
    """Where a generator sends watermarks (provided by the assigning operator)."""

    def emit_watermark(self, watermark: int) -> None:
        """Event time advanced to ``watermark`` (ignored unless it is larger than the
        last one)."""

    def mark_idle(self) -> None:
        """This subtask has no records for now."""

    def mark_active(self) -> None:
        """This subtask has records again."""


class TimestampAssigner:
    """Extracts a record's event time: ``extract_timestamp(value, record_timestamp)``
    returns milliseconds (``record_timestamp`` is the record's current timestamp, or
    Long.MIN_VALUE when it has none)."""

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        """The event time of ``value`` in ms."""
        raise NotImplementedError


class _CallableAssigner(TimestampAssigner):
    """A TimestampAssigner around a plain callable."""

    def __init__(self, fn: Callable[..., int]) -> None:
        self.fn = fn
        # The callable itself is the per-record extractor (no wrapper call per record).
        self.extract_timestamp = (  # type: ignore[method-assign]
            fn if _positional_arity(fn) != 1
            else (lambda value, record_timestamp: fn(value)))

    def __getstate__(self) -> Callable[..., int]:
        return self.fn

    def __setstate__(self, fn: Callable[..., int]) -> None:
        _CallableAssigner.__init__(self, fn)


def _positional_arity(fn: Callable) -> int | None:
    """How many positional parameters ``fn`` takes (None if unknown or variadic)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               and p.default is p.empty)


class WatermarkGenerator:
    """Turns the event times of records into watermarks.

    ``on_event`` sees every record, ``on_periodic_emit`` runs every auto-watermark
    interval. ``on_events`` gets a whole batch; override it for speed.
    """

    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        """A record with its timestamp."""

    def on_events(self, events: list, timestamps: list, output: WatermarkOutput) -> None:
        """A batch of records (default: ``on_event`` for each)."""
        on_event = self.on_event
        for e, t in zip(events, timestamps, strict=True):
            on_event(e, t, output)

    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        """Called every auto-watermark interval: emit the current watermark."""


class BoundedOutOfOrdernessWatermarks(WatermarkGenerator):
    """Watermark = largest timestamp seen - ``out_of_orderness_ms`` - 1."""

    def __init__(self, out_of_orderness_ms: int) -> None:
        if out_of_orderness_ms < 0:
            raise ValueError("maxOutOfOrderness cannot be negative.")
        self.out_of_orderness = out_of_orderness_ms
        self.max_timestamp = MIN_TIMESTAMP + out_of_orderness_ms + 1

    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        """Track the largest timestamp."""
        if event_timestamp > self.max_timestamp:
            self.max_timestamp = event_timestamp

    def on_events(self, events: list, timestamps: list, output: WatermarkOutput) -> None:
        """Track the largest timestamp of a batch."""
        if timestamps:
            m = max(timestamps)
            if m > self.max_timestamp:
                self.max_timestamp = m

    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        """Emit the bounded watermark."""
        output.emit_watermark(self.max_timestamp - self.out_of_orderness - 1)


class AscendingTimestampsWatermarks(BoundedOutOfOrdernessWatermarks):
    """For timestamps that never decrease: watermark = largest timestamp - 1."""

    def __init__(self) -> None:
        super().__init__(0)


class NoWatermarksGenerator(WatermarkGenerator):
    """Emits no watermarks (event-time timers then fire only at the end of bounded
    input)."""


class IdlenessTimer:
    """Flink's IdlenessTimer: idle after ``timeout_ms`` without activity, measured from
    the first periodic check that saw none."""

    def __init__(self, timeout_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout_ms / 1000.0
        self.clock = clock
        self.counter = 0
        self.last_counter = 0
        self.start_of_inactivity: float | None = None

    def activity(self) -> None:
        """Records arrived."""
        self.counter += 1

    def check_if_idle(self) -> bool:
        """Whether the timeout has passed without activity."""
        if self.counter != self.last_counter:
            self.last_counter = self.counter
            self.start_of_inactivity = None
            return False
        now = self.clock()
        if self.start_of_inactivity is None:
            self.start_of_inactivity = now
            return False
        return now - self.start_of_inactivity > self.timeout


class WatermarksWithIdleness(WatermarkGenerator):
    """Wraps a generator: when no record arrived for the idle timeout, the periodic
    emission marks the output idle instead of emitting a watermark."""

    def __init__(self, generator: WatermarkGenerator, timeout_ms: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.generator = generator
        self.timer = IdlenessTimer(timeout_ms, clock)
        self.idle = False

    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        """Activity, then the wrapped generator."""
        self.timer.activity()
        self.generator.on_event(event, event_timestamp, output)

    def on_events(self, events: list, timestamps: list, output: WatermarkOutput) -> None:
        """Activity, then the wrapped generator."""
        self.timer.activity()
        self.generator.on_events(events, timestamps, output)

    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        """Mark idle after the timeout, else emit as the wrapped generator does."""
        if self.timer.check_if_idle():
            if not self.idle:
                self.idle = True
                output.mark_idle()
            return
        if self.idle:
            self.idle = False
            output.mark_active()
        self.generator.on_periodic_emit(output)


class WatermarkStrategy:
    """How a stream gets timestamps and watermarks (PyFlink's names, snake_case)."""

    def __init__(self, generator_factory: Callable[[], WatermarkGenerator],
                 timestamp_assigner: TimestampAssigner | None = None,
                 idle_timeout_ms: int | None = None) -> None:
        self.generator_factory = generator_factory
        self.timestamp_assigner = timestamp_assigner
        self.idle_timeout_ms = idle_timeout_ms

    # -- built-in strategies ------------------------------------------------------------

    @staticmethod
    def for_bounded_out_of_orderness(max_out_of_orderness: Duration | int
                                     ) -> WatermarkStrategy:
        """Records may arrive up to ``max_out_of_orderness`` (Duration or ms) late."""
        bound = to_millis(max_out_of_orderness, "max_out_of_orderness")
        if bound < 0:
            raise ValueError("maxOutOfOrderness cannot be negative.")
        return WatermarkStrategy(_Bounded(bound))

    @staticmethod
    def for_monotonous_timestamps() -> WatermarkStrategy:
        """Timestamps never decrease (watermark = largest timestamp - 1)."""
        return WatermarkStrategy(AscendingTimestampsWatermarks)

    @staticmethod
    def no_watermarks() -> WatermarkStrategy:
        """Timestamps only, no watermarks."""
        return WatermarkStrategy(NoWatermarksGenerator)

    @staticmethod
    def for_generator(generator_factory: Callable[[], WatermarkGenerator]
                      ) -> WatermarkStrategy:
        """A custom generator: ``generator_factory()`` runs once per subtask."""
        return WatermarkStrategy(generator_factory)

    # -- refinements --------------------------------------------------------------------

    def with_timestamp_assigner(self, timestamp_assigner: TimestampAssigner | Callable
                                ) -> WatermarkStrategy:
        """Take event times from ``timestamp_assigner`` (a TimestampAssigner or a callable
        ``(value, record_timestamp) -> ms``)."""
        if not isinstance(timestamp_assigner, TimestampAssigner):
            if not callable(timestamp_assigner):
                raise TypeError("expected a TimestampAssigner or a callable "
                                "(value, record_timestamp) -> int")
            timestamp_assigner = _CallableAssigner(timestamp_assigner)
        return WatermarkStrategy(self.generator_factory, timestamp_assigner,
                                 self.idle_timeout_ms)

    def with_idleness(self, idle_timeout: Duration | int) -> WatermarkStrategy:
        """Mark a subtask idle after ``idle_timeout`` (Duration or ms) without records, so
        it does not hold back the watermark downstream."""
        timeout = to_millis(idle_timeout, "idle_timeout")
        if timeout <= 0:
            raise ValueError("idle timeout must be positive")
        return WatermarkStrategy(self.generator_factory, self.timestamp_assigner, timeout)

    def with_watermark_alignment(self, watermark_group: str, max_allowed_watermark_drift: Any,
                                 update_interval: Any = None) -> WatermarkStrategy:
        """Accepted: headwater does not pause sources that run ahead of their group
        (alignment only paces sources; results are the same)."""
        to_millis(max_allowed_watermark_drift, "max_allowed_watermark_drift")
        return self

    # -- used by the runtime ------------------------------------------------------------

    def create_timestamp_assigner(self) -> TimestampAssigner | None:
        """The assigner, or None to keep the records' own timestamps."""
        return self.timestamp_assigner

    def create_watermark_generator(self) -> WatermarkGenerator:
        """A fresh generator for one subtask (wrapped for idleness when configured)."""
        generator = self.generator_factory()
        if self.idle_timeout_ms is not None:
            generator = WatermarksWithIdleness(generator, self.idle_timeout_ms)
        return generator


class _Bounded:
    """Picklable factory of BoundedOutOfOrdernessWatermarks."""

    def __init__(self, bound: int) -> None:
        self.bound = bound

    def __call__(self) -> BoundedOutOfOrdernessWatermarks:
        return BoundedOutOfOrdernessWatermarks(self.bound)
