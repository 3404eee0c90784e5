"""JobManager failover with ``high-availability: embedded``: kill -9 the JobManager while a
checkpointed job runs, start it again on the same workdir, and the job carries on from its
checkpoint with the same id (its committed output equals a clean run's), the TaskManagers
that survived reconnect, and a job that finished before the crash is still served."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from tests.integration.conftest import EXAMPLES, headwater, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of
from tests.integration.test_fault_tolerance import (
    committed,
    expected_lines,
    submit,
    wait_for_checkpoints,
    write_job,
)

HA = ("-D", "high-availability=embedded", "-D", "heartbeat.timeout=3000")


@pytest.fixture
def cluster(tmp_path):
    c = start_cluster(tmp_path, taskmanagers=2, extra=HA)
    yield c
    stop_cluster(c)


def _taskmanager_pids(cluster) -> set[int]:
    return {p.pid for p in psutil.process_iter(["cmdline"])
            if "task_executor" in " ".join(p.info["cmdline"] or [])
            and str(cluster.workdir) in " ".join(p.info["cmdline"] or [])}


def test_a_killed_jobmanager_comes_back_with_every_job(cluster, tmp_path):
    finished = job_id_of(cluster.run(str(EXAMPLES / "wordcount.py"), "--lines", "200").stdout)
    before = {path: cluster.client.request("GET", path) for path in (
        f"/jobs/{finished}", f"/jobs/{finished}/plan", f"/jobs/{finished}/config",
        f"/jobs/{finished}/exceptions", f"/jobs/{finished}/accumulators")}
    assert before[f"/jobs/{finished}"]["state"] == "FINISHED"

    script, source = write_job(tmp_path)
    out = tmp_path / "out"
    running = submit(cluster, script, source, out, "0.006")
    cluster.wait_until_running(running)
    wait_for_checkpoints(cluster, running, 2)
    taskmanagers = _taskmanager_pids(cluster)
    assert len(taskmanagers) == 2

    os.kill(cluster.jobmanager_pid, signal.SIGKILL)
    headwater("cluster", "start", "--taskmanagers", "2", "--port", str(cluster.port),
              "--workdir", str(cluster.workdir), *HA)

    # The TaskManagers that outlived the crash registered again; none was added.
    assert _taskmanager_pids(cluster) == taskmanagers
    assert cluster.client.overview()["taskmanagers"] == 2
    job = cluster.wait_for_state(running, {"FINISHED", "FAILED"}, timeout=180)
    assert job["state"] == "FINISHED"
    assert committed(out) == expected_lines()
    checkpoints = cluster.client.request("GET", f"/jobs/{running}/checkpoints")
    assert checkpoints["counts"]["restored"] >= 1
    assert checkpoints["latest"]["restored"]["is_savepoint"] is False

    listed = {j["jid"]: j["state"] for j in cluster.client.jobs_overview()["jobs"]}
    assert listed == {finished: "FINISHED", running: "FINISHED"}
    for path, answer in before.items():
        again = cluster.client.request("GET", path)
        if "now" in answer:  # the time of the answer
            again["now"] = answer["now"]
        assert again == answer, path
