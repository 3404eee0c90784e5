"""Metric types, as Flink's: counter, gauge, meter and histogram.

A :class:`Counter` counts, a :class:`Gauge` reads a value on demand, a :class:`Meter`
reports a per-second rate and a :class:`Histogram` the statistics of recent values::

    events = group.counter("events")
    events.inc()
    group.gauge("queueLength", lambda: len(queue))
    rate = group.meter("eventsPerSecond")      # a MeterView over its own counter
    rate.mark_event(5)
    latency = group.histogram("latency")
    latency.update(12)

Views (meters and time rates) compute their figure from samples a
:class:`~headwater.runtime.metrics.registry.MetricRegistry` takes every second, like
Flink's ``MeterView`` and its ``ViewUpdater``.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable
from typing import Any


class Metric:
    """Base of every metric."""

    #: Flink's metric category: counter, gauge, meter, histogram.
    kind = "metric"


class Counter(Metric):
    """A count that goes up (and down): ``inc``, ``dec``, ``get_count``."""

    kind = "counter"
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        """Add ``n``."""
        self.count += n

    def dec(self, n: int = 1) -> None:
        """Subtract ``n``."""
        self.count -= n

    def get_count(self) -> int:
        """The current count."""
        return self.count


class FunctionCounter(Counter):
    """A counter whose count another component keeps (e.g. a task's I/O figures)."""

    __slots__ = ("_read",)

    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read

    def inc(self, n: int = 1) -> None:  # noqa: D102
        raise TypeError("this counter is read-only")

    dec = inc

    def get_count(self) -> int:
        """The count, read from its owner."""
        return int(self._read())


class Gauge(Metric):
    """A value read on demand from a function."""

    kind = "gauge"
    __slots__ = ("_read",)

    def __init__(self, read: Callable[[], Any]) -> None:
        self._read = read

    def get_value(self) -> Any:
        """The current value."""
        return self._read()


class View:
    """Something the registry samples every second (``update``)."""

    def update(self, now: float) -> None:
        """Take a sample at ``now`` (monotonic seconds)."""
        raise NotImplementedError


class _Window:
    """(time, value) samples of a growing figure over the last ``span`` seconds."""

    __slots__ = ("span", "samples")

    def __init__(self, span: float) -> None:
        self.span = span
        self.samples: collections.deque[tuple[float, float]] = collections.deque()

    def add(self, now: float, value: float) -> None:
        samples = self.samples
        samples.append((now, value))
        # Keep one sample at or before the window start so the window is fully covered.
        while len(samples) > 2 and samples[1][0] <= now - self.span:
            samples.popleft()

    def rate(self) -> float:
        """Growth per second over the window (0.0 before two samples)."""
        samples = self.samples
        if len(samples) < 2:
            return 0.0
        (t0, v0), (t1, v1) = samples[0], samples[-1]
        return (v1 - v0) / (t1 - t0) if t1 > t0 else 0.0


class Meter(Metric, View):
    """Flink's ``MeterView``: events per second over the last ``time_span_in_seconds``.

    It marks events on its own counter, or reads the count of an existing one. Unlike
    Flink's, the rate divides by the time actually covered while the meter is younger
    than its span, so a young meter is not under-reported.
    """

    kind = "meter"

    def __init__(self, counter: Counter | None = None, time_span_in_seconds: float = 60) -> None:
        self.counter = counter if counter is not None else Counter()
        self._window = _Window(time_span_in_seconds)
        self._rate = 0.0

    def mark_event(self, n: int = 1) -> None:
        """Count ``n`` events."""
        self.counter.inc(n)

    def get_count(self) -> int:
        """Events so far."""
        return self.counter.get_count()

    def get_rate(self) -> float:
        """Events per second over the window, as of the last sample."""
        return self._rate

    def update(self, now: float) -> None:
        self._window.add(now, self.counter.get_count())
        self._rate = self._window.rate()


class TimeRateGauge(Gauge, View):
    """Milliseconds per second spent in some state, from a growing nanosecond total
    (Flink's ``backPressuredTimeMsPerSecond``, ``idleTimeMsPerSecond``...), over the last
    ``span`` seconds."""

    def __init__(self, read_ns: Callable[[], int], span: float = 5.0) -> None:
        super().__init__(self._value)
        self._read_ns = read_ns
        self._window = _Window(span)
        self._ms_per_second = 0

    def _value(self) -> int:
        return self._ms_per_second

    def update(self, now: float) -> None:
        self._window.add(now, self._read_ns())
        rate_ms = self._window.rate() / 1e6
        self._ms_per_second = int(round(min(1000.0, max(0.0, rate_ms))))


class Histogram(Metric):
    """Statistics of the last ``window_size`` values (Flink's
    ``DescriptiveStatisticsHistogram``): count (all values ever), min, max, mean, stddev
    and quantiles."""

    kind = "histogram"

    def __init__(self, window_size: int = 500) -> None:
        self._values: collections.deque[float] = collections.deque(maxlen=window_size)
        self._count = 0

    def update(self, value: float) -> None:
        """Record a value."""
        self._values.append(value)
        self._count += 1

    def get_count(self) -> int:
        """Values recorded so far."""
        return self._count

    def get_statistics(self) -> HistogramStatistics:
        """Statistics of the window's values."""
        return HistogramStatistics(list(self._values))


class HistogramStatistics:
    """min/max/mean/stddev/quantiles of a list of values (empty: all 0)."""

    def __init__(self, values: list[float]) -> None:
        self.values = sorted(values)

    def size(self) -> int:
        """Number of values."""
        return len(self.values)

    def get_min(self) -> float:
        """Smallest value."""
        return self.values[0] if self.values else 0

    def get_max(self) -> float:
        """Largest value."""
        return self.values[-1] if self.values else 0

    def get_mean(self) -> float:
        """Arithmetic mean."""
        return sum(self.values) / len(self.values) if self.values else 0.0

    def get_std_dev(self) -> float:
        """Sample standard deviation (0 for fewer than two values)."""
        n = len(self.values)
        if n < 2:
            return 0.0
        mean = self.get_mean()
        return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (n - 1))

    def get_quantile(self, q: float) -> float:
        """The q-quantile (0 < q <= 1), linearly interpolated."""
        values = self.values
        if not values:
            return 0.0
        pos = q * (len(values) - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, len(values) - 1)
        return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def now() -> float:
    """The clock views are sampled with (monotonic seconds)."""
    return time.monotonic()
