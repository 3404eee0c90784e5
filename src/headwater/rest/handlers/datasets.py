"""Cluster data sets: ``/datasets`` (Flink's ClusterDataSet handlers).

A cluster data set is a stream result that a BATCH job kept on the TaskManagers
(``DataStream.cache()``) so that later jobs read it instead of computing it again. The
list shows each with ``isComplete`` (false once a TaskManager holding part of it was
lost); deleting one releases its partitions on every TaskManager, as an asynchronous
operation whose status ``/datasets/delete/:triggerid`` reports.
"""

from __future__ import annotations

from typing import Any

from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.rest.handlers.savepoints import operations


async def list_datasets(ctx: HandlerContext) -> dict[str, Any]:
    """GET /datasets: the cluster's data sets."""
    return {"dataSets": [{"id": d.dataset_id, "isComplete": d.complete}
                         for d in ctx.cluster.datasets()]}


async def delete_dataset(ctx: HandlerContext) -> dict[str, str]:
    """DELETE /datasets/:datasetid: release a data set (202 with a trigger id; 404 for an
    unknown id)."""
    dataset_id = ctx.path["datasetid"]
    if all(d.dataset_id != dataset_id for d in ctx.cluster.datasets()):
        raise RestError(404, f"Cluster data set {dataset_id} does not exist.")

    async def release() -> None:
        try:
            await ctx.cluster.release_dataset(dataset_id)
        except KeyError:  # released meanwhile by another request
            pass

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
