"""Job endpoints: listing, details, plan, config, exceptions, results, submit and cancel.

Field by field these follow Flink 1.12's handlers (``JobIdsWithStatusOverview``,
``JobsOverviewHandler``/``JobDetails``, ``JobDetailsHandler``, ``JobPlanHandler``,
``JobConfigHandler``, ``JobExceptionsHandler``, ``JobExecutionResultHandler``,
``JobSubmitHandler``, ``JobCancellationHandler``).
"""

from __future__ import annotations

import asyncio
import base64
import pickle
import re
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader

from headwater.clock import now_ms
from headwater.config import is_batch
from headwater.graph.serialization import deserialize_job_graph
from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.rest.handlers.common import (
    UNASSIGNED,
    aggregate_state,
    aggregate_times,
    decode_json_object,
    execution_state_map,
    io_metrics_info,
    job,
    state_counts,
)
from headwater.runtime.jobmanager.exceptions import JobAlreadyTerminated, JobNotFound
from headwater.runtime.jobmanager.execution_graph import (
    ExecutionGraph,
    ExecutionState,
    FailureInfo,
    JobStatus,
)

#: Flink's JobExceptionsHandler.MAX_NUMBER_EXCEPTION_TO_REPORT.
MAX_EXCEPTIONS = 20

_APPLICATION_STATUS = {
    JobStatus.FINISHED: "SUCCEEDED",
    JobStatus.CANCELED: "CANCELED",
    JobStatus.FAILED: "FAILED",
}

#: ExecutionConfigInfo defaults for keys the submitted graph does not set.
_EXECUTION_CONFIG_DEFAULTS: dict[str, Any] = {
    "execution-mode": "PIPELINED",
    "restart-strategy": "Cluster level default restart strategy",
    "job-parallelism": -1,
    "object-reuse-mode": False,
    "user-config": {},
}


# -- listings ---------------------------------------------------------------------------


async def list_jobs(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs: every job's id and status."""
    return {"jobs": [{"id": g.job_id, "status": g.state.value}
                     for g in ctx.cluster.execution_graphs()]}


def job_overview(graph: ExecutionGraph, now: int | None = None) -> dict[str, Any]:
    """Flink's ``JobDetails`` (one entry of /jobs/overview)."""
    now = now if now is not None else now_ms()
    start = graph.start_time
    end = graph.end_time
    counts = {s: 0 for s in ExecutionState}
    last_modified = 0
    total = 0
    for _, _, ex in graph.all_executions():
        counts[ex.state] += 1
        total += 1
        last_modified = max(last_modified, ex.timestamp(ex.state))
    tasks = {s.value.lower(): n for s, n in counts.items()}
    tasks["total"] = total
    return {
        "jid": graph.job_id,
        "name": graph.name,
        "state": graph.state.value,
        "start-time": start,
        "end-time": end,
        "duration": (end if end >= 0 else now) - start,
        "last-modification": max(last_modified, end),
        "tasks": tasks,
    }


async def jobs_overview(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/overview: a summary of every job."""
    now = now_ms()
    return {"jobs": [job_overview(g, now) for g in ctx.cluster.execution_graphs()]}


# -- one job ----------------------------------------------------------------------------


def job_type(ctx: HandlerContext, graph: ExecutionGraph) -> str:
    """BATCH or STREAMING, decided as the JobMaster does (the job's
    ``execution.runtime-mode`` over the cluster's)."""
    config = ctx.cluster.configuration.with_overrides(graph.job_graph.configuration)
    return "BATCH" if is_batch(config) else "STREAMING"


async def job_details(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid: Flink's ``JobDetailsInfo``, plus Flink 1.20's ``job-type``
    (FLIP-441: BATCH or STREAMING; the dashboard leaves out what BATCH jobs lack)."""
    graph = job(ctx)
    now = now_ms()
    start = graph.start_time
    end = graph.end_time
    vertices = []
    vertex_states = {s: 0 for s in ExecutionState}
    for jv in graph.vertices:
        counts = state_counts(jv.subtasks)
        state = aggregate_state(counts, jv.parallelism)
        vertex_states[state] += 1
        v_start, v_end, v_duration = aggregate_times(jv.subtasks, now)
        vertices.append({
            "id": jv.vertex_id,
            "name": jv.name,
            "parallelism": jv.parallelism,
            "status": state.value,
            "start-time": v_start,
            "end-time": v_end,
            "duration": v_duration,
            "tasks": execution_state_map(counts),
            "metrics": io_metrics_info(sv.current for sv in jv.subtasks),
        })
    return {
        "jid": graph.job_id,
        "name": graph.name,
        "isStoppable": False,
        "job-type": job_type(ctx, graph),
        "state": graph.state.value,
        "start-time": start,
        "end-time": end,
        "duration": (end if end > 0 else now) - start,
        "now": now,
        "timestamps": {s.value: graph.timestamp(s) for s in JobStatus},
        "vertices": vertices,
        "status-counts": execution_state_map(vertex_states),
        "plan": graph.job_graph.plan(),
    }


async def job_plan(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/plan: the dataflow plan."""
    return {"plan": job(ctx).job_graph.plan()}


async def job_config(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/config: the job's execution configuration."""
    graph = job(ctx)
    config = {**_EXECUTION_CONFIG_DEFAULTS, **graph.job_graph.execution_config}
    return {"jid": graph.job_id, "name": graph.name, "execution-config": config}


async def job_exceptions(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/exceptions: the root exception (the latest failure that failed or
    restarted the job) and every task failure of the job's life, newest first, so that
    failures before a restart stay visible."""
    graph = job(ctx)
    limit = ctx.first("maxExceptions", MAX_EXCEPTIONS)
    root = graph.failure
    task_failures = [f for f in reversed(graph.failure_history) if f.task_name]
    exceptions = [{
        "exception": f.exception,
        "task": f.task_name,
        "location": f.location or UNASSIGNED,
        "timestamp": f.timestamp,
    } for f in task_failures[:limit]]
    history = list(reversed(graph.failure_history))
    return {
        "root-exception": root.exception if root else None,
        "timestamp": root.timestamp if root else None,
        "all-exceptions": exceptions,
        "truncated": len(task_failures) > limit,
        # Flink 1.13+: every failure of the job's life, newest first.
        "exceptionHistory": {
            "entries": [{
                "exceptionName": _exception_class(f),
                "stacktrace": f.exception,
                "timestamp": f.timestamp,
                "taskName": f.task_name,
                "location": f.location,
                "concurrentExceptions": [],
            } for f in history[:limit]],
            "truncated": len(history) > limit,
        },
    }


async def job_status(ctx: HandlerContext) -> dict[str, str]:
    """GET /jobs/:jobid/status (Flink 1.15): ``{"status": "RUNNING"}``."""
    return {"status": job(ctx).state.value}


def _exception_class(failure: FailureInfo) -> str:
    """The exception's class name, read from the last line of its traceback text."""
    for line in reversed(failure.exception.strip().splitlines()):
        m = re.match(r"([A-Za-z_][\w.]*)(?::|$)", line.strip())
        if m:
            return m.group(1)
    return "Exception"


def _serialized_value(value: Any) -> str:
    """An accumulator result as Flink ships it: base64 of the serialized value."""
    if isinstance(value, str):
        return value  # the JobMaster already stores the base64 text
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return base64.b64encode(pickle.dumps(value, protocol=5)).decode("ascii")


async def execution_result(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/execution-result: IN_PROGRESS, or the final ``JobResult``."""
    job_id = ctx.path["jobid"]
    graph = ctx.cluster.execution_graph(job_id)
    if graph is None:
        raise RestError(404, f"Could not find Flink job ({job_id})")
    if not graph.state.is_globally_terminal:
        return {"status": {"id": "IN_PROGRESS"}}
    result: dict[str, Any] = {
        "id": graph.job_id,
        "application-status": _APPLICATION_STATUS.get(graph.state, "UNKNOWN"),
        "accumulator-results": {name: _serialized_value(v)
                                for name, v in graph.accumulator_results.items()},
        "net-runtime": graph.timestamp(graph.state) - graph.start_time,
    }
    if graph.state == JobStatus.FAILED and graph.failure is not None:
        result["failure-cause"] = {
            "class": _exception_class(graph.failure),
            "stack-trace": graph.failure.exception,
            "serialized-throwable": base64.b64encode(
                pickle.dumps(graph.failure.exception, protocol=5)).decode("ascii"),
        }
    return {"status": {"id": "COMPLETED"}, "job-execution-result": result}


# -- cancel -----------------------------------------------------------------------------


async def cancel_job(ctx: HandlerContext) -> dict[str, Any]:
    """PATCH /jobs/:jobid?mode=cancel: cancel the job (202 once the cancel is issued)."""
    if not ctx.cluster.configuration.get_bool("web.cancel.enable"):
        raise RestError(405, "Job cancellation is disabled (web.cancel.enable: false).",
                        headers={"Allow": "GET"})
    mode = ctx.first("mode", "cancel")
    if mode == "stop":
        raise RestError(308, 'The termination mode "stop" has been removed. For an '
                             'ungraceful shutdown, please use "cancel" instead. For a graceful '
                             'shutdown, please use "jobs/:jobId/stop" instead.')
    try:
        await ctx.cluster.cancel_job(ctx.path["jobid"])
    except (JobNotFound, JobAlreadyTerminated) as exc:
        # Flink 1.12 answers the same for archived (terminated) jobs: there is no
        # JobMaster left to cancel.
        raise RestError(404, "Job could not be found.") from exc
    except TimeoutError as exc:
        raise RestError(408, "Job cancellation timed out.") from exc
    return {}


# -- submit -----------------------------------------------------------------------------


async def _read_multipart(ctx: HandlerContext, limit: int) -> tuple[bytes | None,
                                                                     dict[str, bytes]]:
    """The ``request`` field and the uploaded files (by file name), all in memory."""
    reader = await ctx.request.multipart()
    request_json: bytes | None = None
    files: dict[str, bytes] = {}
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise RestError(400, "Nested multipart bodies are not supported.")
        data = bytearray()
        while chunk := await part.read_chunk(1 << 16):
            total += len(chunk)
            if total > limit:
                raise _too_large(limit)
            data += chunk
        if part.filename:
            if part.filename in files:
                raise RestError(400, f"The file {part.filename} was uploaded more than once.")
            files[part.filename] = bytes(data)
        elif part.name == "request":
            request_json = bytes(data)
    return request_json, files


def _too_large(limit: int) -> RestError:
    return RestError(413, f"Request entity too large: the limit is {limit} bytes "
                          "(rest.server.max-content-length).")


def _parse_submit_request(raw: bytes | None) -> tuple[str, list[str], list[str]]:
    """(jobGraphFileName, jar file names, artifact file names) of a JobSubmitRequestBody."""
    if raw is None:
        raise RestError(400, "Request did not match expected format JobSubmitRequestBody: "
                             "the 'request' field is missing.")
    body = decode_json_object(raw, "JobSubmitRequestBody")
    graph_file = body.get("jobGraphFileName")
    if graph_file is None:
        raise RestError(400, "The jobGraphFileName field must not be omitted or be null.")
    jars = body.get("jobJarFileNames") or []
    artifacts = body.get("jobArtifactFileNames") or []
    if (not isinstance(graph_file, str) or not isinstance(jars, list)
            or not all(isinstance(j, str) for j in jars) or not isinstance(artifacts, list)
            or not all(isinstance(a, dict) and isinstance(a.get("fileName"), str)
                       for a in artifacts)):
        raise RestError(400, "Request did not match expected format JobSubmitRequestBody: "
                             "jobGraphFileName must be a string, jobJarFileNames a list of "
                             "strings, jobArtifactFileNames a list of {entryName, fileName}.")
    return graph_file, jars, [a["fileName"] for a in artifacts]


async def _save_job_files(ctx: HandlerContext, job_id: str, files: dict[str, bytes],
                          jars: list[str], artifacts: list[str]) -> list[Path]:
    """Keep a submission's jars and artifacts in ``<workdir>/job-files/<job id>/`` under
    server-chosen names (see headwater.artifacts.job_files); 400 for an invalid jar."""
    from headwater.artifacts.inspection import InvalidArtifact
    from headwater.artifacts.job_files import save_job_files
    workdir = ctx.cluster.workdir
    base = (workdir if workdir is not None else ctx.cluster.upload_dir.parent) / "job-files"
    try:
        return await asyncio.to_thread(save_job_files, base, job_id, files, jars, artifacts)
    except InvalidArtifact as exc:
        raise RestError(400, f"Invalid jar or artifact file: {exc}") from exc
    except FileExistsError as exc:
        raise RestError(400, f"Job has already been submitted: {job_id}") from exc


async def submit_job(ctx: HandlerContext) -> dict[str, Any]:
    """POST /jobs: a multipart upload of the serialized JobGraph (kept in memory) plus
    optional jars and distributed-cache artifacts (validated, stored by server-chosen
    names). ``web.job-submission.enable: false`` refuses it (403): a cluster that runs
    only the jobs its operator started."""
    if not ctx.cluster.configuration.get_bool("web.job-submission.enable"):
        raise RestError(403, "Job submission is disabled on this cluster "
                             "(web.job-submission.enable: false).")
    limit = int(ctx.cluster.configuration["rest.server.max-content-length"])
    request = ctx.request
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    if request.content_type.startswith("multipart/"):
        try:
            raw, files = await _read_multipart(ctx, limit)
        except ValueError as exc:  # aiohttp's word for a malformed multipart body
            raise RestError(400, f"Malformed multipart request: {exc}") from exc
    elif request.content_type == "application/json":
        raw, files = await request.read(), {}
    else:
        raise RestError(400, "Request did not match expected format JobSubmitRequestBody: "
                             "expected a multipart/form-data upload.")
    graph_file, jars, artifacts = _parse_submit_request(raw)
    for kind, names in (("JobGraph", [graph_file]), ("Jar", jars), ("Artifact", artifacts)):
        for name in names:
            if name not in files:
                raise RestError(400, f"{kind} file {name} could not be found on the server.")
    try:
        job_graph = deserialize_job_graph(files[graph_file])
    except ValueError as exc:
        raise RestError(400, f"Failed to deserialize JobGraph: {exc}") from exc
    stored = []
    if jars or artifacts:
        stored = await _save_job_files(ctx, job_graph.job_id, files, jars, artifacts)
    try:
        await ctx.cluster.submit_job(job_graph)
    except (ValueError, RuntimeError) as exc:
        for path in stored:  # the job was not accepted: keep none of its files
            path.unlink(missing_ok=True)
        status = 400 if isinstance(exc, ValueError) else 500
        raise RestError(status, f"Job submission failed: {exc}") from exc
    return {"jobUrl": f"/jobs/{job_graph.job_id}"}
