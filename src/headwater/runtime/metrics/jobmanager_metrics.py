"""Metrics the JobManager measures itself: the cluster's and each job's, Flink's names.

JobManager scope: ``numRegisteredTaskManagers``, ``numRunningJobs``, ``taskSlotsTotal``,
``taskSlotsAvailable`` and the process figures (``Status.JVM.*``).

Job scope, read from the job's ExecutionGraph as Flink's gauges read it: ``uptime``
(ms in RUNNING, -1 once the job ended), ``downtime``, ``restartingTime``,
``numRestarts``, ``fullRestarts``, and the checkpoint figures of Flink's
``CheckpointStatsTracker`` gauges, read from the job's
:class:`~headwater.runtime.checkpoint.stats.CheckpointStatsTracker` (its JobMaster's
``checkpoint_stats``). Without a tracker,
or before the first checkpoint, they are Flink's values for "no checkpoint yet": counts
0, sizes/durations/timestamps -1 and the path ``n/a``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headwater.clock import now_ms
from headwater.runtime.jobmanager.execution_graph import ExecutionGraph, JobStatus
from headwater.runtime.metrics.groups import MetricGroup, Scope
from headwater.runtime.metrics.registry import MetricRegistry
from headwater.runtime.metrics.system import register_process_metrics

#: Flink's NO_LONGER_RUNNING.
NO_LONGER_RUNNING = -1

#: Flink's checkpoint gauges with their values before any checkpoint.
NO_CHECKPOINT: dict[str, Any] = {
    "totalNumberOfCheckpoints": 0,
    "numberOfInProgressCheckpoints": 0,
    "numberOfCompletedCheckpoints": 0,
    "numberOfFailedCheckpoints": 0,
    "lastCheckpointRestoreTimestamp": -1,
    "lastCheckpointSize": -1,
    "lastCheckpointDuration": -1,
    "lastCheckpointExternalPath": "n/a",
    "lastCheckpointProcessedData": -1,
    "lastCheckpointPersistedData": -1,
}


def checkpoint_figures(tracker: Any) -> dict[str, Any]:
    """The checkpoint gauges' values from a CheckpointStatsTracker (None: no checkpoint)."""
    figures = dict(NO_CHECKPOINT)
    if tracker is None:
        return figures
    figures["totalNumberOfCheckpoints"] = tracker.total
    figures["numberOfInProgressCheckpoints"] = tracker.in_progress
    figures["numberOfCompletedCheckpoints"] = tracker.completed
    figures["numberOfFailedCheckpoints"] = tracker.failed
    restored = tracker.latest_restored
    if restored is not None:
        figures["lastCheckpointRestoreTimestamp"] = restored.restore_timestamp
    latest = tracker.latest_completed
    if latest is not None:
        figures["lastCheckpointSize"] = latest.state_size
        figures["lastCheckpointDuration"] = latest.end_to_end_duration
        figures["lastCheckpointExternalPath"] = latest.external_path
        figures["lastCheckpointProcessedData"] = latest.processed_data
        # Aligned checkpoints persist no in-flight data (Flink: 0).
        figures["lastCheckpointPersistedData"] = getattr(latest, "persisted_data", 0)
    return figures


def register_jobmanager_metrics(registry: MetricRegistry, dispatcher: Any) -> MetricGroup:
    """The JobManager's group with its cluster gauges and process figures."""
    group = registry.group(Scope.JOBMANAGER)
    rm = dispatcher.rm
    group.gauge("numRegisteredTaskManagers", lambda: len(rm.task_managers))
    group.gauge("numRunningJobs", lambda: sum(
        1 for g in dispatcher.execution_graphs() if not g.state.is_globally_terminal))
    group.gauge("taskSlotsTotal", lambda: sum(
        tm.slots_total for tm in rm.task_managers.values()))
    group.gauge("taskSlotsAvailable", lambda: sum(
        tm.slots_free for tm in rm.task_managers.values()))
    register_process_metrics(group)
    return group


def uptime(graph: ExecutionGraph, now: int | None = None) -> int:
    """Flink's UpTimeGauge."""
    if graph.state == JobStatus.RUNNING:
        return max((now or now_ms()) - graph.timestamp(JobStatus.RUNNING), 0)
    return NO_LONGER_RUNNING if graph.state.is_globally_terminal else 0


def downtime(graph: ExecutionGraph, now: int | None = None) -> int:
    """Flink's DownTimeGauge: how long a job that ran is not running now."""
    if graph.state == JobStatus.RUNNING:
        return 0
    if graph.state.is_globally_terminal:
        return NO_LONGER_RUNNING
    if graph.timestamp(JobStatus.RUNNING) <= 0:
        return 0
    since = max(graph.timestamp(JobStatus.FAILING), graph.timestamp(JobStatus.RESTARTING))
    return max((now or now_ms()) - since, 0) if since > 0 else 0


def restarting_time(graph: ExecutionGraph, now: int | None = None) -> int:
    """Flink's RestartTimeGauge: duration of the last restart (ongoing or done)."""
    restarting = graph.timestamp(JobStatus.RESTARTING)
    if restarting <= 0:
        return 0
    running = graph.timestamp(JobStatus.RUNNING)
    if running >= restarting:
        return running - restarting
    if graph.state.is_globally_terminal:
        return max(graph.timestamp(graph.state) - restarting, 0)
    return max((now or now_ms()) - restarting, 0)


def _checkpoint_gauge(tracker: Callable[[], Any], name: str):
    def read() -> Any:
        return checkpoint_figures(tracker())[name]
    return read


def register_job_metrics(registry: MetricRegistry, graph: ExecutionGraph,
                         tracker: Callable[[], Any] = lambda: None) -> MetricGroup:
    """A job's group with Flink's job gauges, read from ``graph`` and the checkpoint
    statistics ``tracker()`` returns (None: no checkpoint coordinator)."""
    group = registry.group(Scope.JOB, (graph.job_id,),
                           {"<job_id>": graph.job_id, "<job_name>": graph.name})
    group.gauge("uptime", lambda: uptime(graph))
    group.gauge("downtime", lambda: downtime(graph))
    group.gauge("restartingTime", lambda: restarting_time(graph))
    group.gauge("numRestarts", lambda: graph.num_restarts)
    group.gauge("fullRestarts", lambda: graph.num_restarts)
    for name in NO_CHECKPOINT:
        group.gauge(name, _checkpoint_gauge(tracker, name))
    return group
