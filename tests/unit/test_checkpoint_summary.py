"""Checkpoint summary statistics: running min/max/avg over all checkpoints in constant
memory, percentiles over a bounded window (Flink 1.14's StatsSummary)."""

from __future__ import annotations

from headwater.runtime.checkpoint.stats import StatsSummary


def test_percentiles_interpolate_as_flink_does():
    summary = StatsSummary()
    for value in range(1, 101):
        summary.add(value)
    figures = summary.to_json()
    assert (figures["min"], figures["max"], figures["avg"]) == (1, 100, 50)
    assert figures["p50"] == 50.5
    assert abs(figures["p90"] - 90.9) < 1e-9
    assert abs(figures["p99"] - 99.99) < 1e-9
    assert figures["p999"] == 100.0


def test_min_max_avg_cover_everything_while_memory_stays_bounded():
    summary = StatsSummary(window=10)
    for value in range(100_000):
        summary.add(value)
    assert (summary.min, summary.max, summary.avg, summary.count) == (0, 99_999, 49_999, 100_000)
    assert len(summary.latest) == 10
    assert summary.quantile(0.5) == 99_994.5  # over the latest ten only


def test_an_empty_summary_is_all_zeros():
    assert StatsSummary().to_json() == {"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0,
                                        "p95": 0.0, "p99": 0.0, "p999": 0.0}
