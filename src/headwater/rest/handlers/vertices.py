"""Vertex and subtask endpoints: details, attempts, subtask times, per-TaskManager view.

They follow Flink 1.12's ``JobVertexDetailsHandler``, ``SubtaskCurrentAttemptDetailsHandler``,
``SubtaskExecutionAttemptDetailsHandler``, ``SubtasksTimesHandler`` and
``JobVertexTaskManagersHandler``.
"""

from __future__ import annotations

from typing import Any

from headwater.clock import now_ms
from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.rest.handlers.common import (
    UNASSIGNED,
    aggregate_state,
    aggregate_times,
    attempt_details,
    execution_state_map,
    io_metrics_info,
    state_counts,
    subtask,
    task_name_with_subtask,
    vertex,
)
from headwater.runtime.jobmanager.execution_graph import ExecutionState, ExecutionVertex


async def vertex_details(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/vertices/:vertexid: the vertex and its subtasks' current attempts."""
    _, jv = vertex(ctx)
    now = now_ms()
    return {
        "id": jv.vertex_id,
        "name": jv.name,
        "parallelism": jv.parallelism,
        "now": now,
        "subtasks": [attempt_details(sv.current, sv.subtask_index, now) for sv in jv.subtasks],
    }


async def subtask_current_attempt(ctx: HandlerContext) -> dict[str, Any]:
    """GET .../subtasks/:subtaskindex: the current (or latest) attempt."""
    _, sv = subtask(ctx)
    return attempt_details(sv.current, sv.subtask_index)


async def subtask_attempt(ctx: HandlerContext) -> dict[str, Any]:
    """GET .../subtasks/:subtaskindex/attempts/:attempt: the current or a prior attempt."""
    jv, sv = subtask(ctx)
    number = ctx.path["attempt"]
    current = sv.current.attempt_number
    if number > current:
        raise RestError(404, f"Invalid attempt num {number}")
    ex = sv.attempt(number)
    if ex is None:
        raise RestError(404, f"Attempt {number} not found in subtask "
                             f"{task_name_with_subtask(jv, sv.subtask_index)}")
    return attempt_details(ex, sv.subtask_index)


async def subtask_times(ctx: HandlerContext) -> dict[str, Any]:
    """GET .../subtasktimes: every subtask's state timestamps (current attempt)."""
    _, jv = vertex(ctx)
    now = now_ms()
    subtasks = []
    for sv in jv.subtasks:
        ex = sv.current
        scheduled = ex.timestamp(ExecutionState.SCHEDULED)
        start = scheduled if scheduled > 0 else -1
        end = ex.timestamp(ex.state) if ex.state.is_terminal else now
        subtasks.append({
            "subtask": sv.subtask_index,
            "host": ex.location.host if ex.location else UNASSIGNED,
            "duration": end - start if start >= 0 else -1,
            "timestamps": execution_state_map(ex.state_timestamps),
        })
    return {"id": jv.vertex_id, "name": jv.name, "now": now, "subtasks": subtasks}


async def vertex_taskmanagers(ctx: HandlerContext) -> dict[str, Any]:
    """GET .../taskmanagers: the vertex's subtasks grouped by the TaskManager running them."""
    _, jv = vertex(ctx)
    now = now_ms()
    groups: dict[tuple[str, str], list[ExecutionVertex]] = {}
    for sv in jv.subtasks:
        loc = sv.current.location
        key = ((f"{loc.host}:{loc.data_port}", loc.resource_id) if loc
               else (UNASSIGNED, UNASSIGNED))
        groups.setdefault(key, []).append(sv)
    taskmanagers = []
    for (host, tm_id), members in groups.items():
        counts = state_counts(members)
        start, end, duration = aggregate_times(members, now)
        taskmanagers.append({
            "host": host,
            "status": aggregate_state(counts, len(members)).value,
            "start-time": start,
            "end-time": end,
            "duration": duration,
            "metrics": io_metrics_info(sv.current for sv in members),
            "status-counts": execution_state_map(counts),
            "taskmanager-id": tm_id,
        })
    return {"id": jv.vertex_id, "name": jv.name, "now": now, "taskmanagers": taskmanagers}
