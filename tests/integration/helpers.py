"""Helpers shared by the integration tests: a fresh environment (:func:`new_env`), reading
CLI output (:func:`job_id_of`) and killing the TaskManager that runs a job's sink
(:func:`kill_a_taskmanager`). Jobs run on the ``mini_cluster`` fixture of
:mod:`headwater.testing.fixtures` and return records through
:class:`headwater.testing.CollectSink`."""

from __future__ import annotations

import os
import re
import signal

import psutil

from headwater.api import StreamExecutionEnvironment


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
