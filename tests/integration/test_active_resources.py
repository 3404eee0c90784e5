"""The active ResourceManager on a real cluster: TaskManagers started when a job needs
more slots (submission, rescaling), released when idle, within min and max."""

from __future__ import annotations

import pytest

from headwater.testing import wait_for
from tests.integration.conftest import EXAMPLES, headwater, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of


def taskmanager_ids(cluster) -> set[str]:
    return {t["id"] for t in cluster.client.request("GET", "/taskmanagers")["taskmanagers"]}


@pytest.fixture(scope="module")
def elastic(tmp_path_factory):
    """Two TaskManagers of one slot at least, four at most, idle ones go after 2 s."""
    c = start_cluster(tmp_path_factory.mktemp("elastic"), taskmanagers=2, extra=(
        "--max-taskmanagers", "4",
        "-D", "resourcemanager.taskmanager-timeout=2000",
        "-D", "slot.request.timeout=20000"))
    yield c
    stop_cluster(c)


def test_rescaling_beyond_the_registered_slots_starts_taskmanagers_then_releases_them(elastic):
    initial = taskmanager_ids(elastic)
    assert len(initial) == 2
    job_id = job_id_of(elastic.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "100",
                                   "--parallelism", "2").stdout)
    elastic.wait_until_running(job_id)
    assert taskmanager_ids(elastic) == initial  # two slots were enough

    headwater("rescale", "-m", f"127.0.0.1:{elastic.port}", "-p", "4", job_id)
    job = elastic.wait_until_running(job_id, timeout=90)
    assert {v["parallelism"] for v in job["vertices"]} == {4}
    grown = taskmanager_ids(elastic)
    assert len(grown) == 4 and initial < grown
    # The subtasks really run on the new TaskManagers.
    vertex = job["vertices"][0]["id"]
    hosts = elastic.client.request("GET", f"/jobs/{job_id}/vertices/{vertex}/taskmanagers")
    assert {t["taskmanager-id"] for t in hosts["taskmanagers"]} == grown

    elastic.client.request("PATCH", f"/jobs/{job_id}")
    elastic.wait_for_state(job_id, {"CANCELED"})
    # Idle for resourcemanager.taskmanager-timeout: back to the minimum, not below.
    wait_for(lambda: len(taskmanager_ids(elastic)) == 2, 60, 0.2,
             lambda: f"two TaskManagers left: {taskmanager_ids(elastic)}")
    overview = elastic.client.overview()
    assert overview["taskmanagers"] == 2 and overview["slots-available"] == 2


def test_a_job_larger_than_the_maximum_fails_naming_the_limit(elastic):
    job_id = job_id_of(elastic.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "10",
                                   "--parallelism", "5").stdout)
    job = elastic.wait_for_state(job_id, {"FAILED"}, timeout=90)
    assert job["state"] == "FAILED"
    root = elastic.client.request("GET", f"/jobs/{job_id}/exceptions")["root-exception"]
    assert "NoResourceAvailableException" in root
    assert "resourcemanager.taskmanagers.max" in root
    # It started what it was allowed to and nothing more; the cluster serves the next job.
    wait_for(lambda: len(taskmanager_ids(elastic)) == 2, 60, 0.2)
    job_id = job_id_of(elastic.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "10",
                                   "--parallelism", "3").stdout)
    elastic.wait_until_running(job_id, timeout=60)
    assert len(taskmanager_ids(elastic)) == 3
    elastic.client.request("PATCH", f"/jobs/{job_id}")
