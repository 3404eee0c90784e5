"""Lookups and message pieces shared by the job, vertex and subtask handlers.

The lookups raise the 404s Flink raises (``Job <id> not found``, ``JobVertex <id> not
found``, ``Invalid subtask index for vertex <id>``); the builders produce the JSON pieces
several endpoints share (``IOMetricsInfo``, ``SubtaskExecutionAttemptDetailsInfo``, state
maps with every state); :func:`read_json_object` and :func:`decode_json_object` read the
JSON object bodies of POST endpoints with Flink's 400 messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from headwater.clock import now_ms
from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.runtime.jobmanager.execution_graph import (
    Execution,
    ExecutionGraph,
    ExecutionJobVertex,
    ExecutionState,
    ExecutionVertex,
)

#: Where Flink writes a location or TaskManager id of an attempt without a slot.
UNASSIGNED = "(unassigned)"

#: Execution states whose task runs and reports IO metrics through heartbeats.
_REPORTING = (ExecutionState.RUNNING, ExecutionState.CANCELING)


def decode_json_object(raw: bytes, kind: str) -> dict[str, Any]:
    """``raw`` decoded as a JSON object; 400 ``Request did not match expected format
    <kind>: ...`` when it is not JSON or not an object."""
    try:
        body = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise RestError(400, f"Request did not match expected format {kind}: {exc}") from exc
    except RecursionError as exc:
        raise RestError(400, f"Request did not match expected format {kind}: the JSON is "
                             "nested too deeply.") from exc
    if not isinstance(body, dict):
        raise RestError(400, f"Request did not match expected format {kind}: expected a "
                             "JSON object.")
    return body


def absolute_location(value: str, field: str) -> str:
    """A savepoint or checkpoint location as given, if it is an absolute path or a URL
    (``file:/...``, ``s3://...``); 400 otherwise: a relative path would be resolved
    against the JobManager's working directory, which no client knows."""
    no_nul(value, field)
    scheme, sep, rest = value.partition(":")
    is_url = bool(sep) and len(scheme) > 1 and scheme.isidentifier() and rest.startswith("/")
    if not (is_url or value.startswith("/")):
        raise RestError(400, f"{field} must be an absolute path or a URL, got {value!r}.")
    return value


def no_nul(value: str, field: str) -> str:
    """``value`` unless it holds a NUL character (400): no OS path or argument can."""
    if "\x00" in value:
        raise RestError(400, f"{field} must not contain NUL characters.")
    return value


async def read_json_object(ctx: HandlerContext, kind: str) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``, as in Flink); see
    :func:`decode_json_object`."""
    raw = await ctx.request.read()
    if not raw.strip():
        return {}
    return decode_json_object(raw, kind)


def job(ctx: HandlerContext) -> ExecutionGraph:
    """The job named by the ``jobid`` path parameter, 404 if unknown."""
    job_id = ctx.path["jobid"]
    graph = ctx.cluster.execution_graph(job_id)
    if graph is None:
        raise RestError(404, f"Job {job_id} not found")
    return graph


def vertex(ctx: HandlerContext) -> tuple[ExecutionGraph, ExecutionJobVertex]:
    """The job and vertex named by ``jobid`` and ``vertexid``, 404 if unknown."""
    graph = job(ctx)
    vertex_id = ctx.path["vertexid"]
    jv = graph.vertex(vertex_id)
    if jv is None:
        raise RestError(404, f"JobVertex {vertex_id} not found")
    return graph, jv


def subtask(ctx: HandlerContext) -> tuple[ExecutionJobVertex, ExecutionVertex]:
    """The vertex and subtask named by the path, 404 if unknown."""
    _, jv = vertex(ctx)
    index = ctx.path["subtaskindex"]
    if index >= len(jv.subtasks):
        raise RestError(404, f"Invalid subtask index for vertex {jv.vertex_id}")
    return jv, jv.subtasks[index]


def task_name_with_subtask(jv: ExecutionJobVertex, index: int) -> str:
    """Flink's ``getTaskNameWithSubtaskIndex``: ``name (i/parallelism)``."""
    return f"{jv.name} ({index + 1}/{jv.parallelism})"


def execution_state_map(values: dict[ExecutionState, int]) -> dict[str, int]:
    """Every ExecutionState name with its value (0 when absent)."""
    return {s.value: int(values.get(s, 0)) for s in ExecutionState}


def io_metrics_info(executions: Iterable[Execution]) -> dict[str, Any]:
    """Flink's ``IOMetricsInfo`` summed over attempts, like ``MutableIOMetrics``.

    A finished attempt contributes its final figures; a running one its latest heartbeat
    figures. An attempt that is not running yet has no figures at all, which makes the
    ``*-complete`` flags false (Flink: the metric store has no entry for it).
    """
    read_bytes = write_bytes = read_records = write_records = 0
    complete = True
    for ex in executions:
        if ex.state.is_terminal or ex.state in _REPORTING:
            read_bytes += ex.io.read_bytes
            write_bytes += ex.io.write_bytes
            read_records += ex.io.read_records
            write_records += ex.io.write_records
        else:
            complete = False
    return {
        "read-bytes": read_bytes,
        "read-bytes-complete": complete,
        "write-bytes": write_bytes,
        "write-bytes-complete": complete,
        "read-records": read_records,
        "read-records-complete": complete,
        "write-records": write_records,
        "write-records-complete": complete,
    }


def attempt_details(ex: Execution, subtask_index: int, now: int | None = None) -> dict[str, Any]:
    """Flink's ``SubtaskExecutionAttemptDetailsInfo`` of one attempt."""
    now = now if now is not None else now_ms()
    start = ex.timestamp(ExecutionState.DEPLOYING) or -1
    end = ex.timestamp(ex.state) if ex.state.is_terminal else -1
    duration = ((end if end > 0 else now) - start) if start > 0 else -1
    location = ex.location
    return {
        "subtask": subtask_index,
        "status": ex.state.value,
        "attempt": ex.attempt_number,
        "host": location.host if location else UNASSIGNED,
        "start-time": start,
        "start_time": start,
        "end-time": end,
        "duration": duration,
        "metrics": io_metrics_info([ex]),
        "taskmanager-id": location.resource_id if location else UNASSIGNED,
    }


def aggregate_times(subtasks: Iterable[ExecutionVertex],
                    now: int) -> tuple[int, int, int]:
    """(start-time, end-time, duration) of a group of subtasks, as Flink's
    ``JobDetailsHandler`` and ``JobVertexTaskManagersHandler`` compute them."""
    start = None
    end = 0
    all_terminal = True
    for sv in subtasks:
        ex = sv.current
        deployed = ex.timestamp(ExecutionState.DEPLOYING)
        if deployed > 0:
            start = deployed if start is None else min(start, deployed)
        all_terminal = all_terminal and ex.state.is_terminal
        end = max(end, ex.timestamp(ex.state))
    if start is None:
        return -1, -1, -1
    if all_terminal:
        return start, end, end - start
    return start, -1, now - start


def aggregate_state(counts: dict[ExecutionState, int], parallelism: int) -> ExecutionState:
    """Flink 1.12's ``ExecutionJobVertex.getAggregateJobVertexState`` over state counts
    (SCHEDULED and DEPLOYING subtasks count as CREATED)."""
    if counts.get(ExecutionState.FAILED):
        return ExecutionState.FAILED
    if counts.get(ExecutionState.CANCELING):
        return ExecutionState.CANCELING
    if counts.get(ExecutionState.CANCELED):
        return ExecutionState.CANCELED
    if counts.get(ExecutionState.RUNNING):
        return ExecutionState.RUNNING
    finished = counts.get(ExecutionState.FINISHED, 0)
    if finished:
        return ExecutionState.FINISHED if finished == parallelism else ExecutionState.RUNNING
    return ExecutionState.CREATED  # Flink: "all else collapses under created"


def state_counts(subtasks: Iterable[ExecutionVertex]) -> dict[ExecutionState, int]:
    """How many of ``subtasks`` are in each state (every state present)."""
    counts = {s: 0 for s in ExecutionState}
    for sv in subtasks:
        counts[sv.current.state] += 1
    return counts
