"""TaskManager endpoints: ``/taskmanagers`` and ``/taskmanagers/:taskmanagerid``.

A TaskManager is a Python process, not a JVM, so Flink's memory figures are mapped onto
what the process really measures (psutil and the ``gc`` module, reported with every
heartbeat in ``TaskManagerInfo.process``):

=============================  ==========================================================
Flink field                    headwater value
=============================  ==========================================================
``id``                         the TaskManager's resource id
``path``                       its RPC address
``timeSinceLastHeartbeat``     JobManager clock (ms since epoch) at the last heartbeat
                               — Flink reports the timestamp too, despite the name
``jmxPort``                    -1 (no JMX)
``hardware``                   the TaskManager's psutil readings at registration
``totalResource`` /            zeros, like a Flink TaskManager without fine-grained
``freeResource``               resource management
``metrics.heapUsed``           resident set size (``rss``)
``metrics.heapCommitted``      resident set size (``rss``)
``metrics.heapMax``            the host's physical memory (``memory_total``)
``metrics.garbageCollectors``  one entry per ``gc`` generation: collections, ms spent
``metrics.nonHeap*``,          0: a Python process has no separate non-heap, direct or
``direct*``, ``mapped*``       mapped JVM pools
``metrics.memorySegments*``,   0: records travel in pickled batches over bounded
``nettyShuffle*``              channels, not in pooled memory segments
``memoryConfiguration``        ``managedMemory`` from the hardware description; every
                               other JVM memory pool is 0 (none is configured)
=============================  ==========================================================
"""

from __future__ import annotations

from typing import Any

from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo

_HARDWARE_KEYS = ("cpuCores", "physicalMemory", "freeMemory", "managedMemory")

_MEMORY_POOLS = ("frameworkHeap", "taskHeap", "frameworkOffHeap", "taskOffHeap",
                 "networkMemory", "managedMemory", "jvmMetaspace", "jvmOverhead",
                 "totalFlinkMemory", "totalProcessMemory")


def _resource_profile() -> dict[str, Any]:
    return {"cpuCores": 0.0, "taskHeapMemory": 0, "taskOffHeapMemory": 0,
            "managedMemory": 0, "networkMemory": 0, "extendedResources": {}}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def taskmanager_info(tm: TaskManagerInfo) -> dict[str, Any]:
    """Flink's ``TaskManagerInfo`` (one entry of /taskmanagers)."""
    hardware = {k: _int(tm.hardware.get(k, 0)) for k in _HARDWARE_KEYS}
    memory = dict.fromkeys(_MEMORY_POOLS, 0)
    memory["managedMemory"] = hardware["managedMemory"]
    return {
        "id": tm.resource_id,
        "path": tm.rpc_address,
        "dataPort": tm.data_port,
        "jmxPort": -1,
        "timeSinceLastHeartbeat": tm.last_heartbeat,
        "slotsNumber": tm.slots_total,
        "freeSlots": tm.slots_free,
        "totalResource": _resource_profile(),
        "freeResource": _resource_profile(),
        "hardware": hardware,
        "memoryConfiguration": memory,
        # headwater's: where a TaskManager on a Ray cluster runs (not in Flink's answer).
        **({"rayNodeId": tm.attributes["rayNodeId"]} if "rayNodeId" in tm.attributes else {}),
    }


def taskmanager_metrics(tm: TaskManagerInfo) -> dict[str, Any]:
    """Flink's ``TaskManagerMetricsInfo`` from the process figures (see module doc)."""
    process = tm.process
    rss = _int(process.get("rss", 0))
    collectors = [
        {"name": str(g.get("name", "")), "count": _int(g.get("count", 0)),
         "time": _int(g.get("time", 0))}
        for g in process.get("gc") or [] if isinstance(g, dict)
    ]
    return {
        "heapUsed": rss,
        "heapCommitted": rss,
        "heapMax": _int(process.get("memory_total", 0)),
        "nonHeapUsed": 0,
        "nonHeapCommitted": 0,
        "nonHeapMax": 0,
        "directCount": 0,
        "directUsed": 0,
        "directMax": 0,
        "mappedCount": 0,
        "mappedUsed": 0,
        "mappedMax": 0,
        "memorySegmentsAvailable": 0,
        "memorySegmentsTotal": 0,
        "nettyShuffleMemorySegmentsAvailable": 0,
        "nettyShuffleMemorySegmentsUsed": 0,
        "nettyShuffleMemorySegmentsTotal": 0,
        "nettyShuffleMemoryAvailable": 0,
        "nettyShuffleMemoryUsed": 0,
        "nettyShuffleMemoryTotal": 0,
        "garbageCollectors": collectors,
    }


async def list_taskmanagers(ctx: HandlerContext) -> dict[str, Any]:
    """GET /taskmanagers: every registered TaskManager."""
    return {"taskmanagers": [taskmanager_info(tm) for tm in ctx.cluster.task_managers()]}


async def taskmanager_details(ctx: HandlerContext) -> dict[str, Any]:
    """GET /taskmanagers/:taskmanagerid: one TaskManager with its process metrics."""
    tm_id = ctx.path["taskmanagerid"]
    for tm in ctx.cluster.task_managers():
        if tm.resource_id == tm_id:
            return {**taskmanager_info(tm), "metrics": taskmanager_metrics(tm)}
    raise RestError(404, f"Could not find TaskExecutor {tm_id}.")
