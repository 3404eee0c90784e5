"""A Python client for the Flink-compatible REST API (works against headwater and Flink).

Usage::

    from headwater.client import RestClient
    client = RestClient("http://127.0.0.1:8081")
    for job in client.jobs_overview()["jobs"]:
        print(job["jid"], job["state"])
    jar_id = client.upload_jar("examples/wordcount.py")
    job_id = client.run_jar(jar_id, program_args=["--lines", "100"])
    location = client.savepoint(job_id, "/tmp/savepoints")   # trigger and wait

There is one method per endpoint of Flink 1.12's REST API (plus the log, stdout and
thread-dump endpoints the dashboard uses), named after what it does; request shapes are
Flink's own, so the methods work against a real Flink cluster as well (except what is
Python-specific: uploading a ``.py`` artifact). Every call is synchronous; an error
status raises :class:`RestError` with the server's messages. Asynchronous operations
(savepoints, stop, rescaling, savepoint disposal, data set deletion) have ``trigger_*``
and ``*_status`` methods plus helpers that trigger and wait (:meth:`savepoint`,
:meth:`stop_job`, :meth:`rescale`, :meth:`dispose_savepoint`).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

JsonDict = dict[str, Any]


class RestError(Exception):
    """The server answered with an error status; ``errors`` are its messages."""

    def __init__(self, status: int, errors: list[str], url: str) -> None:
        self.status = status
        self.errors = errors
        self.url = url
        first = errors[0].splitlines()[0] if errors else "no message"
        super().__init__(f"{status} from {url}: {first}")


class OperationFailed(Exception):
    """An asynchronous operation completed with a ``failure-cause``."""

    def __init__(self, what: str, cause: JsonDict) -> None:
        self.cause = cause
        trace = str(cause.get("stack-trace") or cause.get("class") or cause)
        first = next((line for line in trace.splitlines() if line.strip()), trace)
        super().__init__(f"{what} failed: {first}")


def _seg(value: Any) -> str:
    """A path segment, percent-encoded."""
    return quote(str(value), safe=":")


def _params(**values: Any) -> dict[str, str]:
    """Query parameters: None dropped, lists comma-joined, booleans as true/false."""
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | tuple | set):
            if not value:
                continue
            value = ",".join(str(v) for v in value)
        out[key] = str(value)
    return out


def _trigger_id(answer: JsonDict) -> str:
    return answer["request-id"]


class RestClient:
    """Synchronous REST client; one short-lived aiohttp session per call."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None,
                 ca_file: str | None = None) -> None:
        """``token`` (default: ``HEADWATER_TOKEN``) is sent as a bearer token; an https
        URL is verified against ``ca_file`` (default: ``HEADWATER_CA_FILE``, else the
        system's authorities)."""
        if "://" not in base_url:
            base_url = f"http://{base_url}"
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token if token is not None else os.environ.get("HEADWATER_TOKEN") or None
        ca_file = ca_file if ca_file is not None else os.environ.get("HEADWATER_CA_FILE")
        self.ca_file = ca_file or None
        self._ssl = (ssl.create_default_context(cafile=ca_file or None)
                     if self.base_url.startswith("https://") else None)

    # -- transport ----------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, params: dict | None = None,
                       json_body: Any = None, data: Any = None) -> Any:
        url = f"{self.base_url}{path}"
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(method, url, params=params, json=json_body,
                                       data=data, headers=headers,
                                       ssl=self._ssl if self._ssl is not None else True
                                       ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    text = raw.decode("utf-8", errors="replace")
                    try:
                        errors = json.loads(text).get("errors", [text])
                    except (ValueError, AttributeError):
                        errors = [text]
                    raise RestError(resp.status, [str(e) for e in errors], url)
                if resp.content_type == "application/json":
                    return json.loads(raw) if raw else None
                return raw.decode(resp.charset or "utf-8", errors="replace")

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return the decoded answer (JSON, or text)."""
        return asyncio.run(self._request(method, path, **kwargs))

    def _get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_params(**params) or None)

    # -- cluster ------------------------------------------------------------------------

    def config(self) -> JsonDict:
        """GET /config: the dashboard configuration (version, features...)."""
        return self._get("/config")

    def overview(self) -> JsonDict:
        """GET /overview: TaskManagers, slots and jobs per state."""
        return self._get("/overview")

    def shutdown_cluster(self) -> JsonDict:
        """DELETE /cluster: shut the cluster down."""
        return self.request("DELETE", "/cluster")

    def jobmanager_config(self) -> list[JsonDict]:
        """GET /jobmanager/config: every configuration key and value."""
        return self._get("/jobmanager/config")

    def jobmanager_metrics(self, get: Sequence[str] | None = None) -> Any:
        """GET /jobmanager/metrics: metric names, or values of ``get``."""
        return self._get("/jobmanager/metrics", get=get)

    def jobmanager_logs(self) -> JsonDict:
        """GET /jobmanager/logs: ``{"logs": [{"name", "size"}]}``."""
        return self._get("/jobmanager/logs")

    def jobmanager_log(self) -> str:
        """GET /jobmanager/log: the JobManager's log file."""
        return self._get("/jobmanager/log")

    def jobmanager_stdout(self) -> str:
        """GET /jobmanager/stdout: the JobManager's stdout file."""
        return self._get("/jobmanager/stdout")

    def jobmanager_log_file(self, name: str) -> str:
        """GET /jobmanager/logs/:logname: one file of the JobManager's log directory."""
        return self._get(f"/jobmanager/logs/{quote(name, safe='')}")

    def jobmanager_thread_dump(self) -> JsonDict:
        """GET /jobmanager/thread-dump: ``{"threadInfos": [...]}`` of the JobManager."""
        return self._get("/jobmanager/thread-dump")

    # -- task managers ------------------------------------------------------------------

    def taskmanagers(self) -> JsonDict:
        """GET /taskmanagers: every registered TaskManager."""
        return self._get("/taskmanagers")

    def taskmanagers_metrics(self, get: Sequence[str] | None = None,
                             agg: Sequence[str] | None = None,
                             taskmanagers: Sequence[str] | None = None) -> Any:
        """GET /taskmanagers/metrics: metrics aggregated over TaskManagers."""
        return self._get("/taskmanagers/metrics", get=get, agg=agg, taskmanagers=taskmanagers)

    def taskmanager(self, tm_id: str) -> JsonDict:
        """GET /taskmanagers/:taskmanagerid: details and process metrics."""
        return self._get(f"/taskmanagers/{_seg(tm_id)}")

    def taskmanager_metrics(self, tm_id: str, get: Sequence[str] | None = None) -> Any:
        """GET /taskmanagers/:taskmanagerid/metrics."""
        return self._get(f"/taskmanagers/{_seg(tm_id)}/metrics", get=get)

    def taskmanager_logs(self, tm_id: str) -> JsonDict:
        """GET /taskmanagers/:taskmanagerid/logs: its log directory's files."""
        return self._get(f"/taskmanagers/{_seg(tm_id)}/logs")

    def taskmanager_log(self, tm_id: str) -> str:
        """GET /taskmanagers/:taskmanagerid/log: its log file."""
        return self._get(f"/taskmanagers/{_seg(tm_id)}/log")

    def taskmanager_stdout(self, tm_id: str) -> str:
        """GET /taskmanagers/:taskmanagerid/stdout: what it (and user functions) printed."""
        return self._get(f"/taskmanagers/{_seg(tm_id)}/stdout")

    def taskmanager_log_file(self, tm_id: str, name: str) -> str:
        """GET /taskmanagers/:taskmanagerid/logs/:logname: one file of its log directory."""
        return self._get(f"/taskmanagers/{_seg(tm_id)}/logs/{quote(name, safe='')}")

    def taskmanager_thread_dump(self, tm_id: str) -> JsonDict:
        """GET /taskmanagers/:taskmanagerid/thread-dump: ``{"threadInfos": [...]}``."""
        return self._get(f"/taskmanagers/{_seg(tm_id)}/thread-dump")

    # -- jars ---------------------------------------------------------------------------

    def list_jars(self) -> JsonDict:
        """GET /jars: uploaded artifacts with their entry points."""
        return self._get("/jars")

    def upload_jar(self, path: str | os.PathLike, file_name: str | None = None) -> str:
        """POST /jars/upload (multipart part ``jarfile``); returns the jar id."""
        data = Path(path).read_bytes()
        form = aiohttp.FormData()
        form.add_field("jarfile", data, filename=file_name or Path(path).name,
                       content_type="application/x-java-archive")
        answer = self.request("POST", "/jars/upload", data=form)
        return os.path.basename(answer["filename"])

    def delete_jar(self, jar_id: str) -> None:
        """DELETE /jars/:jarid."""
        self.request("DELETE", f"/jars/{quote(jar_id, safe='')}")

    @staticmethod
    def _jar_body(entry_class: str | None, program_args: Sequence[str] | None,
                  parallelism: int | None, job_id: str | None, **more: Any) -> JsonDict:
        body: JsonDict = {"entryClass": entry_class,
                          "programArgsList": list(program_args) if program_args else None,
                          "parallelism": parallelism, "jobId": job_id, **more}
        return {k: v for k, v in body.items() if v is not None}

    def jar_plan(self, jar_id: str, entry_class: str | None = None,
                 program_args: Sequence[str] | None = None,
                 parallelism: int | None = None) -> JsonDict:
        """POST /jars/:jarid/plan (JSON body): ``{"plan": ...}`` of the program's job."""
        body = self._jar_body(entry_class, program_args, parallelism, None)
        return self.request("POST", f"/jars/{quote(jar_id, safe='')}/plan", json_body=body)

    def jar_plan_by_query(self, jar_id: str, entry_class: str | None = None,
                          program_args: Sequence[str] | None = None,
                          parallelism: int | None = None) -> JsonDict:
        """GET /jars/:jarid/plan (query parameters; arguments must not contain commas)."""
        return self._get(f"/jars/{quote(jar_id, safe='')}/plan", **{
            "entry-class": entry_class, "programArg": program_args,
            "parallelism": parallelism})

    def run_jar(self, jar_id: str, entry_class: str | None = None,
                program_args: Sequence[str] | None = None, parallelism: int | None = None,
                savepoint_path: str | None = None, allow_non_restored_state: bool | None = None,
                job_id: str | None = None) -> str:
        """POST /jars/:jarid/run: submit the program's job; returns its job id."""
        body = self._jar_body(entry_class, program_args, parallelism, job_id,
                              savepointPath=savepoint_path,
                              allowNonRestoredState=allow_non_restored_state)
        answer = self.request("POST", f"/jars/{quote(jar_id, safe='')}/run", json_body=body)
        return answer["jobid"]

    # -- jobs ---------------------------------------------------------------------------

    def jobs(self) -> JsonDict:
        """GET /jobs: ids and states."""
        return self._get("/jobs")

    def jobs_overview(self) -> JsonDict:
        """GET /jobs/overview: a summary of every job."""
        return self._get("/jobs/overview")

    def jobs_metrics(self, get: Sequence[str] | None = None, agg: Sequence[str] | None = None,
                     jobs: Sequence[str] | None = None) -> Any:
        """GET /jobs/metrics: metrics aggregated over jobs."""
        return self._get("/jobs/metrics", get=get, agg=agg, jobs=jobs)

    def submit_job_graph(self, job_graph_bytes: bytes, file_name: str = "job.graph",
                         jars: Iterable[tuple[str, bytes]] = (),
                         artifacts: Iterable[tuple[str, str, bytes]] = ()) -> str:
        """POST /jobs with a serialized job graph, plus jars ``(file name, bytes)`` and
        distributed-cache artifacts ``(entry name, file name, bytes)``; the job id."""
        jars = list(jars)
        artifacts = list(artifacts)
        form = aiohttp.FormData()
        form.add_field("request", json.dumps({
            "jobGraphFileName": file_name,
            "jobJarFileNames": [name for name, _ in jars],
            "jobArtifactFileNames": [{"entryName": entry, "fileName": name}
                                     for entry, name, _ in artifacts]}),
            content_type="application/json")
        form.add_field(file_name, job_graph_bytes, filename=file_name,
                       content_type="application/octet-stream")
        for name, data in jars:
            form.add_field(name, data, filename=name, content_type="application/java-archive")
        for _, name, data in artifacts:
            form.add_field(name, data, filename=name, content_type="application/octet-stream")
        answer = self.request("POST", "/jobs", data=form)
        return answer["jobUrl"].rstrip("/").rsplit("/", 1)[-1]

    def job(self, job_id: str) -> JsonDict:
        """GET /jobs/:jobid: details of a job."""
        return self._get(f"/jobs/{_seg(job_id)}")

    def cancel_job(self, job_id: str) -> None:
        """PATCH /jobs/:jobid?mode=cancel."""
        self.request("PATCH", f"/jobs/{_seg(job_id)}", params={"mode": "cancel"})

    def job_accumulators(self, job_id: str,
                         include_serialized_value: bool | None = None) -> JsonDict:
        """GET /jobs/:jobid/accumulators."""
        return self._get(f"/jobs/{_seg(job_id)}/accumulators",
                         includeSerializedValue=include_serialized_value)

    def checkpoints(self, job_id: str) -> JsonDict:
        """GET /jobs/:jobid/checkpoints: checkpoint statistics."""
        return self._get(f"/jobs/{_seg(job_id)}/checkpoints")

    def checkpoint_config(self, job_id: str) -> JsonDict:
        """GET /jobs/:jobid/checkpoints/config."""
        return self._get(f"/jobs/{_seg(job_id)}/checkpoints/config")

    def checkpoint_details(self, job_id: str, checkpoint_id: int) -> JsonDict:
        """GET /jobs/:jobid/checkpoints/details/:checkpointid."""
        return self._get(f"/jobs/{_seg(job_id)}/checkpoints/details/{int(checkpoint_id)}")

    def checkpoint_subtask_details(self, job_id: str, checkpoint_id: int,
                                   vertex_id: str) -> JsonDict:
        """GET /jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid."""
        return self._get(f"/jobs/{_seg(job_id)}/checkpoints/details/{int(checkpoint_id)}"
                         f"/subtasks/{_seg(vertex_id)}")

    def job_config(self, job_id: str) -> JsonDict:
        """GET /jobs/:jobid/config: the job's execution configuration."""
        return self._get(f"/jobs/{_seg(job_id)}/config")

    def job_exceptions(self, job_id: str, max_exceptions: int | None = None) -> JsonDict:
        """GET /jobs/:jobid/exceptions."""
        return self._get(f"/jobs/{_seg(job_id)}/exceptions", maxExceptions=max_exceptions)

    def execution_result(self, job_id: str) -> JsonDict:
        """GET /jobs/:jobid/execution-result."""
        return self._get(f"/jobs/{_seg(job_id)}/execution-result")

    def job_metrics(self, job_id: str, get: Sequence[str] | None = None) -> Any:
        """GET /jobs/:jobid/metrics."""
        return self._get(f"/jobs/{_seg(job_id)}/metrics", get=get)

    def job_plan(self, job_id: str) -> JsonDict:
        """GET /jobs/:jobid/plan."""
        return self._get(f"/jobs/{_seg(job_id)}/plan")

    def trigger_rescaling(self, job_id: str, parallelism: int) -> str:
        """PATCH /jobs/:jobid/rescaling?parallelism=N; the trigger id."""
        return _trigger_id(self.request("PATCH", f"/jobs/{_seg(job_id)}/rescaling",
                                        params=_params(parallelism=parallelism)))

    def rescaling_status(self, job_id: str, trigger_id: str) -> JsonDict:
        """GET /jobs/:jobid/rescaling/:triggerid."""
        return self._get(f"/jobs/{_seg(job_id)}/rescaling/{_seg(trigger_id)}")

    def openapi(self) -> JsonDict:
        """GET /openapi.json: the cluster's OpenAPI document (a headwater extension)."""
        return self._get("/openapi.json")

    def events(self, topics: Sequence[str] | None = None, jobs: Sequence[str] | None = None,
               metrics: Sequence[str] | None = None) -> Iterator[tuple[str, JsonDict]]:
        """GET /events (a headwater extension): the cluster's server-sent events as
        ``(type, data)`` pairs, starting with ``("hello", ...)``, for as long as the caller
        iterates (closing the generator closes the stream). ``topics`` picks event types,
        ``jobs`` job ids, ``metrics`` adds ``<resource>/<metric id>`` subscriptions."""
        query = urllib.parse.urlencode(_params(topics=topics, jobs=jobs, metrics=metrics))
        url = f"{self.base_url}/events" + (f"?{query}" if query else "")
        headers = {"Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                              timeout=self.timeout, context=self._ssl)
        except urllib.error.HTTPError as exc:
            try:
                errors = json.loads(exc.read()).get("errors", [exc.reason])
            except (ValueError, AttributeError):
                errors = [str(exc.reason)]
            raise RestError(exc.code, [str(e) for e in errors], url) from None
        with response:
            kind = "message"
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    yield kind, json.loads(line[5:])
                elif not line:
                    kind = "message"

    def job_status(self, job_id: str) -> str:
        """GET /jobs/:jobid/status (Flink 1.15): the job's status."""
        return str(self._get(f"/jobs/{_seg(job_id)}/status")["status"])

    def trigger_checkpoint(self, job_id: str) -> str:
        """POST /jobs/:jobid/checkpoints (Flink 1.17): take a checkpoint now; the trigger
        id."""
        return _trigger_id(self.request("POST", f"/jobs/{_seg(job_id)}/checkpoints",
                                        json_body={}))

    def checkpoint_trigger_status(self, job_id: str, trigger_id: str) -> JsonDict:
        """GET /jobs/:jobid/checkpoints/:triggerid (Flink 1.17)."""
        return self._get(f"/jobs/{_seg(job_id)}/checkpoints/{_seg(trigger_id)}")

    def resource_requirements(self, job_id: str) -> JsonDict:
        """GET /jobs/:jobid/resource-requirements (Flink 1.18): per vertex bounds."""
        return self._get(f"/jobs/{_seg(job_id)}/resource-requirements")

    def set_resource_requirements(self, job_id: str, requirements: JsonDict) -> None:
        """PUT /jobs/:jobid/resource-requirements (Flink 1.18): headwater rescales."""
        self.request("PUT", f"/jobs/{_seg(job_id)}/resource-requirements",
                     json_body=requirements)

    def trigger_savepoint(self, job_id: str, target_directory: str | None = None,
                          cancel_job: bool = False) -> str:
        """POST /jobs/:jobid/savepoints; the trigger id."""
        body: JsonDict = {"cancel-job": cancel_job}
        if target_directory is not None:
            body["target-directory"] = target_directory
        return _trigger_id(self.request("POST", f"/jobs/{_seg(job_id)}/savepoints",
                                        json_body=body))

    def savepoint_status(self, job_id: str, trigger_id: str) -> JsonDict:
        """GET /jobs/:jobid/savepoints/:triggerid."""
        return self._get(f"/jobs/{_seg(job_id)}/savepoints/{_seg(trigger_id)}")

    def trigger_stop(self, job_id: str, target_directory: str | None = None,
                     drain: bool = False) -> str:
        """POST /jobs/:jobid/stop (stop with a savepoint); the trigger id (its status is a
        savepoint status)."""
        body: JsonDict = {"drain": drain}
        if target_directory is not None:
            body["targetDirectory"] = target_directory
        return _trigger_id(self.request("POST", f"/jobs/{_seg(job_id)}/stop", json_body=body))

    # -- vertices and subtasks ----------------------------------------------------------

    def _vertex(self, job_id: str, vertex_id: str) -> str:
        return f"/jobs/{_seg(job_id)}/vertices/{_seg(vertex_id)}"

    def vertex(self, job_id: str, vertex_id: str) -> JsonDict:
        """GET /jobs/:jobid/vertices/:vertexid."""
        return self._get(self._vertex(job_id, vertex_id))

    def vertex_accumulators(self, job_id: str, vertex_id: str) -> JsonDict:
        """GET /jobs/:jobid/vertices/:vertexid/accumulators."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/accumulators")

    def vertex_backpressure(self, job_id: str, vertex_id: str) -> JsonDict:
        """GET /jobs/:jobid/vertices/:vertexid/backpressure."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/backpressure")

    def vertex_flame_graph(self, job_id: str, vertex_id: str,
                           graph_type: str | None = None) -> JsonDict:
        """GET /jobs/:jobid/vertices/:vertexid/flamegraph (Flink 1.13+); ``graph_type``
        (the ``type`` parameter) is ``full`` (default), ``on_cpu`` or ``off_cpu``."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/flamegraph", type=graph_type)

    def vertex_metrics(self, job_id: str, vertex_id: str,
                       get: Sequence[str] | None = None) -> Any:
        """GET /jobs/:jobid/vertices/:vertexid/metrics."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/metrics", get=get)

    def subtasks_accumulators(self, job_id: str, vertex_id: str) -> JsonDict:
        """GET /jobs/:jobid/vertices/:vertexid/subtasks/accumulators."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/subtasks/accumulators")

    def subtasks_metrics(self, job_id: str, vertex_id: str, get: Sequence[str] | None = None,
                         agg: Sequence[str] | None = None,
                         subtasks: Sequence[str] | None = None) -> Any:
        """GET /jobs/:jobid/vertices/:vertexid/subtasks/metrics (``subtasks``: "0-2"...)."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/subtasks/metrics", get=get,
                         agg=agg, subtasks=subtasks)

    def subtask(self, job_id: str, vertex_id: str, index: int) -> JsonDict:
        """GET /jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/subtasks/{int(index)}")

    def subtask_attempt(self, job_id: str, vertex_id: str, index: int,
                        attempt: int) -> JsonDict:
        """GET .../subtasks/:subtaskindex/attempts/:attempt."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/subtasks/{int(index)}"
                         f"/attempts/{int(attempt)}")

    def subtask_attempt_accumulators(self, job_id: str, vertex_id: str, index: int,
                                     attempt: int) -> JsonDict:
        """GET .../subtasks/:subtaskindex/attempts/:attempt/accumulators."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/subtasks/{int(index)}"
                         f"/attempts/{int(attempt)}/accumulators")

    def subtask_metrics(self, job_id: str, vertex_id: str, index: int,
                        get: Sequence[str] | None = None) -> Any:
        """GET .../subtasks/:subtaskindex/metrics."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/subtasks/{int(index)}/metrics",
                         get=get)

    def subtask_times(self, job_id: str, vertex_id: str) -> JsonDict:
        """GET /jobs/:jobid/vertices/:vertexid/subtasktimes."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/subtasktimes")

    def vertex_taskmanagers(self, job_id: str, vertex_id: str) -> JsonDict:
        """GET /jobs/:jobid/vertices/:vertexid/taskmanagers."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/taskmanagers")

    def vertex_watermarks(self, job_id: str, vertex_id: str) -> Any:
        """GET /jobs/:jobid/vertices/:vertexid/watermarks."""
        return self._get(f"{self._vertex(job_id, vertex_id)}/watermarks")

    # -- savepoint disposal and data sets -----------------------------------------------

    def trigger_savepoint_disposal(self, savepoint_path: str) -> str:
        """POST /savepoint-disposal; the trigger id."""
        return _trigger_id(self.request("POST", "/savepoint-disposal",
                                        json_body={"savepoint-path": savepoint_path}))

    def savepoint_disposal_status(self, trigger_id: str) -> JsonDict:
        """GET /savepoint-disposal/:triggerid."""
        return self._get(f"/savepoint-disposal/{_seg(trigger_id)}")

    def datasets(self) -> JsonDict:
        """GET /datasets: cluster data sets."""
        return self._get("/datasets")

    def trigger_dataset_deletion(self, dataset_id: str) -> str:
        """DELETE /datasets/:datasetid; the trigger id."""
        return _trigger_id(self.request("DELETE", f"/datasets/{_seg(dataset_id)}"))

    def dataset_deletion_status(self, trigger_id: str) -> JsonDict:
        """GET /datasets/delete/:triggerid."""
        return self._get(f"/datasets/delete/{_seg(trigger_id)}")

    # -- waiting ------------------------------------------------------------------------

    def wait_for_operation(self, path: str, poll: float = 0.2,
                           timeout: float | None = None) -> Any:
        """Poll an async operation's status until COMPLETED; its ``operation`` (raises
        OperationFailed when that carries a ``failure-cause``, TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            answer = self._get(path)
            if answer["status"]["id"] == "COMPLETED":
                operation = answer.get("operation")
                if isinstance(operation, dict) and operation.get("failure-cause"):
                    raise OperationFailed(f"operation {path}", operation["failure-cause"])
                return operation
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"operation {path} did not complete within {timeout}s")
            time.sleep(poll)

    def wait_for_savepoint(self, job_id: str, trigger_id: str,
                           timeout: float | None = None) -> str:
        """Wait for a savepoint (or stop) trigger; the savepoint's location."""
        op = self.wait_for_operation(f"/jobs/{_seg(job_id)}/savepoints/{_seg(trigger_id)}",
                                     timeout=timeout)
        return (op or {}).get("location", "")

    def savepoint(self, job_id: str, target_directory: str | None = None,
                  cancel_job: bool = False, timeout: float | None = None) -> str:
        """Trigger a savepoint and wait for it; its location."""
        trigger = self.trigger_savepoint(job_id, target_directory, cancel_job)
        return self.wait_for_savepoint(job_id, trigger, timeout)

    def stop_job(self, job_id: str, target_directory: str | None = None, drain: bool = False,
                 timeout: float | None = None) -> str:
        """Stop a job with a savepoint and wait; the savepoint's location."""
        trigger = self.trigger_stop(job_id, target_directory, drain)
        return self.wait_for_savepoint(job_id, trigger, timeout)

    def checkpoint(self, job_id: str, timeout: float | None = None) -> Any:
        """Take a checkpoint now and wait for it; ``{"checkpointId": n}``."""
        trigger = self.trigger_checkpoint(job_id)
        return self.wait_for_operation(f"/jobs/{_seg(job_id)}/checkpoints/{_seg(trigger)}",
                                       timeout=timeout)

    def rescale(self, job_id: str, parallelism: int, timeout: float | None = None) -> Any:
        """Trigger rescaling and wait for it to complete."""
        trigger = self.trigger_rescaling(job_id, parallelism)
        return self.wait_for_operation(f"/jobs/{_seg(job_id)}/rescaling/{_seg(trigger)}",
                                       timeout=timeout)

    def dispose_savepoint(self, savepoint_path: str, timeout: float | None = None) -> Any:
        """Dispose of a savepoint and wait for it."""
        trigger = self.trigger_savepoint_disposal(savepoint_path)
        return self.wait_for_operation(f"/savepoint-disposal/{_seg(trigger)}",
                                       timeout=timeout)

    def delete_dataset(self, dataset_id: str, timeout: float | None = None) -> Any:
        """Delete a cluster data set and wait for it."""
        trigger = self.trigger_dataset_deletion(dataset_id)
        return self.wait_for_operation(f"/datasets/delete/{_seg(trigger)}", timeout=timeout)

    def wait_for_result(self, job_id: str, poll: float = 0.2,
                        timeout: float | None = None) -> JsonDict:
        """Poll execution-result until the job ends; returns its job-execution-result."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            answer = self.execution_result(job_id)
            if answer["status"]["id"] == "COMPLETED":
                return answer["job-execution-result"]
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not end within {timeout}s")
            time.sleep(poll)
