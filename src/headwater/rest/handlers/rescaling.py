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
from headwater.rest.handlers.savepoints import job_operation, job_operation_status


async def trigger_rescaling(ctx: HandlerContext) -> dict[str, str]:
    """PATCH /jobs/:jobid/rescaling?parallelism=N: rescale the job to N."""
    parallelism = ctx.first("parallelism")
    return job_operation(ctx, "rescaling", lambda master: master.rescale(parallelism))


async def rescaling_status(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/rescaling/:triggerid: IN_PROGRESS, done (``{}``) or the failure."""
    return job_operation_status(ctx, "rescaling", lambda _: {})
