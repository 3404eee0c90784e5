"""Routing, versioning, parameter validation and error answers of the REST server."""

from __future__ import annotations

import asyncio
import json

import pytest

from headwater.rest.endpoints import ENDPOINTS
from tests.paths import SPEC
from tests.unit.test_rest_handlers import (
    RUNNING_JOB,
    SRC,
    TM1,
    StubCluster,
    request,
    serve,
)

SAMPLE = {
    "jobid": RUNNING_JOB, "vertexid": SRC, "triggerid": "0123456789abcdef0123456789abcdef",
    "datasetid": "0123456789abcdef0123456789abcdef", "checkpointid": "1", "subtaskindex": "0",
    "attempt": "0", "taskmanagerid": TM1, "jarid": "job.py", "logname": "jobmanager.log",
}


def concrete(template: str) -> str:
    """The template with a valid sample value for each parameter."""
    return "/" + "/".join(SAMPLE[s[1:]] if s.startswith(":") else s
                          for s in template.split("/") if s)


def test_every_spec_endpoint_is_declared_once():
    if not SPEC.is_file():
        pytest.fail(f"REST spec missing: {SPEC}")
    spec = json.loads(SPEC.read_text())["endpoints"]
    declared = [(e.method, e.path) for e in ENDPOINTS if e.in_spec]
    assert len(declared) == len(set(declared)) == len(spec) == 57
    by_key = {(e.method, e.path): e for e in ENDPOINTS}
    for s in spec:
        ep = by_key[(s["method"], s["path"])]
        assert ep.status == s["status"]
        assert [p.name for p in ep.path_params] == [p["name"] for p in s["path_params"]]
        assert [(q.name, q.required) for q in ep.query_params] == [
            (q["name"], q["required"]) for q in s["query_params"]]
        assert ep.description and ep.handler is not None
    extras = {(e.method, e.path) for e in ENDPOINTS if not e.in_spec}
    assert extras == {("GET", p) for p in (
        "/jobmanager/log", "/jobmanager/stdout", "/jobmanager/logs/:logname",
        "/jobmanager/thread-dump", "/taskmanagers/:taskmanagerid/log",
        "/taskmanagers/:taskmanagerid/stdout", "/taskmanagers/:taskmanagerid/logs/:logname",
        "/jobs/:jobid/status", "/jobs/:jobid/checkpoints/:triggerid",
        "/jobs/:jobid/resource-requirements", "/openapi.json", "/events",
        "/jobs/:jobid/vertices/:vertexid/flamegraph")} | {
        ("POST", "/jobs/:jobid/checkpoints"), ("PUT", "/jobs/:jobid/resource-requirements")}


def test_every_endpoint_is_routed_with_and_without_v1():
    """Each declaration reaches its own handler: 501 for the not-yet-implemented ones
    (naming exactly that endpoint), never 404/405/400 for valid parameters."""
    async def go():
        results = []
        async with serve(StubCluster()) as call:
            for ep in ENDPOINTS:
                if ep.media_type != "application/json":
                    continue  # a stream that never ends: tests/unit/test_events.py
                path = concrete(ep.path)
                if ep.method == "PATCH" and ep.path == "/jobs/:jobid/rescaling":
                    path += "?parallelism=2"
                for prefix in ("", "/v1"):
                    a = await call(ep.method, prefix + path, allow_redirects=False)
                    results.append((ep, prefix, a))
        return results

    for ep, prefix, a in asyncio.run(go()):
        where = f"{ep.method} {prefix}{ep.path}"
        assert a.headers["Content-Type"].startswith("application/json"), where
        assert "Access-Control-Allow-Origin" not in a.headers, where
        assert a.status not in (405, 501), (where, a)
        # A handler's own 404 (unknown jar, log file...) is fine; the router's is not.
        assert a.status != 404 or "Unable to load" not in a.body["errors"][0], (where, a)
        assert a.status < 500 or ep.path == "/jobs", (where, a)


def test_v1_and_unversioned_answer_the_same():
    cluster = StubCluster()
    assert request(cluster, "GET", "/v1/jobs").body == request(cluster, "GET", "/jobs").body
    assert request(cluster, "GET", "/v1/taskmanagers").body == request(
        cluster, "GET", "/taskmanagers").body


@pytest.mark.parametrize("path", ["/v99/overview", "/no/such/path", "/v1/no/such", "/v1",
                                  "/no-such-file.js", "/v2/jobs", "/jobs/overview/extra", "/overview/x"])
def test_unknown_paths_are_404_in_flinks_words(path):
    a = request(StubCluster(), "GET", path)
    assert a.status == 404
    assert a.body == {"errors": [f"Unable to load requested file {path}."]}
    assert a.headers["Content-Type"].startswith("application/json")


def test_trailing_slash_and_upper_case_ids():
    assert request(StubCluster(), "GET", "/jobs/").status == 200
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB.upper()}")
    assert a.status == 200 and a.body["jid"] == RUNNING_JOB


@pytest.mark.parametrize("method,path", [
    ("PUT", "/overview"), ("POST", "/config"), ("DELETE", "/jobs"),
    ("POST", "/jobs/overview"), ("POST", f"/jobs/{RUNNING_JOB}"),
    ("GET", "/jars/upload"), ("POST", f"/v1/jobs/{RUNNING_JOB}/plan"),
])
def test_wrong_verb_is_405(method, path):
    a = request(StubCluster(), method, path)
    assert a.status == 405, a
    assert len(a.body["errors"]) == 1 and method in a.body["errors"][0]
    assert "Allow" in a.headers


def test_literal_segments_beat_parameters():
    assert request(StubCluster(), "GET", "/jobs/overview").body.keys() == {"jobs"}
    # The aggregating metric handlers answer (an empty list without a metric store),
    # not /taskmanagers/:taskmanagerid or .../subtasks/:subtaskindex.
    assert request(StubCluster(), "GET", "/taskmanagers/metrics").body == []
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}/vertices/{SRC}/subtasks/metrics")
    assert (a.status, a.body) == (200, [])
    # A verb only the parameter template has: the parameter must then parse.
    b = request(StubCluster(), "PATCH", "/jobs/overview")
    assert b.status == 400


@pytest.mark.parametrize("path,param,value", [
    ("/jobs/not-a-job-id", "jobid", "not-a-job-id"),
    (f"/jobs/{RUNNING_JOB}x", "jobid", f"{RUNNING_JOB}x"),
    (f"/jobs/{RUNNING_JOB}/vertices/zz", "vertexid", "zz"),
    (f"/jobs/{RUNNING_JOB}/vertices/{SRC}/subtasks/-1", "subtaskindex", "-1"),
    (f"/jobs/{RUNNING_JOB}/vertices/{SRC}/subtasks/one", "subtaskindex", "one"),
    (f"/jobs/{RUNNING_JOB}/vertices/{SRC}/subtasks/99999999999", "subtaskindex",
     "99999999999"),
    (f"/jobs/{RUNNING_JOB}/vertices/{SRC}/subtasks/0/attempts/x", "attempt", "x"),
    (f"/jobs/{RUNNING_JOB}/checkpoints/details/abc", "checkpointid", "abc"),
    (f"/jobs/{RUNNING_JOB}/savepoints/123", "triggerid", "123"),
    ("/v1/jobs/not-a-job-id/plan", "jobid", "not-a-job-id"),
])
def test_malformed_path_parameters_are_400(path, param, value):
    a = request(StubCluster(), "GET", path)
    assert a.status == 400
    assert a.body == {"errors": [f"Bad request, could not parse parameters: Cannot resolve "
                                 f'path parameter ({param}) from value "{value}".']}


@pytest.mark.parametrize("method,path,param", [
    ("GET", "/jobs/metrics?agg=median", "agg"),
    ("GET", "/jobs/metrics?jobs=abc", "jobs"),
    ("GET", f"/jobs/{RUNNING_JOB}/exceptions?maxExceptions=-1", "maxExceptions"),
    ("GET", f"/jobs/{RUNNING_JOB}/vertices/{SRC}/subtasks/metrics?subtasks=3-1", "subtasks"),
    ("PATCH", f"/jobs/{RUNNING_JOB}/rescaling?parallelism=0", "parallelism"),
    ("GET", f"/jobs/{RUNNING_JOB}/accumulators?includeSerializedValue=maybe",
     "includeSerializedValue"),
    ("PATCH", f"/jobs/{RUNNING_JOB}?mode=", "mode"),
])
def test_malformed_query_parameters_are_400(method, path, param):
    a = request(StubCluster(), method, path)
    assert a.status == 400, a
    assert a.body["errors"][0].startswith(
        f"Bad request, could not parse parameters: Cannot resolve query parameter ({param})")


def test_missing_mandatory_query_parameter_is_400():
    a = request(StubCluster(), "PATCH", f"/jobs/{RUNNING_JOB}/rescaling")
    assert a.status == 400
    assert a.body == {"errors": ["Bad request, could not parse parameters: Query parameter "
                                 "(parallelism) is mandatory."]}


def test_valid_query_parameters_reach_the_handler():
    ok = [f"/jobs/{RUNNING_JOB}/vertices/{SRC}/subtasks/metrics?subtasks=0,1-3&agg=MIN,max",
          "/jobs/metrics?get=a,b&get=c"]
    for path in ok:
        assert request(StubCluster(), "GET", path).status == 200
    unknown_params_are_ignored = request(StubCluster(), "GET", "/overview?whatever=1")
    assert unknown_params_are_ignored.status == 200


class ExplodingCluster(StubCluster):
    """A gateway whose job listing fails."""

    def execution_graphs(self):
        raise RuntimeError("kaput")


def test_handler_exception_is_500_and_server_keeps_serving():
    async def go():
        async with serve(ExplodingCluster()) as call:
            first = await call("GET", "/jobs")
            second = await call("GET", "/taskmanagers")
            return first, second

    first, second = asyncio.run(go())
    assert first.status == 500
    assert first.headers["Content-Type"].startswith("application/json")
    assert len(first.body["errors"]) == 1 and "kaput" in first.body["errors"][0]
    assert second.status == 200


