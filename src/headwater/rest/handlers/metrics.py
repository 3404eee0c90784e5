"""Metric endpoints, back-pressure and watermarks, answered from the MetricStore.

They follow Flink 1.12's ``AbstractMetricsHandler`` (a bare GET lists the metric ids
``[{"id"}]``, ``get=a,b`` answers ``[{"id", "value"}]`` with values as strings),
``AbstractAggregatingMetricsHandler`` (``get`` plus ``agg=min,max,sum,avg`` over the
selected jobs, TaskManagers or subtasks: ``[{"id", "min", "max", "sum", "avg"}]``),
``JobVertexBackPressureHandler`` and ``JobVertexWatermarksHandler``. Every handler first
asks the fetcher for fresh figures (at most one fetch per update interval).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from headwater.rest.context import HandlerContext
from headwater.rest.handlers.common import vertex
from headwater.runtime.metrics.store import ComponentMetricStore, MetricStore

#: Flink 1.12's back-pressure levels: ratio <= 0.10 ok, <= 0.5 low, above high.
LOW_THRESHOLD = 0.10
HIGH_THRESHOLD = 0.5


async def _store(ctx: HandlerContext) -> MetricStore | None:
    fetcher = ctx.cluster.metric_fetcher
    if fetcher is None:
        return None
    await fetcher.update()
    return fetcher.store


def _requested(ctx: HandlerContext) -> list[str]:
    return list(dict.fromkeys(ctx.query.get("get", [])))


def _answer(ctx: HandlerContext, component: ComponentMetricStore | None) -> list[dict[str, Any]]:
    """List or values of one component's metrics (Flink's AbstractMetricsHandler)."""
    if component is None:
        return []
    requested = _requested(ctx)
    if not requested:
        return [{"id": name} for name in component.metrics]
    return [{"id": name, "value": component.metrics[name]}
            for name in requested if name in component.metrics]


def _aggregate(ctx: HandlerContext, components: Iterable[ComponentMetricStore]) -> list[dict[str, Any]]:
    """Flink's AbstractAggregatingMetricsHandler over ``components``."""
    components = list(components)
    requested = _requested(ctx)
    if not requested:
        names: dict[str, None] = {}
        for c in components:
            names.update(dict.fromkeys(c.metrics))
        return [{"id": name} for name in names]
    modes = list(dict.fromkeys(ctx.query.get("agg", []))) or ["min", "max", "avg", "sum"]
    out = []
    for name in requested:
        try:
            values = [float(c.metrics[name]) for c in components if name in c.metrics]
        except ValueError:  # not numeric: Flink leaves it out
            continue
        if not values:
            return []  # Flink answers an empty list as soon as one metric has no values
        figures = {"min": min(values), "max": max(values), "sum": float(sum(values)),
                   "avg": sum(values) / len(values)}
        out.append({"id": name, **{mode: figures[mode] for mode in modes}})
    return out


# -- single components ---------------------------------------------------------------------


async def jobmanager_metrics(ctx: HandlerContext) -> list[dict[str, Any]]:
    """GET /jobmanager/metrics."""
    store = await _store(ctx)
    return _answer(ctx, store.jobmanager if store else None)


async def taskmanager_metrics(ctx: HandlerContext) -> list[dict[str, Any]]:
    """GET /taskmanagers/:taskmanagerid/metrics."""
    store = await _store(ctx)
    return _answer(ctx, store.taskmanagers.get(ctx.path["taskmanagerid"]) if store else None)


async def job_metrics(ctx: HandlerContext) -> list[dict[str, Any]]:
    """GET /jobs/:jobid/metrics."""
    store = await _store(ctx)
    return _answer(ctx, store.get_job(ctx.path["jobid"]) if store else None)


async def vertex_metrics(ctx: HandlerContext) -> list[dict[str, Any]]:
    """GET /jobs/:jobid/vertices/:vertexid/metrics (ids ``<subtask>.<metric>``)."""
    store = await _store(ctx)
    return _answer(ctx, store.get_task(ctx.path["jobid"], ctx.path["vertexid"])
                   if store else None)


async def subtask_metrics(ctx: HandlerContext) -> list[dict[str, Any]]:
    """GET /jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/metrics."""
    store = await _store(ctx)
    return _answer(ctx, store.get_subtask(ctx.path["jobid"], ctx.path["vertexid"],
                                          ctx.path["subtaskindex"]) if store else None)


# -- aggregations ----------------------------------------------------------------------------


async def aggregated_job_metrics(ctx: HandlerContext) -> list[dict[str, Any]]:
    """GET /jobs/metrics (``jobs`` selects jobs; default all)."""
    store = await _store(ctx)
    if store is None:
        return []
    selected = ctx.query.get("jobs")
    if not selected:
        return _aggregate(ctx, store.jobs.values())
    return _aggregate(ctx, [store.jobs[j] for j in dict.fromkeys(selected) if j in store.jobs])


async def aggregated_taskmanager_metrics(ctx: HandlerContext) -> list[dict[str, Any]]:
    """GET /taskmanagers/metrics (``taskmanagers`` selects TaskManagers; default all)."""
    store = await _store(ctx)
    if store is None:
        return []
    selected = ctx.query.get("taskmanagers")
    if not selected:
        return _aggregate(ctx, store.taskmanagers.values())
    return _aggregate(ctx, [store.taskmanagers[t] for t in dict.fromkeys(selected)
                            if t in store.taskmanagers])


async def aggregated_subtask_metrics(ctx: HandlerContext) -> list[dict[str, Any]]:
    """GET /jobs/:jobid/vertices/:vertexid/subtasks/metrics (``subtasks`` takes ranges
    like ``1,3,5-9``; default all)."""
    store = await _store(ctx)
    task = store.get_task(ctx.path["jobid"], ctx.path["vertexid"]) if store else None
    if task is None:
        return []
    ranges = ctx.query.get("subtasks")
    if not ranges:
        return _aggregate(ctx, task.subtasks.values())
    # Clip each range to the subtasks that exist before expanding it: the query may name
    # billions of indexes, the vertex has a handful.
    existing = range(0, max(task.subtasks, default=-1) + 1)
    indexes = sorted({i for r in ranges for i in existing[max(r.start, 0):max(r.stop, 0)]})
    return _aggregate(ctx, [task.subtasks[i] for i in indexes if i in task.subtasks])


# -- back-pressure and watermarks ------------------------------------------------------------


def backpressure_level(ratio: float) -> str:
    """Flink's level of a back-pressure ratio."""
    if ratio <= LOW_THRESHOLD:
        return "ok"
    if ratio <= HIGH_THRESHOLD:
        return "low"
    return "high"


async def vertex_backpressure(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/vertices/:vertexid/backpressure: per subtask the fraction of the
    last seconds it spent blocked on a full output channel (``backPressuredTimeMsPerSecond``
    / 1000); ``{"status": "deprecated"}`` until the first figures exist."""
    graph, jv = vertex(ctx)
    store = await _store(ctx)
    task = store.get_task(graph.job_id, jv.vertex_id) if store else None
    subtasks: list[dict[str, Any]] = []
    ratios: list[float] = []
    for sv in jv.subtasks:
        metrics = task.subtasks.get(sv.subtask_index) if task else None
        value = metrics.get("backPressuredTimeMsPerSecond") if metrics else None
        if value is None:
            continue
        ratio = round(min(1.0, max(0.0, float(value) / 1000.0)), 3)
        ratios.append(ratio)
        subtasks.append({"subtask": sv.subtask_index, "backpressure-level":
                         backpressure_level(ratio), "ratio": ratio})
    if not subtasks:
        return {"status": "deprecated"}
    worst = max(ratios)
    fetcher = ctx.cluster.metric_fetcher
    return {"status": "ok", "backpressure-level": backpressure_level(worst),
            "end-timestamp": fetcher.last_update_ms if fetcher is not None else 0,
            "subtasks": subtasks}


async def vertex_watermarks(ctx: HandlerContext) -> list[dict[str, Any]]:
    """GET /jobs/:jobid/vertices/:vertexid/watermarks: ``<subtask>.currentInputWatermark``
    of every subtask that reports one."""
    graph, jv = vertex(ctx)
    store = await _store(ctx)
    task = store.get_task(graph.job_id, jv.vertex_id) if store else None
    if task is None:
        return []
    out = []
    for sv in jv.subtasks:
        name = f"{sv.subtask_index}.currentInputWatermark"
        value = task.metrics.get(name)
        if value is not None:
            out.append({"id": name, "value": value})
    return out
