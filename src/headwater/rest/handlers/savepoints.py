"""Savepoint endpoints: trigger, stop-with-savepoint, their status, and disposal.

As Flink 1.12's ``SavepointHandlers`` and ``SavepointDisposalHandlers``: a trigger is
accepted (with a trigger id) for any well-formed job id; an unknown or ended job makes the
operation fail with ``Could not find Flink job (<id>)``, reported by the status endpoint.
Savepoints and stop-with-savepoint share one family of trigger ids, so the status of
either is read at ``/jobs/:jobid/savepoints/:triggerid``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from headwater.rest.async_operations import OPERATIONS_KEY, AsyncOperations
from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.rest.gateway import JobMasterGateway
from headwater.rest.handlers.common import absolute_location, read_json_object
from headwater.runtime.jobmanager.exceptions import JobNotFound

#: Flink's CheckpointingOptions.SAVEPOINT_DIRECTORY.
SAVEPOINT_DIRECTORY = "state.savepoints.dir"


class FlinkJobNotFound(JobNotFound):
    """The job of an operation is unknown or no longer running (Flink's
    ``FlinkJobNotFoundException``)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Could not find Flink job ({job_id})")

    def __str__(self) -> str:
        return str(self.args[0])


# -- shared by the operation endpoints --------------------------------------------------


def operations(ctx: HandlerContext) -> AsyncOperations:
    """The REST app's registry of asynchronous operations."""
    return ctx.request.app[OPERATIONS_KEY]


async def request_body(ctx: HandlerContext, kind: str,
                       fields: dict[str, type]) -> dict[str, Any]:
    """The JSON object body (an empty body is ``{}``, as in Flink), with ``fields``
    type-checked (null allowed); 400 in Flink's words otherwise."""
    body = await read_json_object(ctx, kind)
    for name, kind_of in fields.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, kind_of)
                                  or (kind_of is not bool and isinstance(value, bool))):
            raise RestError(400, f"Request did not match expected format {kind}: field "
                                 f"{name} must be a {kind_of.__name__}.")
    return body


def running_job_master(ctx: HandlerContext, job_id: str) -> JobMasterGateway:
    """The JobMaster of a job that has not ended; raises FlinkJobNotFound (the operation
    fails) otherwise, as Flink's dispatcher does for jobs it no longer runs."""
    graph = ctx.cluster.execution_graph(job_id)
    master = ctx.cluster.job_master(job_id)
    if graph is None or master is None or graph.state.is_globally_terminal:
        raise FlinkJobNotFound(job_id)
    return master


def job_operation(ctx: HandlerContext, family: str,
                  work: Callable[[JobMasterGateway], Awaitable[Any]]) -> dict[str, str]:
    """Trigger ``work(job_master)`` for the job in the path; Flink's TriggerResponse."""
    job_id = ctx.path["jobid"]

    async def run() -> Any:
        return await work(running_job_master(ctx, job_id))

    return {"request-id": operations(ctx).trigger((family, job_id), run)}


def job_operation_status(ctx: HandlerContext, family: str,
                         on_success: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """The status of a job operation; 404 for a trigger id unknown under this job."""
    job_id, trigger_id = ctx.path["jobid"], ctx.path["triggerid"]
    ops = operations(ctx)
    op = ops.get((family, job_id), trigger_id)
    if op is None:
        raise RestError(404, "Operation not found under key: AsynchronousJobOperationKey"
                             f"{{triggerId={trigger_id}, jobId={job_id}}}")
    return ops.status_body(op, on_success)


def _savepoint_directory(ctx: HandlerContext, requested: str | None, field: str) -> str:
    if requested is not None:
        return absolute_location(requested, field)
    default = ctx.cluster.configuration.get(SAVEPOINT_DIRECTORY)
    if not default:
        raise RestError(400, f"Config key [{SAVEPOINT_DIRECTORY}] is not set. Property "
                             f"[{field}] must be provided.")
    return str(default)


# -- savepoints and stop ----------------------------------------------------------------


async def _savepoint_operation(
        ctx: HandlerContext, kind: str, directory_field: str, flag_field: str,
        start: Callable[[JobMasterGateway, str, bool], Awaitable[Any]]) -> dict[str, str]:
    """Read a body ``{directory_field: str, flag_field: bool}`` of type ``kind`` and trigger
    ``start(job_master, directory, flag)`` as a savepoint operation."""
    body = await request_body(ctx, kind, {directory_field: str, flag_field: bool})
    directory = _savepoint_directory(ctx, body.get(directory_field), directory_field)
    flag = bool(body.get(flag_field) or False)
    return job_operation(ctx, "savepoint", lambda master: start(master, directory, flag))


async def trigger_savepoint(ctx: HandlerContext) -> dict[str, str]:
    """POST /jobs/:jobid/savepoints: take a savepoint, optionally cancel the job."""
    return await _savepoint_operation(
        ctx, "SavepointTriggerRequestBody", "target-directory", "cancel-job",
        lambda master, directory, cancel_job: master.trigger_savepoint(directory, cancel_job))


async def stop_with_savepoint(ctx: HandlerContext) -> dict[str, str]:
    """POST /jobs/:jobid/stop: take a savepoint and finish the job."""
    return await _savepoint_operation(
        ctx, "StopWithSavepointRequestBody", "targetDirectory", "drain",
        lambda master, directory, drain: master.stop_with_savepoint(directory, drain))


async def savepoint_status(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/savepoints/:triggerid: IN_PROGRESS, the location or the failure."""
    return job_operation_status(ctx, "savepoint", lambda location: {"location": location})


# -- disposal ---------------------------------------------------------------------------


async def trigger_disposal(ctx: HandlerContext) -> dict[str, str]:
    """POST /savepoint-disposal: delete a savepoint in the background."""
    body = await request_body(ctx, "SavepointDisposalRequest", {"savepoint-path": str})
    path = body.get("savepoint-path")
    if path is None:
        raise RestError(400, "Field savepoint-path must not be omitted or be null.")
    path = absolute_location(path, "savepoint-path")
    cluster = ctx.cluster

    async def dispose() -> None:
        await cluster.dispose_savepoint(path)

    return {"request-id": operations(ctx).trigger(("disposal",), dispose)}


async def disposal_status(ctx: HandlerContext) -> dict[str, Any]:
    """GET /savepoint-disposal/:triggerid: IN_PROGRESS, done (``{}``) or the failure."""
    trigger_id = ctx.path["triggerid"]
    ops = operations(ctx)
    op = ops.get(("disposal",), trigger_id)
    if op is None:
        raise RestError(404, f"Operation not found under key: OperationKey"
                             f"{{triggerId={trigger_id}}}")
    return ops.status_body(op, lambda _: {})
