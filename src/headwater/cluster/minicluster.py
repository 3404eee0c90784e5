"""Executors behind ``env.execute()``: an embedded mini cluster, or a remote cluster.

``python my_job.py`` runs the job on a :class:`MiniCluster` started in-process (JobManager
on a background event loop, TaskManagers as subprocesses) and prints where its REST API
is. Under ``headwater run`` the environment variable ``HEADWATER_JOBMANAGER`` names a
running cluster and :class:`RemoteExecutor` submits through ``POST /jobs`` instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import threading
from typing import Any

import psutil

from headwater.cluster.runner import JobManagerRunner
from headwater.config import Configuration
from headwater.graph.job_graph import JobGraph
from headwater.graph.serialization import deserialize_job_graph, serialize_job_graph
from headwater.runtime import accumulators

#: Names a running cluster's REST address: execute() submits there.
JOBMANAGER_ENV = "HEADWATER_JOBMANAGER"
#: Set by ``headwater run -d``: submit and stop the program without waiting.
DETACHED_ENV = "HEADWATER_DETACHED"
#: Extra parallelism requested by ``headwater run -p``.
PARALLELISM_ENV = "HEADWATER_PARALLELISM"


class JobExecutionException(Exception):
    """The job did not finish successfully (Flink's JobExecutionException)."""

    def __init__(self, job_id: str, status: str, cause: str | None) -> None:
        self.job_id = job_id
        self.status = status
        self.cause = cause
        super().__init__(f"Job {job_id} ended {status}."
                         + (f"\nCaused by: {cause}" if cause else ""))


def _result(job_id: str, net_runtime: int, serialized: dict[str, str]):
    from headwater.api.execution import JobExecutionResult

    values = {name: accumulators.deserialize_result(blob) for name, blob in serialized.items()}
    return JobExecutionResult(job_id=job_id, net_runtime=net_runtime, accumulator_results=values)


class MiniCluster:
    """A whole cluster inside this process (plus TaskManager subprocesses)."""

    def __init__(self, configuration: Configuration | None = None, taskmanagers: int = 2,
                 workdir: str | None = None, inherit_stdout: bool = False) -> None:
        self.configuration = configuration or Configuration()
        self.taskmanagers = taskmanagers
        #: A temporary workdir is removed again by ``stop``.
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="headwater-minicluster-")
        self.runner = JobManagerRunner(self.configuration, self.workdir, taskmanagers,
                                       fallback_to_free_port=True,
                                       inherit_stdout=inherit_stdout)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="minicluster-jobmanager")

    def _call(self, coro, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> MiniCluster:
        """Start the JobManager and wait for the TaskManagers."""
        self._thread.start()
        self._call(self.runner.start(), 60)
        self._call(self.runner.wait_for_taskmanagers(self.taskmanagers), 60)
        return self

    @property
    def rest_url(self) -> str:
        """Base URL of the mini cluster's REST API."""
        return self.runner.rest_url

    def submit(self, job_graph: JobGraph) -> str:
        """Submit a job; returns its id."""
        wire = deserialize_job_graph(serialize_job_graph(job_graph))
        self._call(self.runner.dispatcher.submit_job(wire), 30)
        return wire.job_id

    def wait(self, job_id: str, timeout: float | None = None):
        """Wait for a job to end; returns its ExecutionGraph."""
        return self._call(self.runner.dispatcher.wait_for_job(job_id), timeout)

    def cancel(self, job_id: str) -> None:
        """Cancel a job."""
        self._call(self.runner.dispatcher.cancel_job(job_id), 30)

    def release_dataset(self, dataset_id: str) -> None:
        """Delete a cluster data set (a no-op if there is none with this id)."""
        async def release() -> None:
            try:
                self.runner.dispatcher.release_dataset(dataset_id)
            except KeyError:
                pass
        self._call(release(), 30)

    def stop(self) -> None:
        """Stop everything."""
        if self._thread.is_alive():
            try:
                self._call(self.runner.stop(), 30)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(10)
                if self._own_workdir:
                    shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MiniCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _graph_result(job_id: str, graph):
    state = graph.state.value
    if state != "FINISHED":
        cause = graph.failure.exception if graph.failure else None
        raise JobExecutionException(job_id, state, cause)
    return _result(job_id, graph.duration(), graph.accumulator_results)


class EmbeddedJobClient:
    """Handle of a job running on an embedded mini cluster."""

    def __init__(self, cluster: MiniCluster, job_id: str) -> None:
        self.cluster = cluster
        self.job_id = job_id
        self._graph = None

    def get_job_id(self) -> str:
        """The job's id."""
        return self.job_id

    def get_job_status(self) -> str:
        """Current JobStatus name."""
        g = self.cluster.runner.dispatcher.execution_graph(self.job_id)
        if g is None:
            raise KeyError(f"unknown job {self.job_id}")
        return g.state.value

    def cancel(self) -> None:
        """Cancel the job."""
        self.cluster.cancel(self.job_id)

    def get_job_execution_result(self, timeout: float | None = None):
        """Wait for the job; its JobExecutionResult. Stops the mini cluster afterwards."""
        try:
            graph = self.cluster.wait(self.job_id, timeout)
        finally:
            self.cluster.stop()
        return _graph_result(self.job_id, graph)


class EmbeddedExecutor:
    """Runs each job on a fresh mini cluster in this process."""

    def __init__(self, configuration: Configuration | None = None) -> None:
        self.configuration = configuration or Configuration()

    def _cluster_for(self, job_graph: JobGraph) -> MiniCluster:
        needed = max(v.parallelism for v in job_graph.vertices)
        count = int(self.configuration["taskmanager.count"]) or psutil.cpu_count() or 1
        slots = int(self.configuration["taskmanager.numberOfTaskSlots"])
        count = max(count, -(-needed // slots))
        return MiniCluster(self.configuration, count, inherit_stdout=True).start()

    def execute_async(self, job_graph: JobGraph) -> EmbeddedJobClient:
        """Start a mini cluster, submit, return a JobClient."""
        cluster = self._cluster_for(job_graph)
        job_id = cluster.submit(job_graph)
        print(f"headwater: job '{job_graph.name}' ({job_id}) running on a local cluster; "
              f"REST API at {cluster.rest_url}", file=sys.stderr, flush=True)
        return EmbeddedJobClient(cluster, job_id)

    def execute(self, job_graph: JobGraph):
        """Run a job to its end and return its JobExecutionResult."""
        return self.execute_async(job_graph).get_job_execution_result()

    def invalidate_dataset(self, dataset_id: str) -> None:
        """Nothing to release: every job ran on its own cluster, gone with the job (so a
        cached stream is computed by every job)."""


class RemoteJobClient:
    """Handle of a job on a remote cluster."""

    def __init__(self, client, job_id: str) -> None:
        self.client = client
        self.job_id = job_id

    def get_job_id(self) -> str:
        """The job's id."""
        return self.job_id

    def get_job_status(self) -> str:
        """Current JobStatus name."""
        return self.client.job(self.job_id)["state"]

    def cancel(self) -> None:
        """Cancel the job."""
        self.client.cancel_job(self.job_id)

    def get_job_execution_result(self, timeout: float | None = None):
        """Wait for the job to end; its JobExecutionResult."""
        res = self.client.wait_for_result(self.job_id, timeout=timeout)
        status = res.get("application-status", "UNKNOWN")
        if status != "SUCCEEDED":
            cause = (res.get("failure-cause") or {}).get("stack-trace")
            raise JobExecutionException(self.job_id, status, cause)
        return _result(self.job_id, res.get("net-runtime", 0), res.get("accumulator-results", {}))


class RemoteExecutor:
    """Submits jobs to a running cluster through ``POST /jobs``."""

    def __init__(self, rest_url: str, detached: bool = False) -> None:
        from headwater.client import RestClient

        self.client = RestClient(rest_url)
        self.detached = detached

    def execute_async(self, job_graph: JobGraph) -> RemoteJobClient:
        """Submit and return at once."""
        job_id = self.client.submit_job_graph(serialize_job_graph(job_graph))
        print(f"Job has been submitted with JobID {job_id}", flush=True)
        return RemoteJobClient(self.client, job_id)

    def invalidate_dataset(self, dataset_id: str) -> None:
        """Release a cluster data set (``DELETE /datasets/:id``) and wait until it is."""
        from headwater.client.rest_client import RestError

        try:
            trigger = self.client.trigger_dataset_deletion(dataset_id)
        except RestError as exc:
            if exc.status == 404:  # never computed, or released already
                return
            raise
        self.client.wait_for_operation(f"/datasets/delete/{trigger}")

    def execute(self, job_graph: JobGraph):
        """Submit, then wait for the result (or end the program when detached)."""
        client = self.execute_async(job_graph)
        if self.detached:
            raise SystemExit(0)
        return client.get_job_execution_result()


def default_executor():
    """The executor ``env.execute()`` uses when none was set explicitly (a plan-capturing
    one in a job artifact's extraction process, see headwater.artifacts.executors)."""
    from headwater.artifacts.executors import executor_from_env

    return executor_from_env(_cluster_executor)


def _cluster_executor():
    url = os.environ.get(JOBMANAGER_ENV)
    if url:
        return RemoteExecutor(url, detached=os.environ.get(DETACHED_ENV) == "1")
    return EmbeddedExecutor()
