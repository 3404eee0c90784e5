"""The metric registry of one process: its scope groups, view sampling and the dump.

A JobManager and every TaskManager own one registry. Groups register their metrics
here; a background thread samples the views (meters, time rates) every second, and
:meth:`MetricRegistry.dump` turns every metric into ``[scope, ids, name, value]`` rows
with values as strings, the msgpack-able form of Flink's ``MetricDumpSerialization``::

    registry = MetricRegistry()
    tm = registry.group(Scope.TASKMANAGER)
    tm.gauge("Status.JVM.Threads.Count", lambda: 12)
    registry.dump()   # [[1, [], "Status.JVM.Threads.Count", "12"]]

A disabled registry (``metrics.system.enabled: false``) accepts registrations and
reports nothing; its groups still work for user code.
"""

from __future__ import annotations

import decimal
import logging
import math
import threading
from typing import Any

from headwater.runtime.metrics.groups import MetricGroup, Scope
from headwater.runtime.metrics.types import Counter, Gauge, Histogram, Meter, Metric, View, now

log = logging.getLogger(__name__)

#: Quantile suffixes of a histogram in the dump (Flink's MetricStore keys) plus count.
HISTOGRAM_QUANTILES = (("_median", 0.5), ("_p75", 0.75), ("_p90", 0.9), ("_p95", 0.95),
                       ("_p98", 0.98), ("_p99", 0.99), ("_p999", 0.999))


def java_string(value: Any) -> str:
    """A value as Java's ``String.valueOf`` writes it (``true``, ``0.5``, ``1.0E-5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value == 0 or 1e-3 <= abs(value) < 1e7:
            return repr(value)
        sign, digits, exponent = decimal.Decimal(repr(value)).as_tuple()
        text = "".join(map(str, digits)).rstrip("0") or "0"
        if not isinstance(exponent, int):  # "n", "N", "F": excluded by the checks above
            return str(value)
        exp = len(digits) - 1 + exponent
        return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{exp}"
    return str(value)


_process_registry: MetricRegistry | None = None


def process_registry() -> MetricRegistry | None:
    """The registry of this process (set by the TaskExecutor / JobManager), or None."""
    return _process_registry


def set_process_registry(registry: MetricRegistry | None) -> None:
    """Install the registry tasks of this process report to."""
    global _process_registry
    _process_registry = registry


class MetricRegistry:
    """Registered metrics of this process and the thread that samples their views."""

    def __init__(self, enabled: bool = True, view_interval: float = 1.0) -> None:
        self.enabled = enabled
        self.view_interval = view_interval
        self._lock = threading.Lock()
        #: (group, metric id) -> metric
        self._metrics: dict[tuple[MetricGroup, str], Metric] = {}
        self._views: set[View] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- groups -------------------------------------------------------------------------

    def group(self, scope: Scope, ids: tuple = (),
              variables: dict[str, str] | None = None) -> MetricGroup:
        """A new top-level group of ``scope`` owned by ``ids``."""
        return MetricGroup(self, scope, ids, (), variables)

    def register(self, group: MetricGroup, ident: str, metric: Metric) -> None:
        """Called by groups when a metric is added."""
        if not self.enabled:
            return
        with self._lock:
            self._metrics[(group, ident)] = metric
            if isinstance(metric, View):
                self._views.add(metric)

    def unregister(self, group: MetricGroup, ident: str, metric: Metric) -> None:
        """Called by groups when they close."""
        with self._lock:
            self._metrics.pop((group, ident), None)
            self._views.discard(metric)

    def __len__(self) -> int:
        return len(self._metrics)

    # -- views --------------------------------------------------------------------------

    def update_views(self, at: float | None = None) -> None:
        """Sample every view once."""
        at = now() if at is None else at
        with self._lock:
            views = list(self._views)
        for view in views:
            try:
                view.update(at)
            except Exception:  # noqa: BLE001 - a broken view must not stop the others
                log.debug("view update failed", exc_info=True)

    def start(self) -> None:
        """Start sampling views every ``view_interval`` seconds (no-op when disabled)."""
        if not self.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="metrics-view-updater")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.view_interval):
            self.update_views()

    def stop(self) -> None:
        """Stop the sampling thread."""
        self._stop.set()

    # -- the dump -----------------------------------------------------------------------

    def dump(self) -> list[list]:
        """Every metric as ``[scope, ids, name, value string]`` (histograms as several)."""
        with self._lock:
            items = list(self._metrics.items())
        rows: list[list] = []
        for (group, ident), metric in items:
            scope, ids = int(group.scope), list(group.ids)
            try:
                if isinstance(metric, Counter):
                    rows.append([scope, ids, ident, str(metric.get_count())])
                elif isinstance(metric, Meter):
                    rows.append([scope, ids, ident, java_string(float(metric.get_rate()))])
                elif isinstance(metric, Gauge):
                    value = metric.get_value()
                    if value is not None:
                        rows.append([scope, ids, ident, java_string(value)])
                elif isinstance(metric, Histogram):
                    stats = metric.get_statistics()
                    rows.append([scope, ids, ident + "_count", str(metric.get_count())])
                    for suffix, value in (("_min", stats.get_min()), ("_max", stats.get_max()),
                                          ("_mean", stats.get_mean()),
                                          ("_stddev", stats.get_std_dev())):
                        rows.append([scope, ids, ident + suffix, java_string(value)])
                    for suffix, q in HISTOGRAM_QUANTILES:
                        rows.append([scope, ids, ident + suffix,
                                     java_string(float(stats.get_quantile(q)))])
            except Exception:  # noqa: BLE001 - Flink skips a metric that fails to report
                log.debug("metric %s failed to report", ident, exc_info=True)
        return rows
