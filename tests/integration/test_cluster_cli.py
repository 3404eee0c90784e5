"""The foundation end to end: CLI, real cluster processes, exact job results."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import psutil
import pytest

from headwater.testing import wait_for
from tests.integration.conftest import EXAMPLES, headwater, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of

sys.path.insert(0, str(EXAMPLES))
import wordcount  # noqa: E402


def replaced_taskmanager(c, before: set) -> set | None:
    """The TaskManager ids once there are two again and not the same as ``before``."""
    after = {tm["id"] for tm in c.client.taskmanagers()["taskmanagers"]}
    return after if len(after) == 2 and after != before else None

def expected_text(lines: int, parallelism: int) -> str:
    counts = wordcount.expected_counts(lines, parallelism)
    return "".join(f"{w} {counts[w]}\n" for w in sorted(counts))


def test_wordcount_exact_counts_and_record_metrics(cluster, tmp_path):
    out = tmp_path / "counts.txt"
    proc = cluster.run(str(EXAMPLES / "wordcount.py"), "--lines", "3000", "--parallelism", "2",
                       "--output", str(out))
    assert out.read_text() == expected_text(3000, 2)
    job_id = job_id_of(proc.stdout)
    job = cluster.client.job(job_id)
    assert job["state"] == "FINISHED"
    source, keyed = job["vertices"]
    assert source["name"] == "Source: lines -> split"
    assert keyed["name"].startswith("Keyed Aggregation")
    # Every line left the source chain as 10 (word, 1) records: 3000 lines x 10 x 2 subtasks.
    assert source["metrics"]["write-records"] == 60000
    assert keyed["metrics"]["read-records"] == 60000
    assert source["metrics"]["read-records"] == 0
    assert source["metrics"]["write-records-complete"] is True
    # Half the records cross between TaskManager processes: real bytes were written.
    assert source["metrics"]["write-bytes"] > 0
    assert keyed["metrics"]["read-bytes"] > 0
    listing = headwater("list", "-a", "-m", f"127.0.0.1:{cluster.port}").stdout
    assert f"{job_id} : wordcount (FINISHED)" in listing


def test_run_attached_prints_counts(cluster):
    proc = cluster.run(str(EXAMPLES / "wordcount.py"), "--lines", "500", "--parallelism", "1")
    printed = "".join(line + "\n" for line in proc.stdout.splitlines()
                      if re.fullmatch(r"w\d+ \d+", line))
    assert printed == expected_text(500, 1)


def test_cancel_a_running_streaming_job(cluster):
    proc = cluster.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "100")
    job_id = job_id_of(proc.stdout)
    cluster.wait_until_running(job_id)
    assert job_id in headwater("list", "-m", f"127.0.0.1:{cluster.port}").stdout
    headwater("cancel", "-m", f"127.0.0.1:{cluster.port}", job_id)
    job = cluster.wait_for_state(job_id, {"CANCELED"}, timeout=30)
    assert all(v["status"] == "CANCELED" for v in job["vertices"])
    assert job["timestamps"]["CANCELLING"] > 0
    assert job["timestamps"]["CANCELED"] >= job["timestamps"]["CANCELLING"]
    # Records really flowed before the cancel.
    assert job["vertices"][0]["metrics"]["write-records"] > 0


FAILING_JOB = '''
from headwater.api import StreamExecutionEnvironment

def explode(x):
    if x == 77:
        raise ValueError("boom at record 77")
    return x

env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.from_sequence(1, 1000).map(explode).name("exploding map").add_sink(lambda x: None)
env.execute("failing job")
'''


def test_failing_user_function_fails_the_job_not_the_cluster(cluster, tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(FAILING_JOB)
    proc = cluster.run(str(script), check=False)
    assert proc.returncode == 1
    assert "FAILED" in proc.stderr
    job_id = job_id_of(proc.stdout)
    job = cluster.client.job(job_id)
    assert job["state"] == "FAILED"
    exceptions = cluster.client.request("GET", f"/jobs/{job_id}/exceptions")
    root = exceptions["root-exception"]
    assert "ValueError: boom at record 77" in root
    assert "Traceback (most recent call last)" in root and "explode" in root
    assert exceptions["timestamp"] > 0
    # The cluster still runs other jobs.
    overview = cluster.client.overview()
    assert overview["taskmanagers"] == 2
    assert overview["jobs-failed"] >= 1
    out = tmp_path / "after.txt"
    cluster.run(str(EXAMPLES / "wordcount.py"), "--lines", "200", "--parallelism", "2",
                "--output", str(out))
    assert out.read_text() == expected_text(200, 2)


def test_killed_taskmanager_fails_the_job(tmp_path):
    """Without checkpointing there is no restart: the loss fails the job. The cluster
    replaces the dead TaskManager process, as an active resource manager does."""
    c = start_cluster(tmp_path, extra=("-D", "heartbeat.timeout=3000"))
    try:
        job_id = job_id_of(c.run("-d", str(EXAMPLES / "streaming.py")).stdout)
        c.wait_until_running(job_id)
        before = {tm["id"] for tm in c.client.taskmanagers()["taskmanagers"]}
        tms = [p for p in c.processes() if "task_executor" in " ".join(p.cmdline())]
        assert len(tms) == 2
        tms[0].send_signal(signal.SIGKILL)
        job = c.wait_for_state(job_id, {"FAILED"}, timeout=30)
        exceptions = c.client.request("GET", f"/jobs/{job_id}/exceptions")
        assert "TaskManager" in exceptions["root-exception"]
        assert exceptions["all-exceptions"], exceptions
        assert job["end-time"] > 0
        after = wait_for(lambda: replaced_taskmanager(c, before), 20, 0.2,
                         "a new TaskManager replaced the lost one")
        assert len(after & before) == 1 and len(after) == 2  # one lost, one replacement
    finally:
        stop_cluster(c)


def test_cluster_stop_leaves_no_process(tmp_path):
    c = start_cluster(tmp_path)
    procs = c.processes()
    assert len(procs) == 3  # JobManager + 2 TaskManagers
    headwater("cluster", "stop", "--workdir", str(c.workdir))
    gone, alive = psutil.wait_procs(procs, timeout=10)
    assert not alive
    assert not (c.workdir / "cluster.json").exists()


def test_embedded_mode_runs_its_own_cluster(tmp_path):
    out = tmp_path / "counts.txt"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "wordcount.py"), "--lines", "400", "--parallelism", "2",
         "--output", str(out)],
        capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")})
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"REST API at http://127\.0\.0\.1:\d+", proc.stderr)
    assert out.read_text() == expected_text(400, 2)


@pytest.mark.parametrize("args", [["--nope"], ["run", "/no/such/file.py"]])
def test_cli_errors_are_clear(args):
    proc = headwater(*args, check=False)
    assert proc.returncode != 0
    assert proc.stderr


STUCK_JOB = '''
import threading
from headwater.api import StreamExecutionEnvironment

def stuck(x):
    threading.Event().wait()  # never returns, ignores cancellation
    return x

env = StreamExecutionEnvironment.get_execution_environment()
env.from_sequence(1, 10).map(stuck).add_sink(lambda x: None)
env.execute("stuck")
'''


def test_cancellation_watchdog_replaces_a_stuck_taskmanager(tmp_path):
    """A user function that never returns cannot block a cancel forever: after
    task.cancellation.timeout its TaskManager exits and a fresh one replaces it."""
    c = start_cluster(tmp_path, extra=("-D", "task.cancellation.timeout=1500"))
    try:
        script = tmp_path / "stuck.py"
        script.write_text(STUCK_JOB)
        job_id = job_id_of(c.run("-d", str(script)).stdout)
        c.wait_until_running(job_id)
        before = {tm["id"] for tm in c.client.taskmanagers()["taskmanagers"]}
        c.client.cancel_job(job_id)
        job = c.wait_for_state(job_id, {"CANCELED"}, timeout=30)
        assert job["timestamps"]["CANCELED"] - job["timestamps"]["CANCELLING"] >= 1500
        after = wait_for(lambda: replaced_taskmanager(c, before), 20, 0.2,
                         "a new TaskManager replaced the lost one")
        assert len(after) == 2 and len(after & before) == 1
        # The cluster still runs jobs.
        out = tmp_path / "after.txt"
        c.run(str(EXAMPLES / "wordcount.py"), "--lines", "100", "--parallelism", "2",
              "--output", str(out))
        assert out.read_text() == expected_text(100, 2)
    finally:
        stop_cluster(c)
