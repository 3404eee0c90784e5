"""Accumulator endpoints: per job, per vertex, per subtask and per attempt.

They follow Flink 1.12's ``JobAccumulatorsHandler``, ``JobVertexAccumulatorsHandler``,
``SubtasksAllAccumulatorsHandler`` and ``SubtaskExecutionAttemptAccumulatorsHandler``:
each accumulator as ``{"name", "type", "value"}`` strings, merged across subtasks where
the endpoint aggregates. A running attempt shows the values its TaskManager reported at
the last metric fetch; an ended attempt the values it reported when it ended.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.rest.handlers.common import UNASSIGNED, job, subtask, task_name_with_subtask, vertex
from headwater.runtime import accumulators as acc
from headwater.runtime.jobmanager.execution_graph import Execution, ExecutionGraph

log = logging.getLogger(__name__)


async def _live(ctx: HandlerContext) -> dict[str, dict[str, str]]:
    """Accumulators of running attempts from the latest fetch."""
    fetcher = ctx.cluster.metric_fetcher
    if fetcher is None:
        return {}
    await fetcher.update()
    return fetcher.store.accumulators


def _wire(ctx: HandlerContext, graph: ExecutionGraph, ex: Execution,
          live: dict[str, dict[str, str]]) -> dict[str, str]:
    """An attempt's accumulators on the wire: final when it ended, else live."""
    if not ex.attempt_id:
        return {}
    job_master = ctx.cluster.job_master(graph.job_id)
    final = job_master.task_accumulators(ex.attempt_id) if job_master is not None else None
    if final is not None and ex.state.is_terminal:
        return final
    return live.get(ex.attempt_id) or final or {}


def _merge(wires: Iterable[dict[str, str]]) -> dict[str, tuple[str, Any]]:
    """name -> (kind, final value) merged over attempts; undecodable or clashing
    accumulators are left out."""
    merged: dict[str, tuple[str, Any]] = {}
    broken: set[str] = set()
    for wire in wires:
        for name, blob in wire.items():
            if name in broken:
                continue
            try:
                kind, data = acc.decode_wire(blob)
                if name in merged:
                    mkind, mdata = merged[name]
                    if mkind != kind:
                        raise ValueError(f"kinds {mkind} and {kind}")
                    data = acc.merge(kind, mdata, data)
                merged[name] = (kind, data)
            except Exception as exc:  # noqa: BLE001 - one bad accumulator hides only itself
                log.warning("accumulator %r cannot be shown: %s", name, exc)
                broken.add(name)
                merged.pop(name, None)
    return {name: (kind, acc.final_value(kind, data)) for name, (kind, data) in merged.items()}


def _entries(merged: dict[str, tuple[str, Any]]) -> list[dict[str, str]]:
    return [{"name": name, "type": kind, "value": str(value)}
            for name, (kind, value) in merged.items()]


async def job_accumulators(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/accumulators (``includeSerializedValue=true`` adds the values as
    base64 pickles)."""
    graph = job(ctx)
    live = await _live(ctx)
    merged = _merge(_wire(ctx, graph, sv.current, live)
                    for v in graph.vertices for sv in v.subtasks)
    serialized = {}
    if ctx.first("includeSerializedValue", False):
        serialized = {name: acc.serialize_result(value) for name, (_, value) in merged.items()}
    return {"job-accumulators": [], "user-task-accumulators": _entries(merged),
            "serialized-user-task-accumulators": serialized}


async def vertex_accumulators(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/vertices/:vertexid/accumulators: merged over the subtasks."""
    graph, jv = vertex(ctx)
    live = await _live(ctx)
    merged = _merge(_wire(ctx, graph, sv.current, live) for sv in jv.subtasks)
    return {"id": jv.vertex_id, "user-accumulators": _entries(merged)}


async def subtasks_accumulators(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/vertices/:vertexid/subtasks/accumulators: every subtask's own."""
    graph, jv = vertex(ctx)
    live = await _live(ctx)
    subtasks = []
    for sv in jv.subtasks:
        ex = sv.current
        subtasks.append({
            "subtask": sv.subtask_index,
            "attempt": ex.attempt_number,
            "host": ex.location.host if ex.location else UNASSIGNED,
            "user-accumulators": _entries(_merge([_wire(ctx, graph, ex, live)])),
        })
    return {"id": jv.vertex_id, "parallelism": jv.parallelism, "subtasks": subtasks}


async def attempt_accumulators(ctx: HandlerContext) -> dict[str, Any]:
    """GET .../subtasks/:subtaskindex/attempts/:attempt/accumulators."""
    graph = job(ctx)
    jv, sv = subtask(ctx)
    number = ctx.path["attempt"]
    if number > sv.current.attempt_number:
        raise RestError(404, f"Invalid attempt num {number}")
    ex = sv.attempt(number)
    if ex is None:
        raise RestError(404, f"Attempt {number} not found in subtask "
                             f"{task_name_with_subtask(jv, sv.subtask_index)}")
    live = await _live(ctx)
    return {"subtask": sv.subtask_index, "attempt": ex.attempt_number, "id": ex.attempt_id,
            "user-accumulators": _entries(_merge([_wire(ctx, graph, ex, live)]))}
