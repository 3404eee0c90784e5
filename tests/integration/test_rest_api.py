"""Every REST answer of the foundation, from a real cluster, against the spec and Flink."""

from __future__ import annotations

import re
import time

import psutil
import pytest

from headwater.client import RestError
from tests.integration.conftest import EXAMPLES, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of
from tests.spec_check import reference, same_shape, spec_errors

FAILING = '''
from headwater.api import StreamExecutionEnvironment

def explode(x):
    if x == 3:
        raise RuntimeError("kaput")
    return x

env = StreamExecutionEnvironment.get_execution_environment()
env.from_sequence(1, 10).map(explode).add_sink(lambda x: None)
env.execute("failing")
'''

ISSUE_TEMPLATES = [
    "/jobs/:jobid", "/jobs/:jobid/plan", "/jobs/:jobid/config",
    "/jobs/:jobid/execution-result", "/jobs/:jobid/exceptions",
]
VERTEX_TEMPLATES = [
    "/jobs/:jobid/vertices/:vertexid",
    "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex",
    "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt",
    "/jobs/:jobid/vertices/:vertexid/subtasktimes",
    "/jobs/:jobid/vertices/:vertexid/taskmanagers",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """2 TaskManagers with 2 slots each: room for a job running beside the others."""
    c = start_cluster(tmp_path_factory.mktemp("rest"), taskmanagers=2, slots=2)
    yield c
    stop_cluster(c)


@pytest.fixture(scope="module")
def jobs(cluster, tmp_path_factory):
    """One job in each state: RUNNING, FINISHED, CANCELED, FAILED."""
    running = job_id_of(cluster.run("-d", str(EXAMPLES / "streaming.py"),
                                    "--parallelism", "1").stdout)
    finished = job_id_of(cluster.run(str(EXAMPLES / "wordcount.py"), "--lines", "300",
                                     "--parallelism", "2", "--output",
                                     str(tmp_path_factory.mktemp("o") / "c.txt")).stdout)
    canceled = job_id_of(cluster.run("-d", str(EXAMPLES / "streaming.py"),
                                     "--parallelism", "1").stdout)
    cluster.wait_until_running(canceled)
    cluster.client.cancel_job(canceled)
    cluster.wait_for_state(canceled, {"CANCELED"})
    script = tmp_path_factory.mktemp("f") / "failing.py"
    script.write_text(FAILING)
    failed = job_id_of(cluster.run(str(script), check=False).stdout)
    cluster.wait_for_state(failed, {"FAILED"})
    cluster.wait_until_running(running)
    return {"RUNNING": running, "FINISHED": finished, "CANCELED": canceled, "FAILED": failed}


def get(cluster, path: str, **params):
    return cluster.client.request("GET", path, params=params or None)


def check(template: str, body, method: str = "GET", status: int = 200) -> None:
    assert spec_errors(method, template, status, body) == []
    ref = reference(template, method)
    assert same_shape(body, ref) == [], (template, same_shape(body, ref))


@pytest.mark.parametrize("state", ["RUNNING", "FINISHED", "CANCELED", "FAILED"])
def test_job_endpoints_match_spec_and_flink(cluster, jobs, state):
    job_id = jobs[state]
    for template in ISSUE_TEMPLATES:
        body = get(cluster, template.replace(":jobid", job_id))
        assert spec_errors("GET", template, 200, body) == [], template
    job = get(cluster, f"/jobs/{job_id}")
    assert job["state"] == state
    assert job["jid"] == job_id
    if len(job["vertices"]) == 2:  # same shape as Flink's two-vertex reference job
        check("/jobs/:jobid", job)
    assert job["timestamps"]["INITIALIZING"] <= job["timestamps"]["CREATED"] \
        <= job["timestamps"]["RUNNING"]
    assert sum(job["status-counts"].values()) == len(job["vertices"])
    if state == "RUNNING":
        assert job["end-time"] == -1 and job["duration"] > 0
    else:
        assert job["end-time"] == job["timestamps"][state if state != "CANCELED" else "CANCELED"]
        assert job["duration"] == job["end-time"] - job["start-time"]
    for vertex in job["vertices"]:
        base = f"/jobs/{job_id}/vertices/{vertex['id']}"
        for template in VERTEX_TEMPLATES:
            path = (template.replace(":jobid", job_id).replace(":vertexid", vertex["id"])
                    .replace(":subtaskindex", "0").replace(":attempt", "0"))
            body = get(cluster, path)
            assert spec_errors("GET", template, 200, body) == [], (template, body)
        detail = get(cluster, base)
        assert detail["parallelism"] == vertex["parallelism"] == len(detail["subtasks"])
        subtask = get(cluster, f"{base}/subtasks/0")
        attempt = get(cluster, f"{base}/subtasks/0/attempts/0")
        assert subtask["attempt"] == attempt["attempt"] == 0
        assert subtask["taskmanager-id"] in {tm["id"] for tm in
                                             get(cluster, "/taskmanagers")["taskmanagers"]}
        times = get(cluster, f"{base}/subtasktimes")
        assert times["subtasks"][0]["timestamps"]["DEPLOYING"] > 0
    plan = get(cluster, f"/jobs/{job_id}/plan")["plan"]
    assert {n["id"] for n in plan["nodes"]} == {v["id"] for v in job["vertices"]}


def test_execution_results_and_exceptions(cluster, jobs):
    running = get(cluster, f"/jobs/{jobs['RUNNING']}/execution-result")
    assert running == {"status": {"id": "IN_PROGRESS"}}
    done = get(cluster, f"/jobs/{jobs['FINISHED']}/execution-result")
    assert done["status"]["id"] == "COMPLETED"
    assert done["job-execution-result"]["application-status"] == "SUCCEEDED"
    assert "word-counts" in done["job-execution-result"]["accumulator-results"]
    failed = get(cluster, f"/jobs/{jobs['FAILED']}/execution-result")
    assert failed["job-execution-result"]["application-status"] == "FAILED"
    assert "kaput" in failed["job-execution-result"]["failure-cause"]["stack-trace"]
    exceptions = get(cluster, f"/jobs/{jobs['FAILED']}/exceptions")
    assert "RuntimeError: kaput" in exceptions["root-exception"]
    entry = exceptions["all-exceptions"][0]
    assert entry["task"].startswith("Source: Sequence Source") or "Map" in entry["task"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", entry["location"])
    limited = get(cluster, f"/jobs/{jobs['FAILED']}/exceptions", maxExceptions="0")
    assert limited["all-exceptions"] == [] and limited["truncated"] is True
    clean = get(cluster, f"/jobs/{jobs['FINISHED']}/exceptions")
    assert clean["root-exception"] is None and clean["all-exceptions"] == []


def test_cluster_endpoints(cluster, jobs):
    overview = get(cluster, "/overview")
    check("/overview", overview)
    assert overview["taskmanagers"] == 2 and overview["slots-total"] == 4
    assert overview["jobs-running"] >= 1 and overview["jobs-finished"] >= 1
    assert overview["jobs-cancelled"] >= 1 and overview["jobs-failed"] >= 1
    assert overview["flink-version"] == "1.12.5"
    check("/config", get(cluster, "/config"))
    jobs_list = get(cluster, "/jobs")
    assert {j["id"] for j in jobs_list["jobs"]} >= set(jobs.values())
    jobs_overview = get(cluster, "/jobs/overview")
    check("/jobs/overview", jobs_overview)
    states = {j["jid"]: j["state"] for j in jobs_overview["jobs"]}
    assert all(states[jid] == state for state, jid in jobs.items())
    tms = get(cluster, "/taskmanagers")
    check("/taskmanagers", tms)
    for tm in tms["taskmanagers"]:
        detail = get(cluster, f"/taskmanagers/{tm['id']}")
        check("/taskmanagers/:taskmanagerid", detail)
        assert detail["hardware"]["physicalMemory"] == psutil.virtual_memory().total
        assert detail["hardware"]["cpuCores"] == psutil.cpu_count()
        assert detail["metrics"]["heapUsed"] > 1_000_000  # a real resident set size
        assert time.time() * 1000 - detail["timeSinceLastHeartbeat"] < 10_000
    config = get(cluster, "/jobmanager/config")
    assert {"key": "rest.port", "value": str(cluster.port)} in config


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/jobs/not-a-job-id", 400),
    ("GET", "/jobs/00000000000000000000000000000000", 404),
    ("GET", "/jobs/00000000000000000000000000000000/plan", 404),
    ("GET", "/v99/overview", 404),
    ("GET", "/no/such/path", 404),
    ("PUT", "/jobs", 405),
    ("DELETE", "/overview", 405),
])
def test_error_answers(cluster, method, path, status):
    with pytest.raises(RestError) as err:
        cluster.client.request(method, path)
    assert err.value.status == status
    assert err.value.errors and all(isinstance(e, str) for e in err.value.errors)


def test_vertex_and_subtask_errors(cluster, jobs):
    job_id = jobs["FINISHED"]
    vertex = get(cluster, f"/jobs/{job_id}")["vertices"][0]["id"]
    for path, status in [
        (f"/jobs/{job_id}/vertices/ffffffffffffffffffffffffffffffff", 404),
        (f"/jobs/{job_id}/vertices/xyz", 400),
        (f"/jobs/{job_id}/vertices/{vertex}/subtasks/99", 404),
        (f"/jobs/{job_id}/vertices/{vertex}/subtasks/-1", 400),
        (f"/jobs/{job_id}/vertices/{vertex}/subtasks/0/attempts/7", 404),
        (f"/jobs/{job_id}/vertices/{vertex}/subtasks/0/attempts/x", 400),
        ("/taskmanagers/no-such-tm", 404),
    ]:
        with pytest.raises(RestError) as err:
            get(cluster, path)
        assert err.value.status == status, path
    with pytest.raises(RestError) as err:
        cluster.client.request("PATCH", f"/jobs/{job_id}", params={"mode": "explode"})
    assert err.value.status == 400


def test_v1_prefix_reaches_the_same_handlers(cluster, jobs):
    job_id = jobs["FINISHED"]
    assert get(cluster, f"/v1/jobs/{job_id}")["jid"] == job_id
    assert get(cluster, "/v1/overview")["flink-version"] == "1.12.5"


def test_cancel_through_rest(cluster):
    job_id = job_id_of(cluster.run("-d", str(EXAMPLES / "streaming.py")).stdout)
    cluster.wait_until_running(job_id)
    assert cluster.client.request("PATCH", f"/jobs/{job_id}", params={"mode": "cancel"}) == {}
    job = cluster.wait_for_state(job_id, {"CANCELED"})
    assert job["status-counts"]["CANCELED"] == len(job["vertices"])


def test_cluster_data_sets(cluster):
    """No job cached anything on this cluster: the list is empty; deleting an unknown data
    set is a 404, a malformed id a 400 (the caching itself: tests/integration/
    test_batch_mode.py)."""
    listing = get(cluster, "/datasets")
    check("/datasets", listing)
    assert listing == {"dataSets": []}
    with pytest.raises(RestError) as err:
        cluster.client.request("DELETE", "/datasets/0123456789abcdef0123456789abcdef")
    assert err.value.status == 404 and "does not exist" in err.value.errors[0]
    with pytest.raises(RestError) as err:
        cluster.client.request("DELETE", "/datasets/not-an-id")
    assert err.value.status == 400
    with pytest.raises(RestError) as err:
        get(cluster, "/datasets/delete/0123456789abcdef0123456789abcdef")
    assert err.value.status == 404
