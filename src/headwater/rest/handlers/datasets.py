"""Cluster data sets: ``/datasets`` (Flink's ClusterDataSet handlers).

Flink lists here the intermediate results that batch jobs persisted on TaskManagers for
later jobs. headwater keeps no persisted intermediate results: every result partition
lives only as long as its producing task, so the list is truthfully empty. Deleting a
data set is, as in Flink's ResourceManager for an unknown id, a no-op that completes.
"""

from __future__ import annotations

from typing import Any

from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.rest.handlers.savepoints import operations


async def list_datasets(ctx: HandlerContext) -> dict[str, Any]:
    """GET /datasets: the cluster's persisted data sets (none in headwater)."""
    return {"dataSets": []}


async def delete_dataset(ctx: HandlerContext) -> dict[str, str]:
    """DELETE /datasets/:datasetid: release a data set (202 with a trigger id)."""

    async def release() -> None:
        return None  # nothing is persisted, so there is nothing to release

    return {"request-id": operations(ctx).trigger(("datasets",), release)}


async def delete_status(ctx: HandlerContext) -> dict[str, Any]:
    """GET /datasets/delete/:triggerid: status of a delete."""
    trigger_id = ctx.path["triggerid"]
    ops = operations(ctx)
    op = ops.get(("datasets",), trigger_id)
    if op is None:
        raise RestError(404, f"Operation not found under key: OperationKey"
                             f"{{triggerId={trigger_id}}}")
    return ops.status_body(op, lambda _: {})
