"""The one :class:`~headwater.rest.gateway.RestfulGateway`: the Dispatcher, its
MetricFetcher and the cluster's directories, as the REST handlers see them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.config import Configuration
from headwater.graph.job_graph import JobGraph
from headwater.rest.gateway import JobMasterGateway, default_upload_dir
from headwater.runtime.jobmanager.cluster_datasets import ClusterDataSet
from headwater.runtime.jobmanager.dispatcher import Dispatcher
from headwater.runtime.jobmanager.events import ClusterEvents
from headwater.runtime.jobmanager.execution_graph import ExecutionGraph
from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo
from headwater.runtime.metrics.fetcher import MetricFetcher
from headwater.runtime.rpc.messages import Request


class DispatcherGateway:
    """Serves REST from a Dispatcher plus what the composition root knows beside it."""

    def __init__(self, dispatcher: Dispatcher, metric_fetcher: MetricFetcher | None,
                 workdir: Path | None, log_dir: Path | None) -> None:
        self.dispatcher = dispatcher
        self._metric_fetcher = metric_fetcher
        self._workdir = workdir
        self._log_dir = log_dir

    @property
    def configuration(self) -> Configuration:
        """The JobManager's configuration."""
        return self.dispatcher.configuration

    @property
    def started_at(self) -> int:
        """ms since epoch when the JobManager started."""
        return self.dispatcher.started_at

    @property
    def workdir(self) -> Path | None:
        """The cluster's working directory."""
        return self._workdir

    @property
    def log_dir(self) -> Path | None:
        """The JobManager's log directory."""
        return self._log_dir

    @property
    def upload_dir(self) -> Path:
        """Where uploaded jars are stored."""
        return default_upload_dir(self.configuration, self._workdir)

    @property
    def metric_fetcher(self) -> MetricFetcher | None:
        """The MetricFetcher serving metrics and live accumulators."""
        return self._metric_fetcher

    def execution_graph(self, job_id: str) -> ExecutionGraph | None:
        """The job's graph (running or archived), or None if unknown."""
        return self.dispatcher.execution_graph(job_id)

    def execution_graphs(self) -> list[ExecutionGraph]:
        """All known jobs, running and archived."""
        return self.dispatcher.execution_graphs()

    def job_master(self, job_id: str) -> JobMasterGateway | None:
        """The job's JobMaster (running or archived)."""
        return self.dispatcher.job_master(job_id)

    def task_managers(self) -> list[TaskManagerInfo]:
        """Registered TaskManagers."""
        return self.dispatcher.task_managers()

    @property
    def events(self) -> ClusterEvents:
        """The Dispatcher's events."""
        return self.dispatcher.events

    async def submit_job(self, job_graph: JobGraph) -> None:
        """Accept a job."""
        await self.dispatcher.submit_job(job_graph)

    async def cancel_job(self, job_id: str) -> None:
        """Cancel a job."""
        await self.dispatcher.cancel_job(job_id)

    async def shutdown_cluster(self) -> None:
        """Shut the cluster down."""
        await self.dispatcher.shutdown_cluster()

    async def dispose_savepoint(self, path: str) -> None:
        """Delete a savepoint."""
        await self.dispatcher.dispose_savepoint(path)

    def datasets(self) -> list[ClusterDataSet]:
        """The cluster data sets (cached stream results), complete or not."""
        return self.dispatcher.datasets.all()

    async def release_dataset(self, dataset_id: str) -> None:
        """Delete a cluster data set everywhere (KeyError if unknown)."""
        self.dispatcher.release_dataset(dataset_id)

    async def request_task_manager(self, resource_id: str, request: Request,
                                   timeout: float) -> Any:
        """Ask a TaskManager (log files, thread dump...)."""
        return await self.dispatcher.request_task_manager(resource_id, request, timeout)
