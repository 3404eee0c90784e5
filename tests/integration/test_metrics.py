"""Metrics, back-pressure, watermarks and accumulators on a real mini cluster.

The JobManager runs in-process, the two TaskManagers are subprocesses; every figure the
tests read comes through the REST API (or the Prometheus port) from the running engine.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from headwater.api import (
    IntCounter,
    MapFunction,
    SinkFunction,
    SourceFunction,
    StreamExecutionEnvironment,
)
from headwater.cluster.minicluster import MiniCluster
from headwater.config import Configuration
from headwater.testing import wait_for
from tests.integration.conftest import free_port
from tests.spec_check import spec_errors


@pytest.fixture(scope="module")
def cluster():
    prom = free_port()
    c = MiniCluster(Configuration({"rest.port": 0, "metrics.reporter.prom.port": prom,
                                   "metrics.fetcher.update-interval": 200}),
                    taskmanagers=2).start()
    c.prometheus_port = prom
    yield c
    c.stop()


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET (error statuses too)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def get(cluster, path: str, status: int = 200):
    code, text = http_get(cluster.rest_url + path)
    assert code == status, (path, code, text)
    return json.loads(text)


def checked(cluster, template: str, path: str):
    """GET ``path`` and validate the answer against the spec schema of ``template``."""
    body = get(cluster, path)
    errors = spec_errors("GET", template, 200, body)
    assert not errors, (path, errors)
    return body


def values(body: list[dict]) -> dict[str, str]:
    return {m["id"]: m["value"] for m in body}


def submit(cluster, env: StreamExecutionEnvironment, name: str, **config) -> tuple[str, list]:
    graph = env.get_job_graph(name)
    graph.configuration.update(config)
    job_id = cluster.submit(graph)
    wait_for(lambda: get(cluster, f"/jobs/{job_id}")["state"] == "RUNNING"
             and all(v["status"] in ("RUNNING", "FINISHED")
                     for v in get(cluster, f"/jobs/{job_id}")["vertices"]),
             30, 0.2, "job and subtasks running")
    return job_id, [v["id"] for v in get(cluster, f"/jobs/{job_id}")["vertices"]]


def cancel(cluster, job_id: str) -> None:
    cluster.cancel(job_id)
    cluster.wait(job_id, timeout=60)


class Paced(SourceFunction):
    """Emits ``per_tick`` integers (with event timestamps and watermarks) every ``tick``
    seconds until cancelled."""

    def __init__(self, per_tick: int = 50, tick: float = 0.01, stop_after: int = -1) -> None:
        self.per_tick = per_tick
        self.tick = tick
        self.stop_after = stop_after
        self.running = True

    def run(self, ctx) -> None:
        i = 0
        next_tick = time.monotonic()
        while self.running:
            if self.stop_after < 0 or i < self.stop_after:
                for _ in range(self.per_tick):
                    ctx.collect_with_timestamp(i, i)
                    i += 1
                ctx.emit_watermark(i - 1)
            next_tick += self.tick
            time.sleep(max(0.0, next_tick - time.monotonic()))  # the source's pace

    def cancel(self) -> None:
        self.running = False


class SleepySink(SinkFunction):
    def __init__(self, sleep: float) -> None:
        self.sleep = sleep

    def invoke(self, value, context=None) -> None:
        if self.sleep:
            time.sleep(self.sleep)  # a slow sink on purpose: it backpressures


def _levels(cluster, job_id: str, vertex_id: str) -> dict:
    return get(cluster, f"/jobs/{job_id}/vertices/{vertex_id}/backpressure")


@pytest.mark.parametrize("sleep,upstream", [(0.002, "high"), (0.0, "ok")])
def test_backpressure_comes_from_blocked_output(cluster, sleep, upstream):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.add_source(Paced(per_tick=50, tick=0.01)).name("paced").rebalance() \
        .add_sink(SleepySink(sleep)).name("sink")
    job_id, (source, sink) = submit(cluster, env, f"bp-{upstream}",
                                    **{"taskmanager.network.batch-size": 16})
    try:
        if upstream == "high":
            answer = wait_for(lambda: (a := _levels(cluster, job_id, source)).get(
                "backpressure-level") == "high" and a, 30, 0.2, "high backpressure")
        else:
            time.sleep(3)  # no backpressure shows only over time: sample for a while
            answer = _levels(cluster, job_id, source)
        assert not spec_errors("GET", "/jobs/:jobid/vertices/:vertexid/backpressure", 200,
                               answer)
        assert answer["status"] == "ok"
        assert answer["backpressure-level"] == upstream, answer
        assert [s["subtask"] for s in answer["subtasks"]] == [0]
        if upstream == "high":
            assert answer["subtasks"][0]["ratio"] > 0.5
        assert answer["end-timestamp"] > 0
        downstream = _levels(cluster, job_id, sink)
        assert downstream["backpressure-level"] == "ok", downstream
        assert downstream["subtasks"][0]["ratio"] == 0.0
    finally:
        cancel(cluster, job_id)


def test_record_counts_of_a_bounded_job_are_exact(cluster):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.from_sequence(1, 5000).map(lambda x: x).name("double") \
        .filter(lambda x: x % 5 == 0).name("fifths").disable_chaining() \
        .add_sink(SleepySink(0)).name("sink")
    job_id = cluster.submit(env.get_job_graph("counts"))
    assert cluster.wait(job_id, timeout=60).state.value == "FINISHED"
    vertices = [v["id"] for v in get(cluster, f"/jobs/{job_id}")["vertices"]]
    source, fifths = vertices[0], vertices[1]
    src = values(get(cluster, f"/jobs/{job_id}/vertices/{source}/metrics"
                              "?get=0.numRecordsOut,1.numRecordsOut,0.double.numRecordsIn,"
                              "1.double.numRecordsIn"))
    assert int(src["0.numRecordsOut"]) + int(src["1.numRecordsOut"]) == 5000
    assert int(src["0.double.numRecordsIn"]) + int(src["1.double.numRecordsIn"]) == 5000
    agg = get(cluster, f"/jobs/{job_id}/vertices/{fifths}/subtasks/metrics"
                       "?get=numRecordsIn,fifths.numRecordsOut&agg=sum")
    assert {m["id"]: m["sum"] for m in agg} == {"numRecordsIn": 5000.0,
                                                 "fifths.numRecordsOut": 1000.0}


def test_rates_match_the_counts_over_time(cluster):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.add_source(Paced(per_tick=20, tick=0.01)).name("paced").rebalance() \
        .add_sink(SleepySink(0)).name("sink")
    job_id, (source, _) = submit(cluster, env, "rates")
    try:
        path = (f"/jobs/{job_id}/vertices/{source}/subtasks/0/metrics"
                "?get=numRecordsOut,numRecordsOutPerSecond,busyTimeMsPerSecond")
        time.sleep(3)  # the rate gauges average over a window: let it fill
        first, t0 = values(get(cluster, path)), time.monotonic()
        time.sleep(3)  # measures the count's rate over 3 s of wall time
        second, t1 = values(get(cluster, path)), time.monotonic()
        measured = (int(second["numRecordsOut"]) - int(first["numRecordsOut"])) / (t1 - t0)
        reported = float(second["numRecordsOutPerSecond"])
        assert 1000 < measured <= 2100  # the source's own pace: at most 2000/s
        assert reported == pytest.approx(measured, rel=0.35)
        assert 0 <= float(second["busyTimeMsPerSecond"]) <= 1000
    finally:
        cancel(cluster, job_id)


class CountingMap(MapFunction):
    def open(self, runtime_context) -> None:
        self.seen = IntCounter()
        runtime_context.add_accumulator("seen", self.seen)
        self.user = runtime_context.get_metrics_group().add_group("mine").counter("seen")

    def map(self, value):
        self.seen.add(1)
        self.user.inc()
        return value


class PerSubtask(SourceFunction):
    """Subtask i emits 100 * (i + 1) records, then (if ``linger``) waits to be cancelled."""

    def __init__(self, linger: bool) -> None:
        self.linger = linger
        self.running = True

    def open(self, runtime_context) -> None:
        self.count = 100 * (runtime_context.get_index_of_this_subtask() + 1)

    def run(self, ctx) -> None:
        for i in range(self.count):
            ctx.collect(i)
        while self.linger and self.running:
            time.sleep(0.05)  # stays running (idle) until cancelled

    def cancel(self) -> None:
        self.running = False


def _accumulator_answers(cluster, job_id: str, vertex: str) -> tuple:
    job = checked(cluster, "/jobs/:jobid/accumulators",
                  f"/jobs/{job_id}/accumulators?includeSerializedValue=true")
    merged = checked(cluster, "/jobs/:jobid/vertices/:vertexid/accumulators",
                     f"/jobs/{job_id}/vertices/{vertex}/accumulators")
    subtasks = checked(cluster, "/jobs/:jobid/vertices/:vertexid/subtasks/accumulators",
                       f"/jobs/{job_id}/vertices/{vertex}/subtasks/accumulators")
    attempt = checked(
        cluster,
        "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt/accumulators",
        f"/jobs/{job_id}/vertices/{vertex}/subtasks/1/attempts/0/accumulators")
    return job, merged, subtasks, attempt


@pytest.mark.parametrize("linger", [True, False], ids=["running", "finished"])
def test_accumulators_per_subtask_and_merged(cluster, linger):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.add_source(PerSubtask(linger)).name("counted").map(CountingMap()).name("count") \
        .add_sink(SleepySink(0)).name("sink")
    graph = env.get_job_graph(f"accumulators-{linger}")
    job_id = cluster.submit(graph)
    vertex = graph.vertices[0].vertex_id
    try:
        if linger:
            wait_for(lambda: [a["value"] for a in get(
                cluster, f"/jobs/{job_id}/accumulators")["user-task-accumulators"]] == ["300"],
                30, 0.2, "accumulators of all records")
        else:
            assert cluster.wait(job_id, timeout=60).state.value == "FINISHED"
        job, merged, subtasks, attempt = _accumulator_answers(cluster, job_id, vertex)
        entry = {"name": "seen", "type": "IntCounter", "value": "300"}
        assert job["user-task-accumulators"] == [entry]
        assert job["job-accumulators"] == []
        assert set(job["serialized-user-task-accumulators"]) == {"seen"}
        assert merged == {"id": vertex, "user-accumulators": [entry]}
        assert subtasks["parallelism"] == 2
        assert [(s["subtask"], s["attempt"], s["user-accumulators"][0]["value"])
                for s in subtasks["subtasks"]] == [(0, 0, "100"), (1, 0, "200")]
        assert attempt["user-accumulators"] == [{**entry, "value": "200"}]
        assert (attempt["subtask"], attempt["attempt"]) == (1, 0) and len(attempt["id"]) == 32
        user = get(cluster, f"/jobs/{job_id}/vertices/{vertex}/subtasks/metrics"
                            "?get=count.mine.seen&agg=sum,max")
        assert user == [{"id": "count.mine.seen", "sum": 300.0, "max": 200.0}] or not linger
    finally:
        if linger:
            cancel(cluster, job_id)


def test_watermarks_advance(cluster):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.add_source(Paced(per_tick=10, tick=0.01)).name("timed").rebalance() \
        .add_sink(SleepySink(0)).name("sink")
    job_id, (source, sink) = submit(cluster, env, "watermarks")
    try:
        path = f"/jobs/{job_id}/vertices/{sink}/watermarks"
        first = wait_for(lambda: (w := checked(cluster, "/jobs/:jobid/vertices/:vertexid/"
                                               "watermarks", path)) and len(w) == 2 and w,
                         30, 0.2, "watermarks of both subtasks")
        assert [w["id"] for w in first] == ["0.currentInputWatermark", "1.currentInputWatermark"]
        wait_for(lambda: all(int(b["value"]) > int(a["value"]) > -(2**63)
                             for a, b in zip(first, get(cluster, path), strict=True)),
                 30, 0.2, lambda: f"watermarks advance from {first}: {get(cluster, path)}")
        # Sources have no input watermark (as in Flink).
        assert get(cluster, f"/jobs/{job_id}/vertices/{source}/watermarks") == []
    finally:
        cancel(cluster, job_id)


def test_every_metric_endpoint_answers_flinks_forms(cluster):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.add_source(Paced(per_tick=10, tick=0.01)).name("paced").rebalance() \
        .add_sink(SleepySink(0)).name("sink")
    job_id, (source, sink) = submit(cluster, env, "forms")
    try:
        wait_for(lambda: get(cluster, f"/jobs/{job_id}/vertices/{sink}/subtasks/metrics"
                                      "?get=numRecordsIn&subtasks=1&agg=sum")[0]["sum"] > 0
                 and f'job_id="{job_id}"' in http_get(
                     f"http://127.0.0.1:{cluster.prometheus_port}/metrics")[1],
                 30, 0.2, "records reached both sink subtasks and the Prometheus reporter")
        tms = [tm["id"] for tm in get(cluster, "/taskmanagers")["taskmanagers"]]
        jm = checked(cluster, "/jobmanager/metrics", "/jobmanager/metrics")
        ids = {m["id"] for m in jm}
        assert {"numRegisteredTaskManagers", "numRunningJobs", "taskSlotsTotal",
                "taskSlotsAvailable", "Status.JVM.CPU.Load", "Status.JVM.Memory.Heap.Used",
                "Status.JVM.Threads.Count"} <= ids
        got = values(get(cluster, "/jobmanager/metrics?get=taskSlotsTotal,numRegisteredTaskManagers,nope"))
        assert got == {"taskSlotsTotal": "2", "numRegisteredTaskManagers": "2"}

        tm_ids = {m["id"] for m in checked(cluster, "/taskmanagers/:taskmanagerid/metrics",
                                           f"/taskmanagers/{tms[0]}/metrics")}
        assert "Status.JVM.GarbageCollector.generation0.Count" in tm_ids
        assert get(cluster, "/taskmanagers/nosuch/metrics") == []
        agg = checked(cluster, "/taskmanagers/metrics",
                      "/taskmanagers/metrics?get=Status.JVM.Threads.Count")
        assert set(agg[0]) == {"id", "min", "max", "sum", "avg"}
        one = get(cluster, f"/taskmanagers/metrics?get=Status.JVM.Threads.Count&agg=max"
                           f"&taskmanagers={tms[0]}")
        assert set(one[0]) == {"id", "max"}

        job = values(checked(cluster, "/jobs/:jobid/metrics",
                             f"/jobs/{job_id}/metrics?get=uptime,numRestarts,"
                             "lastCheckpointDuration,lastCheckpointExternalPath"))
        assert int(job["uptime"]) > 0 and job["numRestarts"] == "0"
        assert job["lastCheckpointDuration"] == "-1"
        assert job["lastCheckpointExternalPath"] == "n/a"
        jobs = checked(cluster, "/jobs/metrics",
                       f"/jobs/metrics?get=numRestarts&agg=min,max,sum,avg&jobs={job_id}")
        assert jobs == [{"id": "numRestarts", "min": 0.0, "max": 0.0, "sum": 0.0, "avg": 0.0}]

        vertex_ids = {m["id"] for m in checked(cluster, "/jobs/:jobid/vertices/:vertexid/metrics",
                                               f"/jobs/{job_id}/vertices/{source}/metrics")}
        assert {"0.numRecordsOut", "1.numRecordsOutPerSecond", "0.Source__paced.numRecordsOut",
                "1.buffers.outPoolUsage", "0.backPressuredTimeMsPerSecond"} <= vertex_ids
        sub = checked(cluster, "/jobs/:jobid/vertices/:vertexid/subtasks/metrics",
                      f"/jobs/{job_id}/vertices/{sink}/subtasks/metrics"
                      "?get=numRecordsIn&subtasks=0-1&agg=sum")
        total = float(sub[0]["sum"])
        only_one = get(cluster, f"/jobs/{job_id}/vertices/{sink}/subtasks/metrics"
                                "?get=numRecordsIn&subtasks=1&agg=sum")
        assert 0 < only_one[0]["sum"] <= total + 10_000
        one = values(checked(cluster, "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/"
                                      "metrics",
                             f"/jobs/{job_id}/vertices/{sink}/subtasks/0/metrics"
                             "?get=currentInputWatermark,isBackPressured,buffers.inPoolUsage"))
        assert one["isBackPressured"] in ("true", "false")
        assert 0.0 <= float(one["buffers.inPoolUsage"]) <= 1.0

        for bad in ("/jobs/metrics?agg=median", "/jobs/metrics?jobs=xyz",
                    f"/jobs/{job_id}/vertices/{sink}/subtasks/metrics?subtasks=3-1",
                    f"/jobs/{job_id}/vertices/{sink}/subtasks/metrics?subtasks=a",
                    "/taskmanagers/metrics?agg=avg,mean"):
            assert "errors" in get(cluster, bad, status=400)

        text = http_get(f"http://127.0.0.1:{cluster.prometheus_port}/metrics")[1]
        assert "flink_jobmanager_numRegisteredTaskManagers 2.0" in text
        assert f'job_id="{job_id}"' in text
        assert "flink_taskmanager_job_task_operator_numRecordsOut{" in text
        assert "flink_taskmanager_Status_JVM_CPU_Load{" in text
    finally:
        cancel(cluster, job_id)
