"""The JobManager's copy of every metric in the cluster (Flink's ``MetricStore``).

The :class:`~headwater.runtime.metrics.fetcher.MetricFetcher` fills it from dump rows
(``[scope, ids, name, value]``); the REST handlers read it. Values are strings, keyed
like Flink keys them:

* ``jobmanager.metrics["Status.JVM.CPU.Load"]``
* ``taskmanagers[tm_id].metrics["Status.JVM.Threads.Count"]``
* ``jobs[job_id].metrics["uptime"]``
* ``jobs[job_id].tasks[vertex_id].metrics["0.numRecordsIn"]`` and, for operators,
  ``"0.Source__lines.numRecordsOut"``
* ``jobs[job_id].tasks[vertex_id].subtasks[0].metrics["numRecordsIn"]`` and
  ``"Source__lines.numRecordsOut"``

Metrics of tasks that ended keep their last values (as in Flink).
"""

from __future__ import annotations

import dataclasses

from headwater.runtime.metrics.groups import Scope


@dataclasses.dataclass
class ComponentMetricStore:
    """Metrics of one component: id -> value string."""

    metrics: dict[str, str] = dataclasses.field(default_factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        """One value, or ``default``."""
        return self.metrics.get(name, default)


@dataclasses.dataclass
class TaskMetricStore(ComponentMetricStore):
    """A job vertex: metrics of all subtasks, prefixed by the subtask index."""

    subtasks: dict[int, ComponentMetricStore] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class JobMetricStore(ComponentMetricStore):
    """A job: its own metrics and its vertices'."""

    tasks: dict[str, TaskMetricStore] = dataclasses.field(default_factory=dict)


class MetricStore:
    """Every metric the fetcher has seen, by component."""

    def __init__(self) -> None:
        self.jobmanager = ComponentMetricStore()
        self.taskmanagers: dict[str, ComponentMetricStore] = {}
        self.jobs: dict[str, JobMetricStore] = {}
        #: Live accumulators of running attempts: attempt id -> name -> wire (base64).
        self.accumulators: dict[str, dict[str, str]] = {}

    def add(self, row: list, taskmanager_id: str | None = None) -> None:
        """Add one dump row; TaskManager rows need the id of the TaskManager that sent
        them."""
        scope, ids, name, value = row
        if scope == Scope.JOBMANAGER:
            self.jobmanager.metrics[name] = value
        elif scope == Scope.TASKMANAGER:
            if taskmanager_id is not None:
                self.taskmanagers.setdefault(taskmanager_id,
                                             ComponentMetricStore()).metrics[name] = value
        elif scope == Scope.JOB:
            self.job(ids[0]).metrics[name] = value
        elif scope == Scope.TASK:
            self.put_task_metric(ids[0], ids[1], int(ids[2]), name, value)
        elif scope == Scope.OPERATOR:
            self.put_task_metric(ids[0], ids[1], int(ids[2]), f"{ids[3]}.{name}", value)

    def put_task_metric(self, job_id: str, vertex_id: str, subtask: int, name: str,
                        value: str) -> None:
        """Set a metric of a subtask (operator metrics: ``"<operator>.<name>"``)."""
        task = self.job(job_id).tasks.setdefault(vertex_id, TaskMetricStore())
        task.metrics[f"{subtask}.{name}"] = value
        task.subtasks.setdefault(subtask, ComponentMetricStore()).metrics[name] = value

    def job(self, job_id: str) -> JobMetricStore:
        """The job's store (created when missing)."""
        store = self.jobs.get(job_id)
        if store is None:
            store = self.jobs[job_id] = JobMetricStore()
        return store

    def get_job(self, job_id: str) -> JobMetricStore | None:
        """The job's store, None if nothing was seen for it."""
        return self.jobs.get(job_id)

    def get_task(self, job_id: str, vertex_id: str) -> TaskMetricStore | None:
        """A vertex's store, or None."""
        job = self.jobs.get(job_id)
        return job.tasks.get(vertex_id) if job else None

    def get_subtask(self, job_id: str, vertex_id: str,
                    subtask: int) -> ComponentMetricStore | None:
        """A subtask's store, or None."""
        task = self.get_task(job_id, vertex_id)
        return task.subtasks.get(subtask) if task else None

    def retain_taskmanagers(self, ids) -> None:
        """Forget TaskManagers that are gone."""
        keep = set(ids)
        for tm in [t for t in self.taskmanagers if t not in keep]:
            del self.taskmanagers[tm]

    def retain_jobs(self, ids) -> None:
        """Forget jobs the JobManager no longer knows."""
        keep = set(ids)
        for job in [j for j in self.jobs if j not in keep]:
            del self.jobs[job]
