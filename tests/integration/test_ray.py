"""TaskManagers as actors on a real multi-node Ray cluster on this machine (a head node and
two worker nodes, separate raylets bound to 127.0.0.1): placement over nodes, exact
results, the loss of a node, elastic scaling, and clear failures.

``HEADWATER_RAY_TESTS=0`` skips them; they are skipped too when ray is not installed.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.testing import s3, wait_for
from tests.integration.conftest import EXAMPLES, headwater, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of
from tests.integration.test_fault_tolerance import (
    FILES,
    JOB,
    KEYS,
    LINES,
    expected_lines,
    wait_for_checkpoints,
)
from tests.integration.test_s3_storage import committed as s3_committed

s3_server = s3.s3_server  # the fixture

pytestmark = [
    pytest.mark.skipif(os.environ.get("HEADWATER_RAY_TESTS", "1") in ("0", "off", "no"),
                       reason="HEADWATER_RAY_TESTS switches the Ray tests off"),
    pytest.mark.skipif(__import__("importlib").util.find_spec("ray") is None,
                       reason="ray is not installed (pip install 'headwater[ray]')"),
]


@pytest.fixture(scope="module")
def ray_cluster():
    from headwater.testing.ray_cluster import local_ray_cluster

    with local_ray_cluster(workers=2, cpus_per_worker=2) as cluster:
        yield cluster


def start_on_ray(tmp_path: Path, ray_cluster, taskmanagers: int, *extra: str):
    return start_cluster(tmp_path, taskmanagers=taskmanagers,
                         extra=("--ray", ray_cluster.address, "--timeout", "120",
                                "-D", "heartbeat.timeout=5000", *extra))


def taskmanagers(cluster) -> list[dict]:
    return cluster.client.request("GET", "/taskmanagers")["taskmanagers"]


def worker_node_ids(ray_cluster) -> set[str]:
    return {node.node_id for node in ray_cluster.workers}


def test_wordcount_runs_exactly_on_actors_spread_over_the_nodes(tmp_path, ray_cluster):
    cluster = start_on_ray(tmp_path, ray_cluster, 4)
    try:
        tms = taskmanagers(cluster)
        assert len(tms) == 4
        nodes = collections.Counter(t["rayNodeId"] for t in tms)
        assert set(nodes) == worker_node_ids(ray_cluster)  # both workers, not the head
        assert all(t["dataPort"] > 0 and t["id"].startswith("127.0.0.1:") for t in tms)

        sys.path.insert(0, str(EXAMPLES))
        try:
            import wordcount
        finally:
            sys.path.remove(str(EXAMPLES))
        result = tmp_path / "counts.txt"
        cluster.run(str(EXAMPLES / "wordcount.py"), "--lines", "2000", "--parallelism", "4",
                    "--output", str(result), timeout=300)
        job_id = cluster.client.jobs_overview()["jobs"][0]["jid"]
        job = cluster.client.job(job_id)
        assert job["state"] == "FINISHED"
        for vertex in job["vertices"]:
            used = cluster.client.request(
                "GET", f"/jobs/{job_id}/vertices/{vertex['id']}/taskmanagers")
            assert len(used["taskmanagers"]) == 4, vertex["name"]
        counts = {w: int(n) for w, n in (line.split() for line in result.read_text().splitlines())}
        assert counts == wordcount.expected_counts(2000, 4)

        # A TaskManager actor answers for its logs, stdout and threads like a process.
        tm = tms[0]["id"]
        names = {log["name"] for log in cluster.client.taskmanager_logs(tm)["logs"]}
        assert len(names) == 2 and {n.rsplit(".", 1)[1] for n in names} == {"log", "out"}
        assert "registered at JobManager 127.0.0.1:" in cluster.client.taskmanager_log(tm)
        assert f"as {tm}" in cluster.client.taskmanager_log(tm)
        assert cluster.client.taskmanager_stdout(tm) == ""  # wordcount prints nothing
        threads = cluster.client.taskmanager_thread_dump(tm)["threadInfos"]
        assert len(threads) > 1 and all(t["stringifiedThreadInfo"] for t in threads)
    finally:
        stop_cluster(cluster)
    # Every actor is gone with the cluster: the CPUs are free again.
    import ray
    ray.init(address=ray_cluster.address, ignore_reinit_error=True)
    try:
        wait_for(lambda: ray.available_resources().get("CPU", 0) == 4, 60, 0.5,
                 lambda: f"all 4 CPUs free: {ray.available_resources()}")
    finally:
        ray.shutdown()


def test_rescaling_beyond_the_actors_requests_more_then_releases_them(tmp_path, ray_cluster):
    cluster = start_on_ray(tmp_path, ray_cluster, 2, "--max-taskmanagers", "4",
                           "-D", "resourcemanager.taskmanager-timeout=2000")
    try:
        job_id = job_id_of(cluster.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "50",
                                       "--parallelism", "2").stdout)
        cluster.wait_until_running(job_id, timeout=60)
        assert len(taskmanagers(cluster)) == 2
        headwater("rescale", "-m", f"127.0.0.1:{cluster.port}", "-p", "4", job_id,
                  timeout=180)
        job = cluster.wait_until_running(job_id, timeout=120)
        assert {v["parallelism"] for v in job["vertices"]} == {4}
        tms = taskmanagers(cluster)
        assert len(tms) == 4
        assert {t["rayNodeId"] for t in tms} == worker_node_ids(ray_cluster)
        cluster.client.request("PATCH", f"/jobs/{job_id}")
        cluster.wait_for_state(job_id, {"CANCELED"})
        wait_for(lambda: len(taskmanagers(cluster)) == 2, 90, 0.5,
                 lambda: f"back to 2 TaskManagers: {len(taskmanagers(cluster))}")
    finally:
        stop_cluster(cluster)


def test_s3_savepoint_on_actors_then_a_lost_node_restarts_exactly(
        tmp_path, ray_cluster, s3_server):
    """Checkpoints, savepoints, input and output on S3 (a moto server on 127.0.0.1): a
    savepoint, cancel and resubmit, then a worker node removed mid-job: the job restarts
    on a new actor on the node left, FINISHES, and its output equals a clean run's."""
    bucket = s3_server.new_bucket()
    for f in range(FILES):
        s3_server.put(bucket, f"in/input-{f}.txt", "".join(
            f"k{(f * LINES + i) % KEYS}\n" for i in range(LINES)).encode())
    script = tmp_path / "job.py"
    script.write_text(JOB)
    cluster = start_on_ray(tmp_path, ray_cluster, 2,
                           "-D", f"state.checkpoints.dir=s3://{bucket}/checkpoints",
                           "-D", f"state.savepoints.dir=s3://{bucket}/savepoints",
                           *s3_server.dynamic_properties())
    try:
        def submit_s3(out: str, *options: str) -> str:
            return job_id_of(cluster.run("-d", *options, str(script), f"s3://{bucket}/in",
                                         f"s3://{bucket}/{out}", "0.004", "2").stdout)

        # Savepoint to s3://, cancel, resubmit from it: exact.
        job_id = submit_s3("resumed")
        cluster.wait_until_running(job_id, timeout=60)
        wait_for_checkpoints(cluster, job_id, 1, timeout=60)
        out = headwater("cancel", "-m", f"127.0.0.1:{cluster.port}", "-s",
                        f"s3://{bucket}/savepoints", job_id, timeout=180).stdout
        savepoint = out.rsplit("Savepoint stored in ", 1)[1].strip().rstrip(".")
        assert savepoint.startswith(f"s3://{bucket}/savepoints/"), out
        resumed = submit_s3("resumed", "-s", savepoint)
        assert cluster.wait_for_state(resumed, {"FINISHED", "FAILED"}, 240)["state"] == \
            "FINISHED"
        assert s3_committed(s3_server, bucket, "resumed") == expected_lines()

        # Lose a worker node mid-job.
        job_id = submit_s3("lost-node")
        cluster.wait_until_running(job_id, timeout=60)
        wait_for_checkpoints(cluster, job_id, 2, timeout=60)
        tms = taskmanagers(cluster)
        assert len({t["rayNodeId"] for t in tms}) == 2  # SPREAD: one per worker node
        victim = ray_cluster.workers[0]
        lost = {t["id"] for t in tms if t["rayNodeId"] == victim.node_id}
        ray_cluster.remove_node(victim)

        job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=240)
        assert job["state"] == "FINISHED"
        assert s3_committed(s3_server, bucket, "lost-node") == expected_lines()
        survivors = {t["rayNodeId"] for t in taskmanagers(cluster)}
        assert survivors == {ray_cluster.workers[1].node_id}
        exceptions = cluster.client.request("GET", f"/jobs/{job_id}/exceptions")
        assert any(rid in e["exception"] for e in exceptions["all-exceptions"] for rid in lost)
        restored = cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")["latest"][
            "restored"]
        assert restored["external_path"].startswith(f"s3://{bucket}/checkpoints/")
    finally:
        stop_cluster(cluster)


def test_an_unreachable_ray_cluster_fails_the_start_clearly(tmp_path):
    port = _free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "headwater.cli", "cluster", "start", "--ray",
         f"127.0.0.1:{port}", "-n", "1", "--workdir", str(tmp_path / "c"),
         "--port", str(_free_port()), "--timeout", "120"],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode != 0
    assert "cannot connect to the Ray cluster" in proc.stdout + proc.stderr
    assert not (tmp_path / "c" / "cluster.json").exists()


def test_a_missing_ray_package_fails_the_start_clearly(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "ray.py").write_text("raise ImportError('No module named ray')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(shim), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run(
        [sys.executable, "-m", "headwater.cli", "cluster", "start", "--ray", "-n", "1",
         "--workdir", str(tmp_path / "c"), "--port", str(_free_port())],
        capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode != 0
    assert "pip install 'headwater[ray]'" in proc.stdout + proc.stderr


def _free_port() -> int:
    from tests.integration.conftest import free_port

    return free_port()
