"""Spans of time: ``Duration`` (watermark strategies) and ``Time`` (window sizes).

Both are milliseconds underneath; every API that takes a span also accepts a plain int
(milliseconds)::

    WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5))
    TumblingEventTimeWindows.of(Time.minutes(1))
    TumblingEventTimeWindows.of(60_000)          # the same window size
"""

from __future__ import annotations

from typing import Any


class Duration:
    """A span of time in milliseconds (PyFlink's ``Duration``)."""

    __slots__ = ("millis",)

    def __init__(self, millis: int) -> None:
        self.millis = int(millis)

    @staticmethod
    def of_millis(millis: int) -> Duration:
        """``millis`` milliseconds."""
        return Duration(millis)

    @staticmethod
    def of_seconds(seconds: int | float) -> Duration:
        """``seconds`` seconds."""
        return Duration(round(seconds * 1000))

    @staticmethod
    def of_minutes(minutes: int | float) -> Duration:
        """``minutes`` minutes."""
        return Duration(round(minutes * 60_000))

    @staticmethod
    def of_hours(hours: int | float) -> Duration:
        """``hours`` hours."""
        return Duration(round(hours * 3_600_000))

    @staticmethod
    def of_days(days: int | float) -> Duration:
        """``days`` days."""
        return Duration(round(days * 86_400_000))

    @staticmethod
    def zero() -> Duration:
        """No time at all."""
        return Duration(0)

    def to_milliseconds(self) -> int:
        """The span in milliseconds."""
        return self.millis

    @staticmethod
    def of_nanos(nanos: int) -> Duration:
        """``nanos`` nanoseconds (rounded down to milliseconds)."""
        return Duration(int(nanos) // 1_000_000)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.millis == self.millis

    def __hash__(self) -> int:
        return hash(self.millis)

    def __repr__(self) -> str:
        return f"Duration({self.millis} ms)"


class Time(Duration):
    """Window sizes and gaps, with Flink's ``Time.seconds(5)`` spelling."""

    __slots__ = ()

    @staticmethod
    def milliseconds(milliseconds: int) -> Time:
        """``milliseconds`` milliseconds."""
        return Time(milliseconds)

    @staticmethod
    def seconds(seconds: int | float) -> Time:
        """``seconds`` seconds."""
        return Time(round(seconds * 1000))

    @staticmethod
    def minutes(minutes: int | float) -> Time:
        """``minutes`` minutes."""
        return Time(round(minutes * 60_000))

    @staticmethod
    def hours(hours: int | float) -> Time:
        """``hours`` hours."""
        return Time(round(hours * 3_600_000))

    @staticmethod
    def days(days: int | float) -> Time:
        """``days`` days."""
        return Time(round(days * 86_400_000))

    def __repr__(self) -> str:
        return f"Time({self.millis} ms)"


class Instant:
    """A point in time: seconds and nanoseconds since the epoch (PyFlink's ``Instant``)."""

    __slots__ = ("seconds", "nanos")

    def __init__(self, seconds: int, nanos: int) -> None:
        self.seconds = int(seconds)
        self.nanos = int(nanos)

    @staticmethod
    def of_epoch_milli(epoch_milli: int) -> Instant:
        """The instant ``epoch_milli`` ms after the epoch."""
        seconds, millis = divmod(int(epoch_milli), 1000)
        return Instant(seconds, millis * 1_000_000)

    def to_epoch_milli(self) -> int:
        """Milliseconds since the epoch."""
        return self.seconds * 1000 + self.nanos // 1_000_000

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instant) and (other.seconds, other.nanos) == \
            (self.seconds, self.nanos)

    def __hash__(self) -> int:
        return hash((self.seconds, self.nanos))

    def __repr__(self) -> str:
        return f"Instant<{self.seconds}, {self.nanos}>"

    def __reduce__(self) -> tuple:
        return Instant, (self.seconds, self.nanos)


def to_millis(span: Any, what: str = "time span") -> int:
    """Milliseconds of a Duration/Time, of anything with ``to_milliseconds()``, or of an
    int (already milliseconds)."""
    if isinstance(span, bool):
        raise TypeError(f"{what} must be a Duration, a Time or milliseconds (int)")
    if isinstance(span, int):
        return span
    to_ms = getattr(span, "to_milliseconds", None)
    if to_ms is None:
        raise TypeError(f"{what} must be a Duration, a Time or milliseconds (int), "
                        f"got {span!r}")
    return int(to_ms())
