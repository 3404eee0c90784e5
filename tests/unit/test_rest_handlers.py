"""REST handlers against a small in-test RestfulGateway holding real ExecutionGraphs.

Every answer is validated against the spec schema (rest-api-1.12.json) and compared,
key by key, with the answer real Flink 1.12.5 gave for the same endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from headwater import FLINK_API_VERSION
from headwater.config import Configuration
from headwater.graph.job_graph import JobEdge, JobGraph, JobVertex, OperatorSpec, ShipStrategy
from headwater.graph.serialization import serialize_job_graph
from headwater.rest.gateway import JobMasterGateway, RestfulGateway, default_upload_dir
from headwater.rest.json_schema import validate
from headwater.rest.server import create_rest_app
from headwater.runtime.jobmanager.cluster_datasets import ClusterDataSet
from headwater.runtime.jobmanager.events import ClusterEvents
from headwater.runtime.jobmanager.exceptions import JobAlreadyTerminated, JobNotFound
from headwater.runtime.jobmanager.execution_graph import (
    Execution,
    ExecutionGraph,
    ExecutionState,
    FailureInfo,
    IOMetrics,
    JobStatus,
    TaskManagerLocation,
)
from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo
from headwater.runtime.metrics.fetcher import MetricFetcher
from headwater.runtime.rpc.messages import Request
from tests.paths import REFERENCE

T0 = 1_700_000_000_000
SRC = "cbc357ccb763df2852fee8c4fc7d55f2"
SINK = "c27dcf7b54ef6bfd6cff02ca8870b681"
RUNNING_JOB = "0c1ba528cb906ceac1a05c78005d08b8"
FINISHED_JOB = "492d82975f0049e7a55696ab67e3c842"
CANCELED_JOB = "9d6a8f5ddb527c3d6ac4332825a650f1"
FAILED_JOB = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0"
CREATED_JOB = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"
TM1 = "127.0.0.1:33367-20407b"
TM2 = "127.0.0.1:41000-aaaaaa"
LOC1 = TaskManagerLocation(TM1, "localhost", 36377)
LOC2 = TaskManagerLocation(TM2, "localhost", 36400)
ERROR = 'Traceback (most recent call last):\n  File "job.py", line 3\nValueError: boom'


# -- building real ExecutionGraphs --------------------------------------------------------


def job_graph(job_id: str, name: str = "forever") -> JobGraph:
    """Source (p=2) -> HASH -> sink (p=2), operators as opaque bytes."""
    edge = JobEdge(SRC, SINK, ShipStrategy.HASH)
    src = JobVertex(SRC, "Source: lines -> split", 2, 128,
                    [OperatorSpec("a" * 32, "Source: lines", None, b""),
                     OperatorSpec("b" * 32, "split", None, b"")], outputs=[edge])
    sink = JobVertex(SINK, "window-count -> Sink: discard", 2, 128,
                     [OperatorSpec("c" * 32, "window-count", None, b"")], inputs=[edge])
    return JobGraph(job_id, name, [src, sink],
                    execution_config={"execution-mode": "PIPELINED", "job-parallelism": 2})


def move(ex: Execution, *states: tuple[ExecutionState, int]) -> None:
    """Walk an attempt through states at given times."""
    for state, ts in states:
        ex.state = state
        ex.state_timestamps[state] = ts


def deploy(ex: Execution, loc: TaskManagerLocation, start: int) -> None:
    """CREATED -> SCHEDULED -> DEPLOYING -> RUNNING at start, start+10, +20, +30."""
    ex.state_timestamps = {ExecutionState.CREATED: start}
    move(ex, (ExecutionState.SCHEDULED, start + 10), (ExecutionState.DEPLOYING, start + 20),
         (ExecutionState.RUNNING, start + 30))
    ex.location = loc


def graph(job_id: str, name: str = "forever") -> ExecutionGraph:
    """A fresh graph with deterministic INITIALIZING/CREATED timestamps."""
    eg = ExecutionGraph.from_job_graph(job_graph(job_id, name), initialized_at=T0)
    eg.state_timestamps = {JobStatus.INITIALIZING: T0, JobStatus.CREATED: T0 + 5}
    for _, _, ex in eg.all_executions():
        ex.state_timestamps = {ExecutionState.CREATED: T0 + 5}
    return eg


def job_to(eg: ExecutionGraph, state: JobStatus, ts: int) -> None:
    eg.state = state
    eg.state_timestamps[state] = ts


def running_graph() -> ExecutionGraph:
    eg = graph(RUNNING_JOB)
    job_to(eg, JobStatus.RUNNING, T0 + 10)
    for i, (_, _, ex) in enumerate(eg.all_executions()):
        deploy(ex, LOC1 if i % 2 == 0 else LOC2, T0 + 10)
        ex.io = IOMetrics(read_bytes=100 * i, write_bytes=10 * i, read_records=i, write_records=i)
    return eg


def finished_graph() -> ExecutionGraph:
    eg = graph(FINISHED_JOB, "wordcount")
    job_to(eg, JobStatus.RUNNING, T0 + 10)
    for _, _, ex in eg.all_executions():
        deploy(ex, LOC1, T0 + 10)
        move(ex, (ExecutionState.FINISHED, T0 + 1000))
        ex.io = IOMetrics(5, 6, 7, 8, complete=True)
    job_to(eg, JobStatus.FINISHED, T0 + 1001)
    eg.accumulator_results = {
        "lines": base64.b64encode(pickle.dumps(42)).decode("ascii"),
        "raw": 7,  # a value not yet serialized by the JobMaster
    }
    return eg


def canceled_graph() -> ExecutionGraph:
    eg = graph(CANCELED_JOB)
    job_to(eg, JobStatus.RUNNING, T0 + 10)
    for _, _, ex in eg.all_executions():
        deploy(ex, LOC1, T0 + 10)
    job_to(eg, JobStatus.CANCELLING, T0 + 500)
    for _, _, ex in eg.all_executions():
        move(ex, (ExecutionState.CANCELING, T0 + 500), (ExecutionState.CANCELED, T0 + 600))
    job_to(eg, JobStatus.CANCELED, T0 + 601)
    return eg


def failed_graph() -> ExecutionGraph:
    """Subtask 1 of the sink failed once (attempt 0), was redeployed and failed again."""
    eg = graph(FAILED_JOB)
    job_to(eg, JobStatus.RUNNING, T0 + 10)
    for _, _, ex in eg.all_executions():
        deploy(ex, LOC1, T0 + 10)
    sink_sub = eg.vertex(SINK).subtasks[1]
    first = FailureInfo(ERROR, T0 + 200, "window-count -> Sink: discard (2/2)", "localhost:36377")
    move(sink_sub.current, (ExecutionState.FAILED, T0 + 200))
    sink_sub.current.failure = first
    eg.failure_history.append(first)
    job_to(eg, JobStatus.RESTARTING, T0 + 201)
    retry = sink_sub.new_attempt()
    deploy(retry, LOC2, T0 + 300)
    second = FailureInfo(ERROR, T0 + 400, "window-count -> Sink: discard (2/2)", "localhost:36400")
    move(retry, (ExecutionState.FAILED, T0 + 400))
    retry.failure = second
    eg.failure_history.append(second)
    for _, _, ex in eg.all_executions():
        if not ex.state.is_terminal:
            move(ex, (ExecutionState.CANCELING, T0 + 401), (ExecutionState.CANCELED, T0 + 402))
    eg.failure = second
    job_to(eg, JobStatus.FAILING, T0 + 401)
    job_to(eg, JobStatus.FAILED, T0 + 403)
    eg.num_restarts = 1
    return eg


def created_graph() -> ExecutionGraph:
    return graph(CREATED_JOB, "waiting")


def task_managers() -> list[TaskManagerInfo]:
    tm = TaskManagerInfo(
        resource_id=TM1, host="localhost", rpc_address="127.0.0.1:33367", data_port=36377,
        pid=1234, slots_total=2, slots_used={0: RUNNING_JOB}, last_heartbeat=T0 + 99,
        registered_at=T0,
        hardware={"cpuCores": 8, "physicalMemory": 16 << 30, "freeMemory": 8 << 30,
                  "managedMemory": 0},
        process={"rss": 50 << 20, "vms": 400 << 20, "memory_total": 16 << 30,
                 "memory_available": 8 << 30, "num_threads": 12, "cpu_percent": 3.5,
                 "gc": [{"name": "generation0", "count": 40, "time": 12},
                        {"name": "generation1", "count": 3, "time": 2}]})
    tm2 = TaskManagerInfo(resource_id=TM2, host="localhost", rpc_address="127.0.0.1:41000",
                          data_port=36400, pid=1235, slots_total=1)
    return [tm, tm2]


class StubCluster:
    """A RestfulGateway over fixed ExecutionGraphs; records the operations REST triggers.

    No directories, no metrics, no JobMasters and no TaskManager answers.
    """

    def __init__(self, graphs: list[ExecutionGraph] | None = None,
                 tms: list[TaskManagerInfo] | None = None,
                 configuration: Configuration | None = None) -> None:
        self.configuration = configuration or Configuration()
        self.started_at = T0
        self.graphs = {g.job_id: g for g in (graphs if graphs is not None else all_graphs())}
        self.tms = tms if tms is not None else task_managers()
        self.submitted: list[JobGraph] = []
        self.cancelled: list[str] = []
        self.shutdowns = 0
        self.events = ClusterEvents()

    def execution_graph(self, job_id: str) -> ExecutionGraph | None:
        return self.graphs.get(job_id)

    def execution_graphs(self) -> list[ExecutionGraph]:
        return list(self.graphs.values())

    def task_managers(self) -> list[TaskManagerInfo]:
        return list(self.tms)

    async def submit_job(self, jg: JobGraph) -> None:
        if jg.job_id in self.graphs:
            raise ValueError(f"Job has already been submitted: {jg.job_id}")
        self.submitted.append(jg)
        self.graphs[jg.job_id] = ExecutionGraph.from_job_graph(jg)

    async def cancel_job(self, job_id: str) -> None:
        eg = self.graphs.get(job_id)
        if eg is None:
            raise JobNotFound(job_id)
        if eg.state.is_globally_terminal:
            raise JobAlreadyTerminated(job_id)
        self.cancelled.append(job_id)
        eg.transition(JobStatus.CANCELLING)

    async def shutdown_cluster(self) -> None:
        self.shutdowns += 1

    @property
    def workdir(self) -> Path | None:
        return None

    @property
    def log_dir(self) -> Path | None:
        return None

    @property
    def upload_dir(self) -> Path:
        return default_upload_dir(self.configuration, None)

    @property
    def metric_fetcher(self) -> MetricFetcher | None:
        return None

    def job_master(self, job_id: str) -> JobMasterGateway | None:
        return None

    async def dispose_savepoint(self, path: str) -> None:
        raise NotImplementedError("the stub cluster keeps no savepoints")

    def datasets(self) -> list[ClusterDataSet]:
        return []

    async def release_dataset(self, dataset_id: str) -> None:
        raise KeyError(dataset_id)

    async def request_task_manager(self, resource_id: str, request: Request,
                                   timeout: float) -> Any:
        raise KeyError(resource_id)


#: mypy checks that the stub implements the gateway REST handlers use.
_GATEWAY_CHECK: type[RestfulGateway] = StubCluster


def all_graphs() -> list[ExecutionGraph]:
    return [running_graph(), canceled_graph(), finished_graph(), failed_graph(),
            created_graph()]


# -- calling the server -------------------------------------------------------------------


class Answer:
    """Status, headers and decoded JSON body of one response."""

    def __init__(self, status: int, headers: Any, body: Any) -> None:
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.body!r})"


@asynccontextmanager
async def serve(cluster: Any):
    """A real aiohttp server on a free port plus a client for it."""
    async with TestClient(TestServer(create_rest_app(cluster))) as client:
        async def call(method: str, path: str, **kwargs: Any) -> Answer:
            async with client.request(method, path, **kwargs) as resp:
                raw = await resp.read()
                body = json.loads(raw) if raw else None
                return Answer(resp.status, resp.headers, body)
        yield call


def request(cluster: Any, method: str, path: str, **kwargs: Any) -> Answer:
    """One request against a fresh server."""
    async def go() -> Answer:
        async with serve(cluster) as call:
            return await call(method, path, **kwargs)
    return asyncio.run(go())


# -- spec and reference -------------------------------------------------------------------

from tests.spec_check import SPEC_ENDPOINTS, adapt_to_spec, reference, same_shape  # noqa: E402


def check_spec(method: str, template: str, answer: Answer) -> None:
    """The answer has the declared status and validates against the spec schema."""
    if not SPEC_ENDPOINTS:
        pytest.fail("REST spec missing (tests/data)")
    endpoint = SPEC_ENDPOINTS[(method, template)]
    assert answer.status == endpoint["status"], answer
    assert answer.headers["Content-Type"].startswith("application/json")
    errors = validate(adapt_to_spec(method, template, answer.body), endpoint["response"])
    assert errors == [], errors


def check_reference(template: str, body: Any, method: str = "GET") -> None:
    """Same keys and types as real Flink's answer."""
    if not REFERENCE.is_dir():
        pytest.fail(f"reference answers missing: {REFERENCE}")
    assert same_shape(body, reference(template, method)) == []


# -- cluster endpoints --------------------------------------------------------------------


def test_config():
    conf = Configuration({"web.submit.enable": False, "web.refresh-interval": 5000})
    a = request(StubCluster(configuration=conf), "GET", "/config")
    check_spec("GET", "/config", a)
    check_reference("/config", a.body)
    assert a.body["features"] == {"web-submit": False}
    assert a.body["refresh-interval"] == 5000
    assert a.body["flink-version"] == FLINK_API_VERSION
    assert a.body["flink-revision"].startswith("headwater ")
    assert isinstance(a.body["timezone-offset"], int)
    assert "Access-Control-Allow-Origin" not in a.headers  # no foreign origin by default


def test_overview_counts_jobs_slots_and_taskmanagers():
    a = request(StubCluster(), "GET", "/overview")
    check_spec("GET", "/overview", a)
    check_reference("/overview", a.body)
    assert a.body["taskmanagers"] == 2
    assert a.body["slots-total"] == 3
    assert a.body["slots-available"] == 2
    assert (a.body["jobs-running"], a.body["jobs-finished"], a.body["jobs-cancelled"],
            a.body["jobs-failed"]) == (2, 1, 1, 1)
    assert a.body["flink-version"] == FLINK_API_VERSION


def test_jobmanager_config_lists_every_key_as_strings():
    conf = Configuration({"rest.port": 9999, "web.submit.enable": True})
    a = request(StubCluster(configuration=conf), "GET", "/jobmanager/config")
    check_spec("GET", "/jobmanager/config", a)
    entries = {e["key"]: e["value"] for e in a.body}
    assert entries["rest.port"] == "9999"
    assert entries["web.submit.enable"] == "true"
    assert entries == conf.as_string_map()


def test_delete_cluster_answers_then_shuts_down():
    cluster = StubCluster()

    async def go():
        async with serve(cluster) as call:
            a = await call("DELETE", "/cluster")
            for _ in range(100):
                if cluster.shutdowns:
                    break
                await asyncio.sleep(0.01)
            return a

    a = asyncio.run(go())
    check_spec("DELETE", "/cluster", a)
    assert a.body == {}
    assert cluster.shutdowns == 1


# -- job listings and details -------------------------------------------------------------


def test_jobs_lists_ids_and_states():
    a = request(StubCluster(), "GET", "/jobs")
    check_spec("GET", "/jobs", a)
    check_reference("/jobs", a.body)
    assert {j["id"]: j["status"] for j in a.body["jobs"]} == {
        RUNNING_JOB: "RUNNING", FINISHED_JOB: "FINISHED", CANCELED_JOB: "CANCELED",
        FAILED_JOB: "FAILED", CREATED_JOB: "CREATED"}


def test_jobs_overview():
    a = request(StubCluster(), "GET", "/jobs/overview")
    check_spec("GET", "/jobs/overview", a)
    check_reference("/jobs/overview", a.body)
    jobs = {j["jid"]: j for j in a.body["jobs"]}
    fin = jobs[FINISHED_JOB]
    assert fin["state"] == "FINISHED" and fin["name"] == "wordcount"
    assert (fin["start-time"], fin["end-time"], fin["duration"]) == (T0, T0 + 1001, 1001)
    assert fin["last-modification"] == T0 + 1001
    assert fin["tasks"]["finished"] == 4 and fin["tasks"]["total"] == 4
    run = jobs[RUNNING_JOB]
    assert run["end-time"] == -1 and run["duration"] > 0
    assert run["tasks"]["running"] == 4 and run["last-modification"] == T0 + 40
    failed = jobs[FAILED_JOB]["tasks"]
    assert (failed["failed"], failed["canceled"]) == (1, 3)
    assert set(jobs[CREATED_JOB]["tasks"]) == {s.value.lower() for s in ExecutionState} | {
        "total"}


def test_job_details_running():
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}")
    check_spec("GET", "/jobs/:jobid", a)
    check_reference("/jobs/:jobid", a.body)
    b = a.body
    assert b["jid"] == RUNNING_JOB and b["state"] == "RUNNING" and b["isStoppable"] is False
    assert b["start-time"] == T0 and b["end-time"] == -1
    assert b["duration"] == b["now"] - T0
    assert set(b["timestamps"]) == {s.value for s in JobStatus}
    assert b["timestamps"]["INITIALIZING"] == T0 and b["timestamps"]["RUNNING"] == T0 + 10
    assert b["timestamps"]["FINISHED"] == 0
    assert b["status-counts"] == {**{s.value: 0 for s in ExecutionState}, "RUNNING": 2}
    src, sink = b["vertices"]
    assert src["id"] == SRC and sink["id"] == SINK
    assert src["status"] == "RUNNING" and src["tasks"]["RUNNING"] == 2
    assert src["start-time"] == T0 + 30 and src["end-time"] == -1  # earliest DEPLOYING
    assert src["metrics"]["read-bytes"] == 0 + 100 and src["metrics"]["write-records"] == 1
    assert src["metrics"]["read-bytes-complete"] is True
    assert b["plan"]["jid"] == RUNNING_JOB
    assert {n["id"] for n in b["plan"]["nodes"]} == {SRC, SINK}


def test_job_details_finished_and_not_yet_deployed():
    a = request(StubCluster(), "GET", f"/jobs/{FINISHED_JOB}")
    check_spec("GET", "/jobs/:jobid", a)
    b = a.body
    assert (b["end-time"], b["duration"]) == (T0 + 1001, 1001)
    v = b["vertices"][0]
    assert v["status"] == "FINISHED"
    assert (v["start-time"], v["end-time"], v["duration"]) == (T0 + 30, T0 + 1000, 970)
    assert v["metrics"]["read-bytes"] == 10 and v["metrics"]["write-records-complete"] is True

    c = request(StubCluster(), "GET", f"/jobs/{CREATED_JOB}")
    check_spec("GET", "/jobs/:jobid", c)
    v = c.body["vertices"][0]
    assert (v["start-time"], v["end-time"], v["duration"]) == (-1, -1, -1)
    assert v["status"] == "CREATED" and v["metrics"]["read-bytes-complete"] is False
    assert c.body["status-counts"]["CREATED"] == 2


def test_job_details_name_the_job_type_as_the_jobmaster_decides_it():
    assert request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}").body["job-type"] == "STREAMING"
    cluster = StubCluster()
    cluster.execution_graph(RUNNING_JOB).job_graph.configuration[
        "execution.runtime-mode"] = "BATCH"
    assert request(cluster, "GET", f"/jobs/{RUNNING_JOB}").body["job-type"] == "BATCH"
    batch_cluster = StubCluster(configuration=Configuration({"execution.runtime-mode": "batch"}))
    assert request(batch_cluster, "GET", f"/jobs/{RUNNING_JOB}").body["job-type"] == "BATCH"


def test_job_details_failed_counts_vertex_states():
    a = request(StubCluster(), "GET", f"/jobs/{FAILED_JOB}")
    check_spec("GET", "/jobs/:jobid", a)
    assert a.body["state"] == "FAILED"
    assert a.body["status-counts"]["FAILED"] == 1 and a.body["status-counts"]["CANCELED"] == 1
    assert a.body["timestamps"]["RESTARTING"] == T0 + 201


def test_job_plan_and_config():
    cluster = StubCluster()
    a = request(cluster, "GET", f"/jobs/{RUNNING_JOB}/plan")
    check_spec("GET", "/jobs/:jobid/plan", a)
    check_reference("/jobs/:jobid/plan", a.body)
    assert a.body["plan"] == cluster.graphs[RUNNING_JOB].job_graph.plan()
    c = request(cluster, "GET", f"/jobs/{RUNNING_JOB}/config")
    check_spec("GET", "/jobs/:jobid/config", c)
    check_reference("/jobs/:jobid/config", c.body)
    assert c.body["execution-config"]["job-parallelism"] == 2
    assert c.body["execution-config"]["object-reuse-mode"] is False


def test_unknown_job_is_404_everywhere():
    missing = "00000000000000000000000000000000"
    for suffix in ("", "/plan", "/config", "/exceptions", f"/vertices/{SRC}",
                   f"/vertices/{SRC}/subtasks/0", f"/vertices/{SRC}/subtasktimes",
                   f"/vertices/{SRC}/taskmanagers"):
        a = request(StubCluster(), "GET", f"/jobs/{missing}{suffix}")
        assert a.status == 404, suffix
        assert a.body == {"errors": [f"Job {missing} not found"]}
    a = request(StubCluster(), "GET", f"/jobs/{missing}/execution-result")
    assert a.status == 404 and a.body == {"errors": [f"Could not find Flink job ({missing})"]}


# -- exceptions and results ---------------------------------------------------------------


def test_exceptions_none():
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}/exceptions")
    check_spec("GET", "/jobs/:jobid/exceptions", a)
    history = a.body.pop("exceptionHistory")  # Flink 1.13's addition
    assert history == {"entries": [], "truncated": False}
    assert a.body == reference("/jobs/:jobid/exceptions") == {
        "all-exceptions": [], "root-exception": None, "timestamp": None, "truncated": False}


def test_exceptions_of_a_failed_job():
    a = request(StubCluster(), "GET", f"/jobs/{FAILED_JOB}/exceptions")
    check_spec("GET", "/jobs/:jobid/exceptions", a)
    (entry, *_) = a.body["exceptionHistory"]["entries"]
    assert entry["stacktrace"] == ERROR and entry["exceptionName"] != "Exception"
    assert a.body["root-exception"] == ERROR and a.body["timestamp"] == T0 + 400
    # Every failure of the job's life, newest first (the one before the restart too).
    assert a.body["all-exceptions"] == [
        {"exception": ERROR, "task": "window-count -> Sink: discard (2/2)",
         "location": "localhost:36400", "timestamp": T0 + 400},
        {"exception": ERROR, "task": "window-count -> Sink: discard (2/2)",
         "location": "localhost:36377", "timestamp": T0 + 200}]
    assert a.body["truncated"] is False
    b = request(StubCluster(), "GET", f"/jobs/{FAILED_JOB}/exceptions?maxExceptions=0")
    check_spec("GET", "/jobs/:jobid/exceptions", b)
    assert b.body["all-exceptions"] == [] and b.body["truncated"] is True
    c = request(StubCluster(), "GET", f"/jobs/{FAILED_JOB}/exceptions?maxExceptions=x")
    assert c.status == 400


def test_execution_result_in_progress_and_finished():
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}/execution-result")
    check_spec("GET", "/jobs/:jobid/execution-result", a)
    assert a.body == {"status": {"id": "IN_PROGRESS"}}
    b = request(StubCluster(), "GET", f"/jobs/{FINISHED_JOB}/execution-result")
    check_spec("GET", "/jobs/:jobid/execution-result", b)
    r = b.body["job-execution-result"]
    assert b.body["status"] == {"id": "COMPLETED"}
    assert r["id"] == FINISHED_JOB and r["application-status"] == "SUCCEEDED"
    assert r["net-runtime"] == 1001
    assert pickle.loads(base64.b64decode(r["accumulator-results"]["lines"])) == 42
    assert pickle.loads(base64.b64decode(r["accumulator-results"]["raw"])) == 7
    assert "failure-cause" not in r


def test_execution_result_failed_and_canceled():
    a = request(StubCluster(), "GET", f"/jobs/{FAILED_JOB}/execution-result")
    check_spec("GET", "/jobs/:jobid/execution-result", a)
    r = a.body["job-execution-result"]
    assert r["application-status"] == "FAILED"
    cause = r["failure-cause"]
    assert cause["class"] == "ValueError" and cause["stack-trace"] == ERROR
    assert pickle.loads(base64.b64decode(cause["serialized-throwable"])) == ERROR
    c = request(StubCluster(), "GET", f"/jobs/{CANCELED_JOB}/execution-result")
    r = c.body["job-execution-result"]
    assert r["application-status"] == "CANCELED" and "failure-cause" not in r
    assert r["net-runtime"] == 601


# -- cancel -------------------------------------------------------------------------------


def test_cancel_running_job():
    cluster = StubCluster()
    a = request(cluster, "PATCH", f"/jobs/{RUNNING_JOB}?mode=cancel")
    check_spec("PATCH", "/jobs/:jobid", a)
    assert a.body == {} and cluster.cancelled == [RUNNING_JOB]
    b = request(cluster, "PATCH", f"/jobs/{CREATED_JOB}")  # mode defaults to cancel
    assert b.status == 202 and cluster.cancelled == [RUNNING_JOB, CREATED_JOB]


def test_cancel_errors():
    cluster = StubCluster()
    finished = request(cluster, "PATCH", f"/jobs/{FINISHED_JOB}?mode=cancel")
    assert finished.status == 404 and finished.body == {"errors": ["Job could not be found."]}
    missing = request(cluster, "PATCH", f"/jobs/{'1' * 32}?mode=cancel")
    assert missing.status == 404
    bad = request(cluster, "PATCH", f"/jobs/{RUNNING_JOB}?mode=explode")
    assert bad.status == 400
    assert bad.body["errors"] == ['Bad request, could not parse parameters: Cannot resolve '
                                  'query parameter (mode) from value "explode".']
    stop = request(cluster, "PATCH", f"/jobs/{RUNNING_JOB}?mode=stop", allow_redirects=False)
    assert stop.status == 308 and "removed" in stop.body["errors"][0]
    disabled = StubCluster(configuration=Configuration({"web.cancel.enable": False}))
    off = request(disabled, "PATCH", f"/jobs/{RUNNING_JOB}?mode=cancel")
    assert off.status == 405 and off.body["errors"]
    assert cluster.cancelled == [] and disabled.cancelled == []


# -- submit -------------------------------------------------------------------------------


NEW_JOB = "abcdefabcdefabcdefabcdefabcdef12"


def submit_form(payload: bytes, request_json: Any = None, name: str = "job.graph"):
    form = aiohttp.FormData()
    if request_json is None:
        request_json = {"jobGraphFileName": name, "jobJarFileNames": [],
                        "jobArtifactFileNames": []}
    form.add_field("request", json.dumps(request_json), content_type="application/json")
    form.add_field("file_0", payload, filename=name, content_type="application/octet-stream")
    return form


def multipart_body(payload: bytes, name: str = "job.graph") -> tuple[bytes, str]:
    """A hand-made multipart/form-data body, as Flink's RestClient sends it."""
    boundary = "----headwater-test-boundary"
    request_json = json.dumps({"jobGraphFileName": name}).encode()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\n"
            f"Content-Type: application/json\r\n\r\n").encode() + request_json + (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file_0\"; "
        f"filename=\"{name}\"\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_submit_job_chunked_multipart():
    cluster = StubCluster()
    body, content_type = multipart_body(serialize_job_graph(job_graph(NEW_JOB)))

    async def go():
        async def stream():
            yield body
        async with serve(cluster) as call:
            return await call("POST", "/v1/jobs", data=stream(),
                              headers={"Content-Type": content_type})
    a = asyncio.run(go())
    assert a.status == 202 and a.body == {"jobUrl": f"/jobs/{NEW_JOB}"}


def test_submit_job():
    cluster = StubCluster()
    payload = serialize_job_graph(job_graph(NEW_JOB, "submitted"))
    a = request(cluster, "POST", "/jobs", data=submit_form(payload))
    check_spec("POST", "/jobs", a)
    assert a.body == {"jobUrl": f"/jobs/{NEW_JOB}"}
    (jg,) = cluster.submitted
    assert jg.job_id == NEW_JOB and jg.name == "submitted" and len(jg.vertices) == 2
    again = request(cluster, "POST", "/jobs", data=submit_form(payload))
    assert again.status == 400 and "already been submitted" in again.body["errors"][0]


def test_submit_job_malformed():
    cluster = StubCluster()
    payload = serialize_job_graph(job_graph(NEW_JOB))
    cases = {
        "garbage": submit_form(b"\x00not msgpack"),
        "missing file": submit_form(payload, {"jobGraphFileName": "other.graph"}),
        "no name": submit_form(payload, {"jobJarFileNames": []}),
        "missing jar": submit_form(payload, {"jobGraphFileName": "job.graph",
                                             "jobJarFileNames": ["x.jar"]}),
        "bad types": submit_form(payload, {"jobGraphFileName": 3}),
    }
    for what, form in cases.items():
        a = request(cluster, "POST", "/jobs", data=form)
        assert a.status == 400, what
        assert a.headers["Content-Type"].startswith("application/json")
        assert len(a.body["errors"]) == 1 and a.body["errors"][0], what
    form = aiohttp.FormData()
    form.add_field("request", "{not json", content_type="application/json")
    assert request(cluster, "POST", "/jobs", data=form).status == 400
    assert request(cluster, "POST", "/jobs", data=b"raw",
                   headers={"Content-Type": "text/plain"}).status == 400
    broken = [
        ("multipart/form-data", b"no boundary"),
        ("multipart/form-data; boundary=abc", b"garbage"),
        ("multipart/form-data; boundary=abc",
         b'--abc\r\nContent-Disposition: form-data; name="request"\r\n\r\n{}'),
        ("multipart/mixed; boundary=abc", b"--abc\r\nContent-Type: multipart/mixed; "
         b"boundary=def\r\n\r\n--def\r\n\r\nx\r\n--def--\r\n--abc--\r\n"),
    ]
    for content_type, body in broken:
        a = request(cluster, "POST", "/jobs", data=body, headers={"Content-Type": content_type})
        assert a.status == 400 and a.body["errors"], (content_type, body)
    assert cluster.submitted == []


def test_submit_job_too_large_is_413():
    cluster = StubCluster(configuration=Configuration({"rest.server.max-content-length": 2048}))
    a = request(cluster, "POST", "/jobs", data=submit_form(b"x" * 10_000))
    assert a.status == 413 and a.body["errors"]

    async def chunked():  # no Content-Length: the limit applies while reading
        body, content_type = multipart_body(b"y" * 10_000)

        async def stream():
            for i in range(0, len(body), 1000):
                yield body[i:i + 1000]
        async with serve(cluster) as call:
            return await call("POST", "/jobs", data=stream(),
                              headers={"Content-Type": content_type})
    b = asyncio.run(chunked())
    assert b.status == 413 and b.body["errors"]
    assert cluster.submitted == []


# -- vertices and subtasks ----------------------------------------------------------------


def test_vertex_details():
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}/vertices/{SRC}")
    check_spec("GET", "/jobs/:jobid/vertices/:vertexid", a)
    check_reference("/jobs/:jobid/vertices/:vertexid", a.body)
    b = a.body
    assert (b["id"], b["parallelism"]) == (SRC, 2)
    s0, s1 = b["subtasks"]
    assert (s0["subtask"], s0["attempt"], s0["status"]) == (0, 0, "RUNNING")
    assert s0["host"] == "localhost" and s0["taskmanager-id"] == TM1
    assert s1["taskmanager-id"] == TM2
    assert s0["start-time"] == s0["start_time"] == T0 + 30
    assert s0["end-time"] == -1 and s0["duration"] == b["now"] - (T0 + 30)


def test_vertex_details_unassigned():
    a = request(StubCluster(), "GET", f"/jobs/{CREATED_JOB}/vertices/{SRC}")
    check_spec("GET", "/jobs/:jobid/vertices/:vertexid", a)
    s0 = a.body["subtasks"][0]
    assert s0["host"] == "(unassigned)" and s0["taskmanager-id"] == "(unassigned)"
    assert (s0["start-time"], s0["end-time"], s0["duration"]) == (-1, -1, -1)
    assert s0["metrics"]["read-bytes-complete"] is False


def test_unknown_vertex_and_subtask():
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}/vertices/{'f' * 32}")
    assert a.status == 404 and a.body == {"errors": [f"JobVertex {'f' * 32} not found"]}
    b = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}/vertices/{SRC}/subtasks/2")
    assert b.status == 404 and b.body == {"errors": [f"Invalid subtask index for vertex {SRC}"]}


def test_subtask_current_attempt():
    a = request(StubCluster(), "GET", f"/jobs/{FAILED_JOB}/vertices/{SINK}/subtasks/1")
    check_spec("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex", a)
    check_reference("/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex", a.body)
    b = a.body
    assert (b["subtask"], b["attempt"], b["status"]) == (1, 1, "FAILED")
    assert b["taskmanager-id"] == TM2
    assert (b["start-time"], b["end-time"], b["duration"]) == (T0 + 320, T0 + 400, 80)


def test_subtask_prior_and_current_attempts():
    template = "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt"
    base = f"/jobs/{FAILED_JOB}/vertices/{SINK}/subtasks/1/attempts"
    prior = request(StubCluster(), "GET", f"{base}/0")
    check_spec("GET", template, prior)
    check_reference(template, prior.body)
    assert (prior.body["attempt"], prior.body["status"]) == (0, "FAILED")
    assert prior.body["taskmanager-id"] == TM1 and prior.body["end-time"] == T0 + 200
    current = request(StubCluster(), "GET", f"{base}/1")
    check_spec("GET", template, current)
    assert current.body["attempt"] == 1 and current.body["taskmanager-id"] == TM2
    future = request(StubCluster(), "GET", f"{base}/2")
    assert future.status == 404 and future.body == {"errors": ["Invalid attempt num 2"]}


def test_subtask_times():
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}/vertices/{SINK}/subtasktimes")
    check_spec("GET", "/jobs/:jobid/vertices/:vertexid/subtasktimes", a)
    check_reference("/jobs/:jobid/vertices/:vertexid/subtasktimes", a.body)
    s0 = a.body["subtasks"][0]
    assert set(s0["timestamps"]) == {s.value for s in ExecutionState}
    assert s0["timestamps"]["SCHEDULED"] == T0 + 20 and s0["timestamps"]["FAILED"] == 0
    assert s0["duration"] == a.body["now"] - (T0 + 20)
    f = request(StubCluster(), "GET", f"/jobs/{FINISHED_JOB}/vertices/{SINK}/subtasktimes")
    assert f.body["subtasks"][1]["duration"] == 1000 - 20
    c = request(StubCluster(), "GET", f"/jobs/{CREATED_JOB}/vertices/{SINK}/subtasktimes")
    assert c.body["subtasks"][0]["duration"] == -1
    assert c.body["subtasks"][0]["host"] == "(unassigned)"


def test_vertex_taskmanagers():
    template = "/jobs/:jobid/vertices/:vertexid/taskmanagers"
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}/vertices/{SRC}/taskmanagers")
    check_spec("GET", template, a)
    check_reference(template, a.body)
    tms = {t["taskmanager-id"]: t for t in a.body["taskmanagers"]}
    assert set(tms) == {TM1, TM2}
    assert tms[TM1]["host"] == "localhost:36377" and tms[TM1]["status"] == "RUNNING"
    assert tms[TM1]["status-counts"]["RUNNING"] == 1
    f = request(StubCluster(), "GET", f"/jobs/{FINISHED_JOB}/vertices/{SRC}/taskmanagers")
    (only,) = f.body["taskmanagers"]
    assert only["status"] == "FINISHED" and only["status-counts"]["FINISHED"] == 2
    assert (only["end-time"], only["duration"]) == (T0 + 1000, 970)
    assert only["metrics"]["write-bytes"] == 12


# -- taskmanagers -------------------------------------------------------------------------


def test_taskmanagers_list():
    a = request(StubCluster(), "GET", "/taskmanagers")
    check_spec("GET", "/taskmanagers", a)
    check_reference("/taskmanagers", a.body)
    tm = a.body["taskmanagers"][0]
    assert tm["id"] == TM1 and tm["path"] == "127.0.0.1:33367" and tm["dataPort"] == 36377
    assert (tm["slotsNumber"], tm["freeSlots"]) == (2, 1)
    assert tm["timeSinceLastHeartbeat"] == T0 + 99
    assert tm["hardware"]["cpuCores"] == 8
    assert a.body["taskmanagers"][1]["hardware"] == {
        "cpuCores": 0, "physicalMemory": 0, "freeMemory": 0, "managedMemory": 0}


def test_taskmanager_details():
    a = request(StubCluster(), "GET", f"/taskmanagers/{TM1}")
    check_spec("GET", "/taskmanagers/:taskmanagerid", a)
    check_reference("/taskmanagers/:taskmanagerid", a.body)
    m = a.body["metrics"]
    assert m["heapUsed"] == m["heapCommitted"] == 50 << 20
    assert m["heapMax"] == 16 << 30
    assert m["nonHeapUsed"] == m["directMax"] == m["memorySegmentsTotal"] == 0
    assert m["garbageCollectors"] == [{"name": "generation0", "count": 40, "time": 12},
                                      {"name": "generation1", "count": 3, "time": 2}]
    b = request(StubCluster(), "GET", f"/v1/taskmanagers/{TM2}")
    check_spec("GET", "/taskmanagers/:taskmanagerid", b)
    assert b.body["metrics"]["garbageCollectors"] == []


def test_unknown_taskmanager_is_404():
    a = request(StubCluster(), "GET", "/taskmanagers/nope")
    assert a.status == 404 and a.body == {"errors": ["Could not find TaskExecutor nope."]}
