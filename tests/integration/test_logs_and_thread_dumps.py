"""Log, stdout and thread-dump endpoints against real processes.

TaskManager files are read by the TaskManager itself (over its RPC connection); names
that are not listed files are 404 and read nothing (CVE-2020-17519 shapes).
"""

from __future__ import annotations

import os
import re

import pytest

from headwater.client import RestError
from headwater.testing import wait_for
from tests.integration.conftest import start_cluster, stop_cluster
from tests.integration.http_raw import raw_request

SECRET = "canary-secret-7f3a"

PRINTING_JOB = '''
from headwater.api import StreamExecutionEnvironment

def shout(x):
    print(f"hello-from-user-function-{x}", flush=True)
    return x

env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.from_sequence(1, 6).map(shout).name("shout").add_sink(lambda x: None)
env.execute("printing job")
'''

STUCK_JOB = '''
import threading
from headwater.api import StreamExecutionEnvironment

def stuck_forever_in_map(x):
    threading.Event().wait()
    return x

env = StreamExecutionEnvironment.get_execution_environment()
env.from_sequence(1, 10).map(stuck_forever_in_map).name("stuck map").add_sink(lambda x: None)
env.execute("stuck job")
'''


def tm_ids(cluster) -> list[str]:
    return [tm["id"] for tm in cluster.client.taskmanagers()["taskmanagers"]]


def test_jobmanager_files(cluster):
    names = {f["name"]: f["size"] for f in cluster.client.jobmanager_logs()["logs"]}
    assert {"jobmanager.log", "jobmanager.out", "taskmanager-0.log", "taskmanager-0.out",
            "taskmanager-1.log", "taskmanager-1.out"} <= set(names)
    log = cluster.client.jobmanager_log()
    assert "JobManager up: REST" in log
    assert names["jobmanager.log"] > 0
    assert cluster.client.jobmanager_log_file("jobmanager.log").startswith(log[:200])
    assert isinstance(cluster.client.jobmanager_stdout(), str)
    status, _, ctype = raw_request(cluster.port, "GET", "/jobmanager/log")
    assert status == 200 and ctype.startswith("text/plain")


def test_each_taskmanager_serves_its_own_files(cluster):
    for tm in tm_ids(cluster):
        listed = {f["name"] for f in cluster.client.taskmanager_logs(tm)["logs"]}
        assert {"taskmanager-0.log", "taskmanager-1.log"} <= listed
        log = cluster.client.taskmanager_log(tm)
        assert f"as {tm}" in log  # "registered at JobManager ... as <its id>"
        assert isinstance(cluster.client.taskmanager_stdout(tm), str)
    with pytest.raises(RestError) as err:
        cluster.client.taskmanager_log("127.0.0.1:1-nosuch")
    assert err.value.status == 404


def test_user_function_print_reaches_its_taskmanager_stdout(cluster, tmp_path):
    script = tmp_path / "printing.py"
    script.write_text(PRINTING_JOB)
    cluster.run(str(script))

    def seen() -> set:
        return {n for tm in tm_ids(cluster) for n in re.findall(
            r"hello-from-user-function-(\d+)", cluster.client.taskmanager_stdout(tm))}

    wait_for(lambda: len(seen()) >= 6, 10, 0.1, lambda: f"six lines printed, saw {seen()}")
    assert seen() == {str(i) for i in range(1, 7)}


def test_log_names_cannot_escape_the_log_directory(cluster):
    log_dir = cluster.workdir / "log"
    canary = cluster.workdir.parent / "canary.txt"
    canary.write_text(SECRET)
    (log_dir / "evil.log").symlink_to(canary)
    before = canary.stat().st_mtime_ns
    absolute = str(canary)
    names = ["../../canary.txt", "..%2f..%2fcanary.txt", "..%252f..%252fcanary.txt",
             "%2e%2e%2f%2e%2e%2fcanary.txt", "..%5c..%5ccanary.txt",
             absolute.replace("/", "%2f"), absolute.replace("/", "%252f"), "/" + absolute,
             "evil.log", "..", ".", "%2e%2e", "jobmanager.log%00", "no-such.log"]
    bases = ["/jobmanager/logs/", *(f"/taskmanagers/{tm}/logs/" for tm in tm_ids(cluster))]
    for base in bases:
        for name in names:
            status, body, _ = raw_request(cluster.port, "GET", base + name)
            assert status in (400, 404), (base, name, status)
            assert SECRET.encode() not in body, (base, name)
    for base in ("/jobmanager/logs", *(f"/taskmanagers/{tm}/logs" for tm in tm_ids(cluster))):
        status, body, _ = raw_request(cluster.port, "GET", base)
        assert status == 200 and b"evil.log" not in body and b"canary" not in body
    assert canary.read_text() == SECRET and canary.stat().st_mtime_ns == before
    (log_dir / "evil.log").unlink()


def test_thread_dumps_show_a_stuck_user_function(tmp_path):
    c = start_cluster(tmp_path, taskmanagers=1)
    try:
        script = tmp_path / "stuck.py"
        script.write_text(STUCK_JOB)
        job_id = re.search(r"JobID ([0-9a-f]{32})", c.run("-d", str(script)).stdout).group(1)
        c.wait_until_running(job_id)
        (tm,) = tm_ids(c)
        found = wait_for(lambda: next(
            (t for t in c.client.taskmanager_thread_dump(tm)["threadInfos"]
             if "stuck_forever_in_map(" in t["stringifiedThreadInfo"]), None), 20, 0.1,
            lambda: f"a thread stuck in the map: {c.client.taskmanager_thread_dump(tm)}")
        text = found["stringifiedThreadInfo"]
        assert "stuck map" in found["threadName"] and "(1/1)" in found["threadName"]
        assert re.match(rf'"{re.escape(found["threadName"])}"( daemon)? Id=\d+ WAITING\n', text)
        # Line 6 of the user's file (the file name may be cloudpickle's "<dynamic-code>").
        assert re.search(r"\tat __main__\.stuck_forever_in_map\([^:()]+:6\)\n", text), text
        assert "\tat threading.Event.wait(threading.py:" in text
        jm = c.client.jobmanager_thread_dump()["threadInfos"]
        main = next(t for t in jm if t["threadName"] == "MainThread")
        assert main["stringifiedThreadInfo"].startswith('"MainThread" Id=')
        assert os.getpid() != c.jobmanager_pid
    finally:
        stop_cluster(c)
