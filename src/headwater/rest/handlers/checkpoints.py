"""Checkpoint endpoints: statistics, configuration, one checkpoint, one task's subtasks.

Field by field these follow Flink 1.12's ``CheckpointingStatisticsHandler``,
``CheckpointConfigHandler``, ``CheckpointStatisticDetailsHandler`` and
``TaskCheckpointStatisticDetailsHandler``, read from the JobMaster's
:class:`~headwater.runtime.checkpoint.stats.CheckpointStatsTracker` and
:class:`~headwater.runtime.checkpoint.config.CheckpointCoordinatorConfiguration`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.rest.gateway import JobMasterGateway
from headwater.rest.handlers.common import job, read_json_object
from headwater.rest.handlers.savepoints import job_operation, job_operation_status
from headwater.runtime.checkpoint.config import CheckpointCoordinatorConfiguration
from headwater.runtime.checkpoint.stats import (
    CheckpointStats,
    CheckpointStatsTracker,
    CheckpointStatus,
    SubtaskCheckpointStats,
)

#: Flink's interval of a job whose periodic checkpoints are disabled (Long.MAX_VALUE).
PERIODIC_CHECKPOINTS_DISABLED = 2**63 - 1

#: Flink 1.12's state backend class names for ``state.backend``.
_STATE_BACKENDS = {
    "jobmanager": "MemoryStateBackend",
    "memory": "MemoryStateBackend",
    "filesystem": "FsStateBackend",
    "fs": "FsStateBackend",
    "rocksdb": "RocksDBStateBackend",
}

_CLASS = {
    CheckpointStatus.COMPLETED: "completed",
    CheckpointStatus.FAILED: "failed",
    CheckpointStatus.IN_PROGRESS: "in_progress",
}


# -- lookups ----------------------------------------------------------------------------


def job_master(ctx: HandlerContext) -> JobMasterGateway | None:
    """The JobMaster of the job named by ``jobid`` (404 if the job is unknown; None while
    the job has no JobMaster)."""
    graph = job(ctx)
    return ctx.cluster.job_master(graph.job_id)


def _tracker(ctx: HandlerContext, message: str) -> CheckpointStatsTracker:
    master = job_master(ctx)
    tracker = master.checkpoint_stats if master is not None else None
    if tracker is None:
        raise RestError(404, message)
    return tracker


def _checkpoint(ctx: HandlerContext) -> CheckpointStats:
    job_id = ctx.path["jobid"]
    tracker = _tracker(ctx, f"Checkpointing was not enabled for job {job_id}.")
    checkpoint_id = ctx.path["checkpointid"]
    stats = tracker.get(checkpoint_id)
    if stats is None:
        raise RestError(404, "Could not find checkpointing statistics for checkpoint "
                             f"{checkpoint_id}.")
    return stats


# -- message pieces ---------------------------------------------------------------------


def min_max_avg(values: Iterable[int]) -> dict[str, int]:
    """Flink's ``MinMaxAvgStatistics``: all 0 without values, the average rounded down."""
    items = list(values)
    if not items:
        return {"min": 0, "max": 0, "avg": 0}
    return {"min": min(items), "max": max(items), "avg": sum(items) // len(items)}


def _subtasks(stats: CheckpointStats, vertex_id: str) -> list[SubtaskCheckpointStats]:
    return list(stats.subtasks.get(vertex_id, {}).values())


def _task_statistics(stats: CheckpointStats, vertex_id: str) -> dict[str, Any]:
    """Flink's ``TaskCheckpointStatistics`` of one vertex in one checkpoint."""
    acked = _subtasks(stats, vertex_id)
    latest = max((s.ack_timestamp for s in acked), default=-1)
    return {
        "id": stats.checkpoint_id,
        "status": stats.status.value,
        "latest_ack_timestamp": latest,
        "state_size": sum(s.state_size for s in acked),
        "end_to_end_duration": (max(0, latest - stats.trigger_timestamp)
                                if latest >= 0 else -1),
        "alignment_buffered": sum(s.alignment_buffered for s in acked),
        "processed_data": sum(s.processed_data for s in acked),
        "persisted_data": sum(s.persisted_data for s in acked),
        "num_subtasks": stats.vertex_parallelism[vertex_id],
        "num_acknowledged_subtasks": len(acked),
    }


def checkpoint_statistics(stats: CheckpointStats, with_tasks: bool) -> dict[str, Any]:
    """Flink's ``CheckpointStatistics`` (completed, failed or in_progress); ``tasks`` is
    filled only for the details endpoint, as in Flink."""
    body: dict[str, Any] = {
        "@class": _CLASS[stats.status],
        "id": stats.checkpoint_id,
        "status": stats.status.value,
        "is_savepoint": stats.is_savepoint,
        "trigger_timestamp": stats.trigger_timestamp,
        "latest_ack_timestamp": stats.latest_ack_timestamp,
        "state_size": stats.state_size,
        "end_to_end_duration": stats.end_to_end_duration,
        "alignment_buffered": stats.alignment_buffered,
        "processed_data": stats.processed_data,
        "persisted_data": stats.persisted_data,
        "num_subtasks": stats.num_subtasks,
        "num_acknowledged_subtasks": stats.num_acknowledged_subtasks,
        "checkpoint_type": stats.checkpoint_type.value,
        "tasks": ({v: _task_statistics(stats, v) for v in stats.vertex_parallelism}
                  if with_tasks else {}),
    }
    if stats.status == CheckpointStatus.COMPLETED:
        body["external_path"] = stats.external_path
        body["discarded"] = stats.discarded
    elif stats.status == CheckpointStatus.FAILED:
        body["failure_timestamp"] = stats.failure_timestamp
        body["failure_message"] = stats.failure_message
    return body


# -- handlers ---------------------------------------------------------------------------


async def checkpointing_statistics(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/checkpoints: counts, summary, latest checkpoints and history."""
    tracker = _tracker(ctx, "Checkpointing has not been enabled.")
    restored = tracker.latest_restored
    latest_failed = tracker.latest_failed
    return {
        "counts": {
            "restored": tracker.restored,
            "total": tracker.total,
            "in_progress": tracker.in_progress,
            "completed": tracker.completed,
            "failed": tracker.failed,
        },
        "summary": {figure: summary.to_json()
                    for figure, summary in tracker.summaries.items()},
        "latest": {
            "completed": _optional(tracker.latest_completed),
            "savepoint": _optional(tracker.latest_savepoint),
            "failed": _optional(latest_failed),
            "restored": None if restored is None else {
                "id": restored.checkpoint_id,
                "restore_timestamp": restored.restore_timestamp,
                "is_savepoint": restored.is_savepoint,
                "external_path": restored.external_path,
            },
        },
        "history": [checkpoint_statistics(c, with_tasks=False) for c in tracker.history],
    }


def _optional(stats: CheckpointStats | None) -> dict[str, Any] | None:
    return None if stats is None else checkpoint_statistics(stats, with_tasks=False)


def checkpoint_config_info(config: CheckpointCoordinatorConfiguration) -> dict[str, Any]:
    """Flink's ``CheckpointConfigInfo`` of a job's checkpoint configuration."""
    backend = config.state_backend
    if backend == "hashmap":  # heap state: Flink 1.12 names it by where snapshots go
        backend_name = "FsStateBackend" if config.checkpoints_dir else "MemoryStateBackend"
    else:
        backend_name = _STATE_BACKENDS.get(backend, backend)
    return {
        "mode": "exactly_once" if config.mode == "EXACTLY_ONCE" else "at_least_once",
        "interval": config.interval if config.enabled else PERIODIC_CHECKPOINTS_DISABLED,
        "timeout": config.timeout,
        "min_pause": config.min_pause,
        "max_concurrent": config.max_concurrent,
        "externalization": {
            "enabled": config.externalized is not None,
            "delete_on_cancellation": config.externalized != "RETAIN_ON_CANCELLATION",
        },
        "state_backend": backend_name,
        "unaligned_checkpoints": False,  # headwater aligns barriers
        "tolerable_failed_checkpoints": config.tolerable_failed_checkpoints,
    }


async def checkpoint_config(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/checkpoints/config: the job's checkpoint configuration.

    A job whose periodic checkpoints are disabled still has a coordinator (savepoints
    work), so Flink answers its configuration with the interval Long.MAX_VALUE.
    """
    master = job_master(ctx)
    config = master.checkpoint_config if master is not None else None
    if config is None:
        raise RestError(404, f"Checkpointing is not enabled for this job "
                             f"({ctx.path['jobid']}).")
    return checkpoint_config_info(config)


async def checkpoint_details(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/checkpoints/details/:checkpointid: one checkpoint, per task."""
    return checkpoint_statistics(_checkpoint(ctx), with_tasks=True)


async def task_checkpoint_details(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid: one task's
    figures with a summary and every subtask (``pending`` until it acknowledged)."""
    stats = _checkpoint(ctx)
    vertex_id = ctx.path["vertexid"]
    if vertex_id not in stats.vertex_parallelism:
        raise RestError(404, f"There is no checkpoint statistics for task {vertex_id}.")
    trigger = stats.trigger_timestamp
    acked = stats.subtasks.get(vertex_id, {})
    subtasks: list[dict[str, Any]] = []
    for index in range(stats.vertex_parallelism[vertex_id]):
        sub = acked.get(index)
        if sub is None:
            subtasks.append({"@class": "pending", "index": index, "status": "pending"})
            continue
        subtasks.append({
            "@class": "completed",
            "index": index,
            "status": "completed",
            "ack_timestamp": sub.ack_timestamp,
            "end_to_end_duration": max(0, sub.ack_timestamp - trigger),
            "state_size": sub.state_size,
            "checkpoint": {"sync": sub.sync_duration, "async": sub.async_duration},
            "alignment": {
                "buffered": sub.alignment_buffered,
                "processed": sub.processed_data,
                "persisted": sub.persisted_data,
                "duration": sub.alignment_duration,
            },
            "start_delay": sub.start_delay,
        })
    values = list(acked.values())
    ack_times = min_max_avg(s.ack_timestamp for s in values)
    end_to_end = ({k: max(0, v - trigger) for k, v in ack_times.items()} if values
                  else ack_times)
    body = _task_statistics(stats, vertex_id)
    body["summary"] = {
        "state_size": min_max_avg(s.state_size for s in values),
        "end_to_end_duration": end_to_end,
        "checkpoint_duration": {
            "sync": min_max_avg(s.sync_duration for s in values),
            "async": min_max_avg(s.async_duration for s in values),
        },
        "alignment": {
            "buffered": min_max_avg(s.alignment_buffered for s in values),
            "processed": min_max_avg(s.processed_data for s in values),
            "persisted": min_max_avg(s.persisted_data for s in values),
            "duration": min_max_avg(s.alignment_duration for s in values),
        },
        "start_delay": min_max_avg(s.start_delay for s in values),
    }
    body["subtasks"] = subtasks
    return body


# -- manual checkpoints (Flink 1.17) ------------------------------------------------------


async def trigger_checkpoint(ctx: HandlerContext) -> dict[str, str]:
    """POST /jobs/:jobid/checkpoints: take a checkpoint now (Flink 1.17's
    ``CheckpointTriggerHandler``); ``{"request-id": ...}``."""
    await read_json_object(ctx, "CheckpointTriggerRequestBody")
    return job_operation(ctx, "checkpoint", lambda master: master.trigger_checkpoint())


async def checkpoint_trigger_status(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/checkpoints/:triggerid: IN_PROGRESS, the checkpoint's id
    (``{"checkpointId": n}``) or the failure."""
    return job_operation_status(ctx, "checkpoint",
                                lambda checkpoint_id: {"checkpointId": checkpoint_id})
