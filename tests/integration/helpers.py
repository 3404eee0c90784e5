"""Helpers shared by the integration tests: a fresh environment (:func:`new_env`), reading
CLI output (:func:`job_id_of`) and killing the TaskManager that runs a job's sink
(:func:`kill_a_taskmanager`, :func:`kill_after_checkpoints`), waiting for checkpoints
(:func:`wait_for_checkpoints`) and rescaling a running job (:func:`rescale_through`).
Jobs run on the ``mini_cluster`` fixture of
:mod:`headwater.testing.fixtures` and return records through
:class:`headwater.testing.CollectSink`."""

from __future__ import annotations

import os
import re
import signal

import psutil

from headwater.api import StreamExecutionEnvironment
from headwater.testing import wait_for


def new_env(parallelism: int = 2) -> StreamExecutionEnvironment:
    """The execution environment with ``parallelism``."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    return env


def job_id_of(output: str) -> str:
    """The job id in the output of ``headwater run`` (``JobID <32 hex digits>``)."""
    match = re.search(r"JobID ([0-9a-f]{32})", output)
    assert match, output
    return match.group(1)


def kill_a_taskmanager(cluster, job_id: str, vertex: int = -1, subtask: int = 0) -> str:
    """kill -9 the TaskManager running a subtask (default: the sink's subtask 0; the
    resource manager may also keep idle TaskManagers around); its resource id."""
    vertex_id = cluster.client.job(job_id)["vertices"][vertex]["id"]
    detail = cluster.client.request("GET", f"/jobs/{job_id}/vertices/{vertex_id}")
    resource_id = detail["subtasks"][subtask]["taskmanager-id"]  # host:dataport-suffix
    port = int(resource_id.rsplit(":", 1)[1].split("-")[0])
    for process in cluster.processes():
        try:
            if "task_executor" in " ".join(process.cmdline()) and any(
                    c.laddr.port == port for c in process.net_connections("tcp")
                    if c.status == psutil.CONN_LISTEN):
                os.kill(process.pid, signal.SIGKILL)
                return resource_id
        except psutil.Error:
            continue
    raise AssertionError(f"no TaskManager process listens on {port} ({resource_id})")


def checkpoint_stats(cluster, job_id: str) -> dict:
    """``GET /jobs/:id/checkpoints``."""
    return cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")


def wait_for_checkpoints(cluster, job_id: str, count: int = 1, timeout: float = 60) -> dict:
    """Poll ``/jobs/:id/checkpoints`` until ``count`` checkpoints completed; the stats."""
    return wait_for(
        lambda: (s := checkpoint_stats(cluster, job_id))["counts"]["completed"] >= count and s,
        timeout, 0.1,
        lambda: f"{count} completed checkpoints: {checkpoint_stats(cluster, job_id)}")


def rescale_through(cluster, job_id: str, parallelisms: tuple[int, ...] = (1, 2)) -> None:
    """``headwater rescale -p N`` for each N in turn: the job stays RUNNING with every
    vertex at N after each."""
    from tests.integration.conftest import headwater

    for parallelism in parallelisms:
        proc = headwater("rescale", "-m", f"127.0.0.1:{cluster.port}", "-p", str(parallelism),
                         job_id)
        assert f"parallelism {parallelism}" in proc.stdout
        job = cluster.client.job(job_id)
        assert job["state"] == "RUNNING"
        assert {v["parallelism"] for v in job["vertices"]} == {parallelism}


def kill_after_checkpoints(cluster, job_id: str, checkpoints: int = 2) -> dict:
    """Once the job runs and ``checkpoints`` completed, kill -9 the TaskManager of its
    sink; the job must then FINISH, restored from a checkpoint. The final job details."""
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, checkpoints)
    kill_a_taskmanager(cluster, job_id)
    job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=180)
    assert job["state"] == "FINISHED"
    assert checkpoint_stats(cluster, job_id)["counts"]["restored"] >= 1
    return job
