"""The metric types, groups, registry dump and store, without a cluster."""

from __future__ import annotations

import pytest

from headwater.runtime.metrics.groups import Scope, filter_name
from headwater.runtime.metrics.registry import MetricRegistry, java_string
from headwater.runtime.metrics.store import MetricStore
from headwater.runtime.metrics.types import Counter, Histogram, Meter, TimeRateGauge


def test_meter_rate_over_the_covered_window():
    meter = Meter(time_span_in_seconds=60)
    meter.update(0.0)
    meter.mark_event(500)
    meter.update(2.0)
    assert meter.get_rate() == 250.0
    assert meter.get_count() == 500


def test_time_rate_gauge_is_ms_per_second_and_clamped():
    total = [0]
    gauge = TimeRateGauge(lambda: total[0], span=5.0)
    gauge.update(0.0)
    total[0] = 500_000_000  # 0.5 s blocked within 1 s
    gauge.update(1.0)
    assert gauge.get_value() == 500
    total[0] = 10**12
    gauge.update(2.0)
    assert gauge.get_value() == 1000


def test_histogram_statistics():
    h = Histogram(window_size=3)
    for v in (10, 1, 2, 3):
        h.update(v)
    stats = h.get_statistics()
    assert h.get_count() == 4
    assert (stats.get_min(), stats.get_max(), stats.get_mean()) == (1, 3, 2.0)
    assert stats.get_quantile(0.5) == 2
    assert stats.get_std_dev() == pytest.approx(1.0)


def test_java_strings():
    assert [java_string(v) for v in (True, 0.0, 0.5, 1e-5, 12345678.0, float("nan"), 7)] == [
        "true", "0.0", "0.5", "1.0E-5", "1.2345678E7", "NaN", "7"]


def test_groups_dump_with_flink_names_and_close():
    registry = MetricRegistry()
    op = registry.group(Scope.OPERATOR, ("j", "v", 0, filter_name("Source: lines")))
    op.add_group("my group").counter("hits", Counter()).inc(3)
    op.histogram("lat").update(4)
    rows = registry.dump()
    assert [4, ["j", "v", 0, "Source__lines"], "my_group.hits", "3"] in rows
    assert any(r[2] == "lat_p99" for r in rows)
    op.close()
    assert registry.dump() == []


def test_disabled_registry_reports_nothing_but_metrics_work():
    registry = MetricRegistry(enabled=False)
    counter = registry.group(Scope.TASKMANAGER).counter("c")
    counter.inc()
    assert counter.get_count() == 1 and registry.dump() == []


def test_store_keys_like_flink():
    store = MetricStore()
    store.add([3, ["j", "v", 1], "numRecordsIn", "5"])
    store.add([4, ["j", "v", 1, "Map"], "numRecordsOut", "4"])
    store.add([1, [], "Status.JVM.Threads.Count", "9"], "tm-1")
    task = store.get_task("j", "v")
    assert task.metrics == {"1.numRecordsIn": "5", "1.Map.numRecordsOut": "4"}
    assert store.get_subtask("j", "v", 1).metrics == {"numRecordsIn": "5",
                                                     "Map.numRecordsOut": "4"}
    assert store.taskmanagers["tm-1"].metrics == {"Status.JVM.Threads.Count": "9"}
    store.retain_jobs([])
    assert store.get_task("j", "v") is None
