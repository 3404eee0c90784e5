"""Fixtures that start real clusters: JobManager and TaskManager processes on free ports,
or an in-process mini cluster (``mini_cluster``, from :mod:`headwater.testing.fixtures`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from headwater.client import RestClient
from headwater.testing import wait_for
from headwater.testing.fixtures import mini_cluster  # noqa: F401 - the fixture
from tests.integration.kafka_support import kafka_broker  # noqa: F401 - the fixture

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def headwater(*args: str, timeout: float = 120, check: bool = True,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real ``headwater`` CLI as a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "headwater.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"headwater {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


class Cluster:
    """A running local cluster started with ``headwater cluster start``."""

    def __init__(self, workdir: Path, port: int, taskmanagers: int) -> None:
        self.workdir = workdir
        self.port = port
        self.taskmanagers = taskmanagers
        self.url = f"http://127.0.0.1:{port}"
        self.client = RestClient(self.url)

    @property
    def info(self) -> dict:
        return json.loads((self.workdir / "cluster.json").read_text())

    @property
    def jobmanager_pid(self) -> int:
        return int(self.info["pid"])

    def processes(self) -> list[psutil.Process]:
        """The JobManager and all its children."""
        jm = psutil.Process(self.jobmanager_pid)
        return [jm, *jm.children(recursive=True)]

    def run(self, *args: str, timeout: float = 180, check: bool = True):
        """``headwater run -m <this cluster> ...``."""
        return headwater("run", "-m", f"127.0.0.1:{self.port}", *args, timeout=timeout,
                         check=check)

    def wait_for_state(self, job_id: str, states: set[str], timeout: float = 60) -> dict:
        """Poll /jobs/:id until its state is one of ``states``."""
        return wait_for(lambda: (job := self.client.job(job_id))["state"] in states and job,
                        timeout, 0.1, lambda: f"job {job_id} in one of {states}, is "
                                              f"{self.client.job(job_id)['state']}")

    def wait_until_running(self, job_id: str, timeout: float = 60) -> dict:
        """Wait until the job and every subtask run."""
        def running():
            job = self.client.job(job_id)
            return job["state"] == "RUNNING" and all(v["status"] == "RUNNING"
                                                     for v in job["vertices"]) and job
        return wait_for(running, timeout, 0.1,
                        lambda: f"job {job_id} running: {self.client.job(job_id)}")


def start_cluster(tmp_path: Path, taskmanagers: int = 2, slots: int = 1,
                  extra: tuple[str, ...] = ()) -> Cluster:
    """``headwater cluster start`` on a free port in a temporary workdir."""
    port = free_port()
    workdir = tmp_path / "cluster"
    headwater("cluster", "start", "--taskmanagers", str(taskmanagers), "--slots", str(slots),
              "--port", str(port), "--workdir", str(workdir), *extra)
    return Cluster(workdir, port, taskmanagers)


def stop_cluster(cluster: Cluster) -> None:
    """``headwater cluster stop``; kill anything left as a last resort."""
    try:
        pids = [p.pid for p in cluster.processes()]
    except (psutil.NoSuchProcess, FileNotFoundError):
        pids = []
    headwater("cluster", "stop", "--workdir", str(cluster.workdir), check=False)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A 2-TaskManager cluster shared by the tests of one module."""
    c = start_cluster(tmp_path_factory.mktemp("hw"))
    yield c
    stop_cluster(c)
