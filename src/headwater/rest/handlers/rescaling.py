"""Rescaling endpoints: change a running job's parallelism, and the operation's status.

Flink 1.12 answers these with 503 (rescaling was disabled by FLINK-12312); headwater
rescales for real (a savepoint, then a restart with the new parallelism that
redistributes key groups) and keeps the wire format of Flink's ``RescalingHandlers``:
``{"request-id": ...}``, then ``{"status": {"id": "COMPLETED"}, "operation": {}}`` or the
failure cause.
"""

from __future__ import annotations

from typing import Any

from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.rest.handlers.common import job, read_json_object
from headwater.rest.handlers.savepoints import job_operation, job_operation_status


async def trigger_rescaling(ctx: HandlerContext) -> dict[str, str]:
    """PATCH /jobs/:jobid/rescaling?parallelism=N: rescale the job to N."""
    parallelism = ctx.first("parallelism")
    return job_operation(ctx, "rescaling", lambda master: master.rescale(parallelism))


async def rescaling_status(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/rescaling/:triggerid: IN_PROGRESS, done (``{}``) or the failure."""
    return job_operation_status(ctx, "rescaling", lambda _: {})


# -- resource requirements (Flink 1.18) ---------------------------------------------------


async def resource_requirements(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/resource-requirements: per vertex ``{"parallelism": {"lowerBound",
    "upperBound"}}``. headwater runs each vertex at exactly its current parallelism (it
    never scales a running job down by itself), so both bounds are that parallelism."""
    graph = job(ctx)
    return {v.vertex_id: {"parallelism": {"lowerBound": v.parallelism,
                                          "upperBound": v.parallelism}}
            for v in graph.vertices}


async def set_resource_requirements(ctx: HandlerContext) -> dict[str, Any]:
    """PUT /jobs/:jobid/resource-requirements: rescale the job to the requested upper
    bounds (through the real rescaling: savepoint, restart with the new parallelism).
    headwater rescales a whole job to one parallelism, so every vertex must ask for the
    same upper bound (a lower bound is checked, not used: the job then runs at the upper
    bound)."""
    graph = job(ctx)
    body = await read_json_object(ctx, "JobResourceRequirementsBody")
    known = {v.vertex_id for v in graph.vertices}
    bounds = set()
    for vertex_id, requirement in body.items():
        if vertex_id not in known:
            raise RestError(400, f"Job {graph.job_id} has no vertex {vertex_id}.")
        try:
            upper = requirement["parallelism"]["upperBound"]
            lower = requirement["parallelism"].get("lowerBound", 1)
        except (TypeError, KeyError, AttributeError) as exc:
            raise RestError(400, "Each vertex needs {\"parallelism\": {\"lowerBound\": n, "
                                 "\"upperBound\": m}}.") from exc
        if (not isinstance(upper, int) or isinstance(upper, bool) or not 1 <= upper <= 32768
                or not isinstance(lower, int) or not 1 <= lower <= upper):
            raise RestError(400, f"Invalid parallelism bounds for vertex {vertex_id}.")
        bounds.add(upper)
    if len(bounds) != 1 or set(body) != known:
        raise RestError(400, "headwater rescales a job as a whole: give every vertex the "
                             "same upperBound.")
    parallelism = bounds.pop()
    if any(v.parallelism != parallelism for v in graph.vertices):
        job_operation(ctx, "rescaling", lambda master: master.rescale(parallelism))
    return {}
