"""What ``execute`` and ``execute_async`` return: the job's result and a handle on it.

    result = env.execute("wordcount")
    result.get_net_runtime()                       # ms
    result.get_accumulator_result("word-counts")

    client = env.execute_async("forever")
    client.get_job_status()                        # "RUNNING"
    client.cancel()
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable


@dataclasses.dataclass
class JobExecutionResult:
    """The outcome of a finished job: id, net runtime (ms) and accumulator values."""

    job_id: str
    net_runtime: int = 0
    accumulator_results: dict[str, Any] = dataclasses.field(default_factory=dict)

    def get_job_id(self) -> str:
        """The job's id (32 hex)."""
        return self.job_id

    def get_net_runtime(self) -> int:
        """Milliseconds the job ran."""
        return self.net_runtime

    def get_accumulator_result(self, accumulator_name: str) -> Any:
        """The merged value of an accumulator (None if unknown)."""
        return self.accumulator_results.get(accumulator_name)

    def get_all_accumulator_results(self) -> dict[str, Any]:
        """Every accumulator's merged value."""
        return dict(self.accumulator_results)

    def is_job_execution_result(self) -> bool:
        """Always True (PyFlink's JobSubmissionResult API)."""
        return True

    def get_job_execution_result(self) -> JobExecutionResult:
        """This result (PyFlink's JobSubmissionResult API)."""
        return self

    def result(self, timeout: float | None = None) -> JobExecutionResult:
        """This result: PyFlink's ``client.get_job_execution_result().result()``."""
        return self


@runtime_checkable
class JobClient(Protocol):
    """A handle on a submitted job (what ``execute_async`` returns)."""

    def get_job_id(self) -> str:
        """The job's id."""

    def get_job_status(self) -> str:
        """The job's current status name ("RUNNING", "FINISHED"...)."""

    def cancel(self) -> None:
        """Cancel the job."""

    def get_job_execution_result(self, timeout: float | None = None) -> JobExecutionResult:
        """Wait for the job to end and return its result (raises if it failed)."""


class JobStatusName(str):
    """A job status name ("RUNNING"...) that is also PyFlink's future of a JobStatus:
    ``client.get_job_status().result()`` is a ``JobStatus``."""

    def result(self, timeout: float | None = None) -> Any:
        """The JobStatus."""
        from headwater.api.job_status import JobStatus

        return JobStatus[str(self)]


class PyFlinkJobClient:
    """The JobClient ``execute_async`` returns: the executor's client, whose answers
    also work the PyFlink way (``get_job_status().result()``,
    ``get_job_execution_result().result()``, ``cancel().result()``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_job_id(self) -> str:
        """The job's id."""
        return self._client.get_job_id()

    def get_job_status(self) -> JobStatusName:
        """The job's current status name (also a future of the JobStatus)."""
        return JobStatusName(self._client.get_job_status())

    def cancel(self) -> Any:
        """Cancel the job (returns a completed future, as PyFlink)."""
        from headwater.api.futures import CompletableFuture

        self._client.cancel()
        return CompletableFuture.completed(None)

    def get_job_execution_result(self, timeout: float | None = None) -> JobExecutionResult:
        """Wait for the job to end and return its result (raises if it failed)."""
        return self._client.get_job_execution_result(timeout)

    def _rest(self, method: str) -> Any:
        """A REST client of the job's cluster (remote or embedded)."""
        client = getattr(self._client, "client", None)
        if client is not None and hasattr(client, "savepoint"):
            return client
        url = getattr(getattr(self._client, "cluster", None), "rest_url", None)
        if not url:
            raise NotImplementedError(f"JobClient.{method}(): this executor's cluster has no "
                                      "REST API")
        from headwater.client import RestClient

        return RestClient(url)

    def trigger_savepoint(self, savepoint_directory: str | None = None) -> Any:
        """Take a savepoint (into ``savepoint_directory``, else ``state.savepoints.dir``);
        a completed future of its path."""
        from headwater.api.futures import CompletableFuture

        rest = self._rest("trigger_savepoint")
        return CompletableFuture.completed(rest.savepoint(self.get_job_id(),
                                                          savepoint_directory))

    def stop_with_savepoint(self, advance_to_end_of_event_time: bool = False,
                            savepoint_directory: str | None = None) -> Any:
        """Stop the job with a savepoint (draining event time first if asked); a
        completed future of the savepoint's path."""
        from headwater.api.futures import CompletableFuture

        rest = self._rest("stop_with_savepoint")
        return CompletableFuture.completed(rest.stop_job(
            self.get_job_id(), savepoint_directory, drain=advance_to_end_of_event_time))

    def get_accumulators(self, class_loader: Any = None) -> Any:
        """A completed future of the job's accumulators (name -> value as the REST API
        shows it)."""
        from headwater.api.futures import CompletableFuture

        answer = self._rest("get_accumulators").job_accumulators(self.get_job_id())
        return CompletableFuture.completed(
            {a["name"]: a["value"] for a in answer.get("user-task-accumulators", [])})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_client"], name)


@runtime_checkable
class Executor(Protocol):
    """Runs JobGraphs: the embedded mini cluster or a remote cluster."""

    def execute(self, job_graph) -> JobExecutionResult:
        """Run a job to its end."""

    def execute_async(self, job_graph) -> JobClient:
        """Submit a job and return at once."""
