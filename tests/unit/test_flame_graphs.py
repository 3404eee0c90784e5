"""Flame graphs: sampling real threads, the samples' tree, the tracker's caching and the
REST answers (Flink's JobVertexFlameGraph shapes)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import headwater
from headwater.config import Configuration
from headwater.rest.endpoints import ENDPOINTS
from headwater.rest.handlers.flame_graphs import FLAME_GRAPH_SCHEMA, create_flame_graph
from headwater.rest.json_schema import validate
from headwater.rest.openapi import build_openapi
from headwater.runtime.jobmanager.thread_info import (
    JobVertexThreadInfoStats,
    JobVertexThreadInfoTracker,
    ThreadInfoRequestCoordinator,
    ThreadInfoSamplingConfig,
    attempts_by_task_manager,
)
from headwater.runtime.rpc.messages import Request, RequestThreadInfoSamples
from headwater.runtime.taskmanager.thread_info_sampler import ThreadInfoSampleService
from headwater.runtime.thread_samples import ThreadInfoSamples, sample_threads, stack_of
from tests.unit.test_rest_handlers import (
    FINISHED_JOB,
    RUNNING_JOB,
    SINK,
    SRC,
    StubCluster,
    request,
    running_graph,
)

FLAME = f"/jobs/{RUNNING_JOB}/vertices/{SRC}/flamegraph"


def burn_cpu_here(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(10_000):
            total += i * i


def sleep_here(stop: threading.Event) -> None:
    # Long sleeps: a thread whose sleep just ended is runnable (R) until it gets a core.
    while not stop.is_set():
        time.sleep(0.3)


class Running:
    """Threads running ``targets`` until the block ends."""

    def __init__(self, *targets: Any) -> None:
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=t, args=(self.stop,), daemon=True)
                        for t in targets]

    def __enter__(self) -> list[threading.Thread]:
        for t in self.threads:
            t.start()
        return self.threads

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)


def innermost(samples: ThreadInfoSamples, state: str | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for (s, stack), n in samples.counts.items():
        if state is None or s == state:
            out[stack[-1]] = out.get(stack[-1], 0) + n
    return out


# -- sampling real threads ----------------------------------------------------------------


def test_a_spinning_thread_is_sampled_on_cpu_in_its_function():
    with Running(burn_cpu_here) as (spinner,):
        samples = sample_threads(lambda: [spinner], 20, 0.01, 100)
    assert samples.num_samples == 20
    assert sum(samples.counts.values()) == 20
    frames = innermost(samples)
    burning = sum(n for name, n in frames.items() if name.startswith("burn_cpu_here ("))
    assert burning >= 18, frames
    # "function (module:line)": the test module and a line inside the function
    name = next(name for name in frames if name.startswith("burn_cpu_here ("))
    assert name.startswith("burn_cpu_here (tests.unit.test_flame_graphs:")
    on_cpu = sum(innermost(samples, "R").values())
    assert on_cpu >= 15, samples.counts.keys()
    # outermost frame first: the thread's bootstrap, then its target
    stack = next(iter(samples.counts))[1]
    assert stack[0].startswith("Thread._bootstrap (threading:")


def test_a_sleeping_thread_is_sampled_off_cpu():
    with Running(sleep_here) as (sleeper,):
        samples = sample_threads(lambda: [sleeper], 20, 0.01, 100)
    assert sum(innermost(samples, "R").values()) <= 2, samples.counts
    waiting = {name: n for (state, stack), n in samples.counts.items()
               for name in stack if state != "R" and name.startswith("sleep_here (")}
    assert sum(waiting.values()) >= 18


def test_threads_are_sampled_together_and_ended_threads_skipped():
    with Running(burn_cpu_here, sleep_here) as threads:
        samples = sample_threads(lambda: threads, 10, 0.01, 100)
    assert sum(samples.counts.values()) == 20
    done = threading.Thread(target=lambda: None)
    done.start()
    done.join()
    unstarted = threading.Thread(target=lambda: None)
    assert sample_threads(lambda: [done, unstarted], 3, 0, 10).counts == {}


def test_stacks_keep_the_innermost_frames_up_to_the_depth():
    seen: list[tuple[str, ...]] = []

    def recurse(n: int) -> None:
        if n:
            recurse(n - 1)
        else:
            seen.append(stack_of(__import__("sys")._getframe(), 10))

    recurse(30)
    assert len(seen[0]) == 10
    assert all("recurse (" in name for name in seen[0])


def test_the_service_samples_the_task_and_source_threads_of_the_requested_attempts():
    class FakeTask:
        def __init__(self, threads: list[threading.Thread]) -> None:
            self.threads = threads

        def sampled_threads(self) -> list[threading.Thread]:
            return self.threads

    with Running(burn_cpu_here, sleep_here) as (spinner, sleeper):
        service = ThreadInfoSampleService({"a1": FakeTask([spinner, sleeper]),
                                           "a2": FakeTask([sleeper])})
        wire = service.sample(RequestThreadInfoSamples(
            attempt_ids=["a1", "gone"], num_samples=5, delay_between_samples=5,
            max_stack_depth=50)).result(10)
        service.shutdown()
    samples = ThreadInfoSamples.from_wire(wire)
    assert samples.num_samples == 5 and sum(samples.counts.values()) == 10
    assert samples.start_time <= samples.end_time
    assert ThreadInfoSamples.from_wire(samples.to_wire()) == samples


# -- the tree -----------------------------------------------------------------------------


def stats_of(*samples: tuple[str, tuple[str, ...], int], end: int = 1234) -> JobVertexThreadInfoStats:
    s = ThreadInfoSamples()
    for state, stack, n in samples:
        s.add(state, stack, n)
    return JobVertexThreadInfoStats(1, 1000, end, s)


STATS = stats_of(("R", ("run (t:1)", "process (p:2)", "burn_cpu_here (job:3)"), 7),
                 ("S", ("run (t:1)", "process (p:2)", "sleep_here (job:9)"), 2),
                 ("S", ("run (t:1)", "wait (q:5)"), 1))


def names(node: dict[str, Any]) -> list[str]:
    return [node["name"], *(n for c in node["children"] for n in names(c))]


def heaviest_path(node: dict[str, Any]) -> list[str]:
    path = []
    while node["children"]:
        node = max(node["children"], key=lambda c: c["value"])
        path.append(node["name"])
    return path


def test_the_full_graph_counts_every_sample_per_frame():
    graph = create_flame_graph(STATS, "full")
    assert graph["endTimestamp"] == 1234
    root = graph["data"]
    assert (root["name"], root["value"]) == ("root", 10)
    run = root["children"][0]
    assert (run["name"], run["value"]) == ("run (t:1)", 10)
    assert [(c["name"], c["value"]) for c in run["children"]] == [
        ("process (p:2)", 9), ("wait (q:5)", 1)]
    assert heaviest_path(root)[-1] == "burn_cpu_here (job:3)"
    assert validate(graph, FLAME_GRAPH_SCHEMA) == []


def test_on_and_off_cpu_graphs_keep_running_and_waiting_samples():
    on = create_flame_graph(STATS, "on_cpu")["data"]
    off = create_flame_graph(STATS, "off_cpu")["data"]
    assert on["value"] == 7 and "sleep_here (job:9)" not in names(on)
    assert off["value"] == 3 and "burn_cpu_here (job:3)" not in names(off)
    assert heaviest_path(off)[-1] == "sleep_here (job:9)"
    empty = create_flame_graph(stats_of(), "full")
    assert empty["data"] == {"name": "root", "value": 0, "children": []}


# -- the tracker --------------------------------------------------------------------------


def test_the_tracker_samples_on_demand_caches_refreshes_and_cleans_up():
    graph = running_graph()
    vertex = graph.vertex(SRC)
    requests: list[tuple[str, RequestThreadInfoSamples]] = []

    async def send(rid: str, req: Request, timeout: float) -> Any:
        assert isinstance(req, RequestThreadInfoSamples)
        requests.append((rid, req))
        wire = ThreadInfoSamples(num_samples=req.num_samples, start_time=1, end_time=2)
        wire.add("R", ("run (t:1)", f"on {rid}"), req.num_samples * len(req.attempt_ids))
        return wire.to_wire()

    async def go() -> None:
        config = ThreadInfoSamplingConfig(num_samples=3, delay_between_samples=1,
                                          refresh_interval=60000, cleanup_interval=600000)
        tracker = JobVertexThreadInfoTracker(ThreadInfoRequestCoordinator(send), config)
        assert tracker.get_vertex_stats(vertex) is None  # waiting: a sampling started
        assert tracker.get_vertex_stats(vertex) is None  # ... only one
        await asyncio.sleep(0.01)
        by_tm = attempts_by_task_manager(vertex)
        assert sorted(rid for rid, _ in requests) == sorted(by_tm)
        assert all(r.num_samples == 3 and r.max_stack_depth == 100 for _, r in requests)
        stats = tracker.get_vertex_stats(vertex)
        assert stats is not None
        # both TaskManagers' samples, merged
        assert sum(stats.samples.counts.values()) == 3 * 2
        assert len(requests) == 2  # fresh: served from the cache
        stats.end_time -= 60000  # older than the refresh interval
        assert tracker.get_vertex_stats(vertex) is stats  # old answer, new sampling
        await asyncio.sleep(0.01)
        assert len(requests) == 4
        newer = tracker.get_vertex_stats(vertex)
        assert newer is not None and newer is not stats
        # nobody asked within the cleanup interval: dropped
        tracker.config = ThreadInfoSamplingConfig(cleanup_interval=1)
        await asyncio.sleep(0.01)
        assert tracker.get_vertex_stats(vertex) is None
        tracker.shut_down()
        assert tracker.get_vertex_stats(vertex) is None

    asyncio.run(go())


def test_sampling_options_come_from_flinks_keys_and_bad_values_fall_back():
    assert ThreadInfoSamplingConfig.from_config(Configuration()) == ThreadInfoSamplingConfig()
    config = ThreadInfoSamplingConfig.from_config(Configuration({
        "rest.flamegraph.num-samples": "20", "rest.flamegraph.delay-between-samples": 0,
        "rest.flamegraph.stack-depth": "many", "rest.flamegraph.refresh-interval": -5}))
    assert (config.num_samples, config.delay_between_samples) == (20, 0)
    assert (config.max_stack_depth, config.refresh_interval) == (100, 60000)


def test_the_coordinator_keeps_the_answers_it_got():
    async def send(rid: str, req: Request, timeout: float) -> Any:
        if rid == "lost":
            raise TimeoutError(rid)
        wire = ThreadInfoSamples(num_samples=1)
        wire.add("S", ("x (m:1)",), 1)
        return wire.to_wire()

    config = ThreadInfoSamplingConfig(num_samples=1)
    coordinator = ThreadInfoRequestCoordinator(send)
    stats = asyncio.run(coordinator.trigger_thread_info_request(
        {"ok": ["a"], "lost": ["b"]}, config))
    assert stats.samples.counts == {("S", ("x (m:1)",)): 1}
    try:
        asyncio.run(coordinator.trigger_thread_info_request({"lost": ["b"]}, config))
    except TimeoutError:
        pass
    else:
        raise AssertionError("no TaskManager answered: the sampling fails")


# -- the REST answers ---------------------------------------------------------------------


class FlameCluster(StubCluster):
    """A stub cluster whose JobMasters hand out fixed samples."""

    def __init__(self, stats: JobVertexThreadInfoStats | None, **kw: Any) -> None:
        super().__init__(**kw)
        self.stats = stats
        self.asked: list[str] = []

    def job_master(self, job_id: str) -> Any:
        cluster = self

        class JobMaster:
            def vertex_thread_info_stats(self, vertex_id: str) -> Any:
                cluster.asked.append(vertex_id)
                return cluster.stats

        return JobMaster() if job_id in self.graphs else None


def test_the_endpoint_answers_flinks_graph_and_its_placeholders():
    cluster = FlameCluster(STATS)
    a = request(cluster, "GET", FLAME)
    assert a.status == 200 and a.body["data"]["value"] == 10
    assert validate(a.body, FLAME_GRAPH_SCHEMA) == []
    assert request(cluster, "GET", FLAME + "?type=ON_CPU").body["data"]["value"] == 7
    assert request(cluster, "GET", FLAME + "?type=off_cpu").body["data"]["value"] == 3
    assert cluster.asked == [SRC, SRC, SRC]
    # the first sampling still runs / the vertex ended / the feature is off
    assert request(FlameCluster(None), "GET", FLAME).body == {"endTimestamp": -3}
    ended = f"/jobs/{FINISHED_JOB}/vertices/{SINK}/flamegraph"
    assert request(FlameCluster(STATS), "GET", ended).body == {"endTimestamp": -1}
    off = FlameCluster(STATS, configuration=Configuration({"rest.flamegraph.enabled": False}))
    assert request(off, "GET", FLAME).body == {"endTimestamp": -2}


def test_bad_ids_and_types_are_flinks_errors():
    cluster = FlameCluster(STATS)
    unknown_job = request(cluster, "GET", f"/jobs/{'1' * 32}/vertices/{SRC}/flamegraph")
    assert unknown_job.status == 404 and unknown_job.body["errors"]
    unknown_vertex = request(cluster, "GET", f"/jobs/{RUNNING_JOB}/vertices/{'2' * 32}/flamegraph")
    assert unknown_vertex.status == 404 and unknown_vertex.body["errors"]
    for path in (f"/jobs/nope/vertices/{SRC}/flamegraph", FLAME + "?type=hot"):
        a = request(cluster, "GET", path)
        assert a.status == 400 and a.body["errors"][0].startswith(
            "Bad request, could not parse parameters"), a
    assert cluster.asked == []


def test_the_openapi_document_declares_the_graph():
    doc = build_openapi(ENDPOINTS, headwater.__version__)
    op = doc["paths"]["/jobs/{jobid}/vertices/{vertexid}/flamegraph"]["get"]
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    graph = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(graph["properties"]) == {"endTimestamp", "data"}
    node = doc["components"]["schemas"][graph["properties"]["data"]["$ref"].rsplit("/", 1)[1]]
    assert node["properties"]["children"]["items"]["$ref"] == graph["properties"]["data"]["$ref"]
    assert [p["name"] for p in op["parameters"]] == ["jobid", "vertexid", "type"]
