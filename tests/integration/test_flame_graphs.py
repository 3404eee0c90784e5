"""Flame graphs of a real cluster's vertices: a map spinning in a named function shows
that function on the heaviest path of its vertex's graph (full and on-CPU), a map
sleeping in one shows it off-CPU."""

from __future__ import annotations

import pytest

from headwater.client import RestError
from headwater.testing import wait_for
from tests.integration.helpers import job_id_of

FLAME_JOB = '''
import time

from headwater.api import SourceFunction, StreamExecutionEnvironment


class Numbers(SourceFunction):
    def __init__(self):
        self.running = True

    def run(self, ctx):
        n = 0
        while self.running:
            ctx.collect(n)
            n += 1

    def cancel(self):
        self.running = False


def burn_cpu_here(x):
    total = 0
    for i in range(20000):
        total += i * i
    return x + total % 2


def sleep_here(x):
    time.sleep(0.05)
    return x


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
env.add_source(Numbers(), "burning numbers").key_by(lambda x: x % 4) \\
    .map(burn_cpu_here).name("burn").add_sink(lambda x: None)
env.add_source(Numbers(), "sleeping numbers").key_by(lambda x: x % 4) \\
    .map(sleep_here).name("sleep").add_sink(lambda x: None)
env.execute("flame graph job")
'''


def heaviest_path(node: dict) -> list[str]:
    """The frames met when always stepping into the widest child."""
    path = []
    while node["children"]:
        node = max(node["children"], key=lambda c: c["value"])
        path.append(node["name"])
    return path


@pytest.fixture(scope="module")
def flame_job(cluster, tmp_path_factory):
    script = tmp_path_factory.mktemp("flame") / "flame_job.py"
    script.write_text(FLAME_JOB)
    job_id = job_id_of(cluster.run("-d", str(script)).stdout)
    job = cluster.wait_until_running(job_id)
    vertices = {v["name"].split(" ->")[0]: v["id"] for v in job["vertices"]}
    yield job_id, vertices
    cluster.client.request("PATCH", f"/jobs/{job_id}", params={"mode": "cancel"})


def graph_of(cluster, job_id: str, vertex_id: str, graph_type: str) -> dict:
    """The vertex's flame graph once its first sampling (100 samples, 50 ms) is done."""
    def ready():
        graph = cluster.client.vertex_flame_graph(job_id, vertex_id, graph_type)
        return graph if graph["endTimestamp"] > 0 else None
    return wait_for(ready, 60, 0.5)


def test_a_spinning_function_is_on_the_heaviest_path(cluster, flame_job):
    job_id, vertices = flame_job
    full = graph_of(cluster, job_id, vertices["burn"], "full")
    root = full["data"]
    assert root["name"] == "root" and root["value"] >= 50
    path = heaviest_path(root)
    assert any(f.startswith("burn_cpu_here (") for f in path), path
    assert path[0].startswith("Thread._bootstrap (threading:")
    on_cpu = graph_of(cluster, job_id, vertices["burn"], "on_cpu")
    assert on_cpu["endTimestamp"] == full["endTimestamp"]  # the same, cached samples
    assert 0 < on_cpu["data"]["value"] <= root["value"]
    assert any(f.startswith("burn_cpu_here (") for f in heaviest_path(on_cpu["data"]))


def test_a_sleeping_function_is_on_the_heaviest_off_cpu_path(cluster, flame_job):
    job_id, vertices = flame_job
    off_cpu = graph_of(cluster, job_id, vertices["sleep"], "off_cpu")
    path = heaviest_path(off_cpu["data"])
    assert any(f.startswith("sleep_here (") for f in path), path
    on_cpu = graph_of(cluster, job_id, vertices["sleep"], "on_cpu")
    assert on_cpu["data"]["value"] < off_cpu["data"]["value"]


def test_malformed_and_unknown_ids_are_flinks_errors(cluster, flame_job):
    job_id, vertices = flame_job
    cases = [
        (f"/jobs/not-a-job/vertices/{vertices['burn']}/flamegraph", {}, 400),
        (f"/jobs/{job_id}/vertices/xyz/flamegraph", {}, 400),
        (f"/jobs/{job_id}/vertices/{vertices['burn']}/flamegraph", {"type": "hot"}, 400),
        (f"/jobs/{'0' * 32}/vertices/{vertices['burn']}/flamegraph", {}, 404),
        (f"/jobs/{job_id}/vertices/{'0' * 32}/flamegraph", {}, 404),
    ]
    for path, params, status in cases:
        with pytest.raises(RestError) as err:
            cluster.client.request("GET", path, params=params or None)
        assert err.value.status == status, path
        assert err.value.errors and all(isinstance(e, str) for e in err.value.errors)
