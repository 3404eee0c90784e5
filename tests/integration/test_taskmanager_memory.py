"""TaskManager memory hygiene on a real cluster: a task that grows its process past
``taskmanager.memory.process.size`` fails with a clear error, and a TaskManager that a
job left bloated is replaced by a fresh process before the next job."""

from __future__ import annotations

import psutil
import pytest

from tests.integration.conftest import start_cluster, stop_cluster
from tests.integration.helpers import job_id_of

LEAK = '''
import builtins, sys
from headwater.api import StreamExecutionEnvironment

def hoard(i):
    # Memory that outlives the job: a module-level cache the process cannot give back.
    cache = builtins.__dict__.setdefault("_hoard", [])
    cache.append(b"%d" % i + b"x" * (1 << 20))  # 1 MiB, written: resident
    return i

env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
env.from_collection(range(int(sys.argv[1]))).map(hoard).add_sink(lambda x: None)
env.execute("hoard")
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("memory"), taskmanagers=1, extra=(
        "-D", "taskmanager.memory.process.size=700m",
        "-D", "taskmanager.memory.recycle-threshold=250m"))
    yield c
    stop_cluster(c)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _taskmanager(cluster) -> tuple[str, int]:
    (tm,) = cluster.client.taskmanagers()["taskmanagers"]
    pids = [p.pid for p in psutil.Process(cluster.jobmanager_pid).children()
            if _alive(p.pid) and "task_executor" in " ".join(p.cmdline())]
    assert len(pids) == 1, pids
    return tm["id"], pids[0]


def _wait_for_new_taskmanager(cluster, old_id: str, old_pid: int, timeout: float = 30):
    from headwater.testing import wait_for

    def replaced():
        tms = cluster.client.taskmanagers()["taskmanagers"]
        return len(tms) == 1 and tms[0]["id"] != old_id and not _alive(old_pid)

    wait_for(replaced, timeout=timeout, message="the bloated TaskManager was not replaced")


def test_a_job_that_leaves_its_taskmanager_bloated_gets_a_fresh_one(cluster, tmp_path):
    script = tmp_path / "leak.py"
    script.write_text(LEAK)
    old_id, old_pid = _taskmanager(cluster)
    proc = cluster.run(str(script), "350")  # 350 MiB that outlive the job
    assert "FINISHED" in proc.stdout or job_id_of(proc.stdout)
    _wait_for_new_taskmanager(cluster, old_id, old_pid)
    new_id, new_pid = _taskmanager(cluster)
    assert psutil.Process(new_pid).memory_info().rss < 150 * 2**20


def test_a_task_past_the_process_size_fails_with_a_clear_error(cluster, tmp_path):
    script = tmp_path / "leak.py"
    script.write_text(LEAK)
    old_id, old_pid = _taskmanager(cluster)
    proc = cluster.run("-d", str(script), "100000")
    job_id = job_id_of(proc.stdout)
    job = cluster.wait_for_state(job_id, {"FAILED", "FINISHED"}, timeout=120)
    assert job["state"] == "FAILED"
    exceptions = cluster.client.request("GET", f"/jobs/{job_id}/exceptions")
    assert "taskmanager.memory.process.size" in exceptions["root-exception"]
    assert "MemoryLimitExceeded" in exceptions["root-exception"]
    # The cluster is fine: the bloated TaskManager is replaced, the next job runs.
    _wait_for_new_taskmanager(cluster, old_id, old_pid)
    assert cluster.client.overview()["taskmanagers"] == 1
