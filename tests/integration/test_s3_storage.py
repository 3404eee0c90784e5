"""Checkpoints, savepoints, job input and committed output on S3 (a real moto server on
127.0.0.1), on a real cluster: exactly once through a TaskManager killed with SIGKILL,
savepoints, disposal and rescaling, all addressed by ``s3://`` URLs; and bad storage
locations refused before anything runs."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import sys
from pathlib import Path

import psutil
import pytest

from headwater.client.rest_client import OperationFailed
from headwater.testing import s3, wait_for
from headwater.testing.s3 import S3Server
from tests.integration.conftest import headwater, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of, rescale_through
from tests.integration.test_fault_tolerance import (
    FILES,
    JOB,
    KEYS,
    LINES,
    expected_lines,
    wait_for_checkpoints,
)

s3_server = s3.s3_server  # the fixture


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> str:
    name = s3_server.new_bucket()
    for f in range(FILES):
        s3_server.put(name, f"in/input-{f}.txt", "".join(
            f"k{(f * LINES + i) % KEYS}\n" for i in range(LINES)).encode())
    return name


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3_server: S3Server, bucket: str):
    c = start_cluster(tmp_path_factory.mktemp("s3"), taskmanagers=2, slots=1, extra=(
        "-D", "heartbeat.timeout=3000",
        "-D", f"state.checkpoints.dir=s3://{bucket}/checkpoints",
        "-D", f"state.savepoints.dir=s3://{bucket}/savepoints",
        "-D", f"web.upload.dir=s3://{bucket}/jars",
        *s3_server.dynamic_properties()))
    yield c
    stop_cluster(c)


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("s3job") / "job.py"
    path.write_text(JOB)
    return path


def committed(s3: S3Server, bucket: str, prefix: str) -> collections.Counter:
    """Lines of the committed part objects under ``prefix`` (hidden staging excluded)."""
    lines: collections.Counter = collections.Counter()
    for key in s3.keys(bucket, f"{prefix}/"):
        if key.rpartition("/")[2].startswith("part-"):
            lines.update(s3.read(bucket, key).decode().splitlines())
    return lines


def submit(cluster, script, bucket, out, *options, delay="0.004", parallelism="2"):
    return job_id_of(cluster.run("-d", *options, str(script), f"s3://{bucket}/in",
                                 f"s3://{bucket}/{out}", delay, parallelism).stdout)


def test_killed_taskmanager_restarts_from_s3_checkpoint_exactly_once(
        cluster, script, s3_server, bucket):
    job_id = submit(cluster, script, bucket, "killed")
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 2)
    assert s3_server.keys(bucket, f"checkpoints/{job_id}/chk-")
    victim = [p for p in cluster.processes() if "task_executor" in " ".join(p.cmdline())][0]
    victim.send_signal(signal.SIGKILL)
    job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=120)
    assert job["state"] == "FINISHED"
    assert committed(s3_server, bucket, "killed") == expected_lines()
    checkpoints = cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")
    restored = checkpoints["latest"]["restored"]
    assert restored["is_savepoint"] is False
    assert restored["external_path"].startswith(f"s3://{bucket}/checkpoints/{job_id}/chk-")
    # The job finished: its checkpoints are discarded (not retained), on S3 as locally.
    wait_for(lambda: not s3_server.keys(bucket, f"checkpoints/{job_id}/"), 30, 0.2,
             "checkpoints discarded")
    # No staging object is left beside the committed parts.
    assert all(k.rpartition("/")[2].startswith("part-")
               for k in s3_server.keys(bucket, "killed/"))


def test_savepoint_on_s3_cancel_resume_and_dispose(cluster, script, s3_server, bucket):
    job_id = submit(cluster, script, bucket, "resumed")
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 1)
    proc = headwater("cancel", "-m", f"127.0.0.1:{cluster.port}", "-s",
                     f"s3://{bucket}/sp", job_id)
    match = re.search(r"(s3://\S+savepoint-[0-9a-f-]+)", proc.stdout)
    assert match, proc.stdout
    location = match.group(1)
    key_prefix = location[len(f"s3://{bucket}/"):]
    assert f"{key_prefix}/_metadata" in s3_server.keys(bucket, key_prefix)
    cluster.wait_for_state(job_id, {"CANCELED"})
    before = committed(s3_server, bucket, "resumed")
    assert sum(before.values()) < sum(expected_lines().values())  # really interrupted
    resumed = submit(cluster, script, bucket, "resumed", "-s", location)
    job = cluster.wait_for_state(resumed, {"FINISHED", "FAILED"}, timeout=120)
    assert job["state"] == "FINISHED"
    assert committed(s3_server, bucket, "resumed") == expected_lines()
    restored = cluster.client.request("GET", f"/jobs/{resumed}/checkpoints")["latest"]["restored"]
    assert restored["is_savepoint"] is True and restored["external_path"] == location
    # Disposal (POST /savepoint-disposal) deletes every object of the savepoint.
    headwater("savepoint", "-m", f"127.0.0.1:{cluster.port}", "-d", location)
    assert s3_server.keys(bucket, f"{key_prefix}/") == []
    gone = headwater("savepoint", "-m", f"127.0.0.1:{cluster.port}", "-d", location,
                     check=False)
    assert gone.returncode == 1  # nothing there any more


def test_stop_with_savepoint_on_s3_and_resume(cluster, script, s3_server, bucket):
    job_id = submit(cluster, script, bucket, "stopped")
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 1)
    proc = headwater("stop", "-m", f"127.0.0.1:{cluster.port}", "--savepoint-path",
                     f"s3://{bucket}/stop", job_id)
    location = re.search(r"(s3://\S+savepoint-[0-9a-f-]+)", proc.stdout).group(1)
    assert cluster.wait_for_state(job_id, {"FINISHED", "FAILED", "CANCELED"})["state"] == \
        "FINISHED"
    history = cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")["history"]
    assert history[0]["checkpoint_type"] == "SYNC_SAVEPOINT"
    assert history[0]["external_path"] == location
    resumed = submit(cluster, script, bucket, "stopped", "-s", location)
    assert cluster.wait_for_state(resumed, {"FINISHED", "FAILED"}, timeout=120)["state"] == \
        "FINISHED"
    assert committed(s3_server, bucket, "stopped") == expected_lines()


def test_rest_savepoint_to_default_s3_dir_then_jar_run_from_it(cluster, script, s3_server,
                                                               bucket):
    job_id = submit(cluster, script, bucket, "jar-resumed")
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 1)
    # No target directory: the cluster's state.savepoints.dir (s3://.../savepoints).
    location = cluster.client.savepoint(job_id, None, cancel_job=True, timeout=60)
    assert location.startswith(f"s3://{bucket}/savepoints/savepoint-"), location
    cluster.wait_for_state(job_id, {"CANCELED"})
    jar_id = cluster.client.upload_jar(script)
    assert f"jars/{jar_id}" in s3_server.keys(bucket, "jars/")
    resumed = cluster.client.run_jar(
        jar_id, program_args=[f"s3://{bucket}/in", f"s3://{bucket}/jar-resumed", "0.004", "2"],
        savepoint_path=location)
    job = cluster.wait_for_state(resumed, {"FINISHED", "FAILED"}, timeout=120)
    assert job["state"] == "FINISHED"
    assert committed(s3_server, bucket, "jar-resumed") == expected_lines()
    restored = cluster.client.request("GET", f"/jobs/{resumed}/checkpoints")["latest"]["restored"]
    assert restored["external_path"] == location


def test_artifacts_on_s3_are_found_by_another_jobmanager(cluster, script, s3_server, bucket,
                                                         tmp_path):
    jar_id = cluster.client.upload_jar(script, "shared_job.py")
    other = start_cluster(tmp_path, taskmanagers=1, extra=(
        "-D", f"web.upload.dir=s3://{bucket}/jars", *s3_server.dynamic_properties()))
    try:
        assert jar_id in [f["id"] for f in other.client.list_jars()["files"]]
        plan = other.client.jar_plan(jar_id, program_args=[
            f"s3://{bucket}/in", f"s3://{bucket}/unused", "0", "1"])
        assert plan["plan"]["nodes"]
        other.client.delete_jar(jar_id)
        assert f"jars/{jar_id}" not in s3_server.keys(bucket, "jars/")
    finally:
        stop_cluster(other)


def test_rescale_with_s3_checkpoints_keeps_every_key_once(cluster, script, s3_server, bucket):
    job_id = submit(cluster, script, bucket, "rescaled", delay="0.006")
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 1)
    # A savepoint into an unusable location fails clearly; the job goes on.
    for target, reason in (("foo://x/sp", "unknown file system scheme 'foo'"),
                           ("s3://no-such-bucket-here/sp", "bucket does not exist")):
        with pytest.raises(OperationFailed) as failed:
            cluster.client.savepoint(job_id, target, timeout=60)
        assert reason in json.dumps(failed.value.cause), failed.value.cause
    assert cluster.client.job(job_id)["state"] == "RUNNING"
    rescale_through(cluster, job_id)
    assert s3_server.keys(bucket, f"checkpoints/{job_id}/rescaling/")
    job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=120)
    assert job["state"] == "FINISHED"
    assert committed(s3_server, bucket, "rescaled") == expected_lines()


OWN_DIR_JOB = '''
import sys
from headwater.api import StreamExecutionEnvironment
env = StreamExecutionEnvironment.get_execution_environment()
env.enable_checkpointing(200)
env.get_checkpoint_config().set_checkpoint_storage_dir(sys.argv[1])
env.from_collection([1, 2, 3]).print()
env.execute("own checkpoint dir")
'''


def test_a_jobs_own_bad_checkpoint_dir_is_refused_at_submission(cluster, tmp_path):
    script = tmp_path / "own.py"
    script.write_text(OWN_DIR_JOB)
    jobs_before = len(cluster.client.request("GET", "/jobs")["jobs"])
    for location, reason in (("foo://x/y", "unknown file system scheme 'foo'"),
                             ("s3://no-such-bucket-here/cp", "bucket does not exist")):
        proc = cluster.run(str(script), location, check=False)
        assert proc.returncode == 1
        assert "state.checkpoints.dir" in proc.stderr and reason in proc.stderr, proc.stderr
    assert len(cluster.client.request("GET", "/jobs")["jobs"]) == jobs_before


def _left_running(workdir: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if str(workdir) in " ".join(p.info["cmdline"] or ()):
                found.append(p)
        except psutil.Error:
            pass
    return found


def _fake_missing_s3fs(tmp_path: Path) -> str:
    package = tmp_path / "no-s3fs" / "s3fs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('No module named s3fs')\n")
    return str(package.parent)


@pytest.mark.parametrize("case", ["unknown-scheme", "missing-s3fs", "unreachable",
                                  "missing-bucket", "unwritable"])
def test_bad_cluster_checkpoint_storage_fails_cluster_start(tmp_path, case, s3_server):
    env = None
    props = s3_server.dynamic_properties()
    location, reason = {
        "unknown-scheme": ("foo://x/checkpoints", "unknown file system scheme 'foo'"),
        "missing-s3fs": ("s3://any/checkpoints", "s3fs"),
        "unreachable": ("s3://any/checkpoints", "Could not connect to the endpoint"),
        "missing-bucket": ("s3://no-such-bucket/checkpoints", "bucket does not exist"),
        "unwritable": (str(tmp_path / "a-file" / "checkpoints"), "not writable"),
    }[case]
    if case == "missing-s3fs":
        env = {"PYTHONPATH": os.pathsep.join(
            [_fake_missing_s3fs(tmp_path), *sys.path])}
    if case == "unreachable":
        props = (*props, "-D", "s3.endpoint=http://127.0.0.1:9")
    if case == "unwritable":
        (tmp_path / "a-file").write_text("a file where a directory should be")
    workdir = tmp_path / "cluster"
    proc = headwater("cluster", "start", "--taskmanagers", "1", "--port", "0", "--workdir",
                     str(workdir), "-D", f"state.checkpoints.dir={location}", *props,
                     check=False, env=env, timeout=180)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "state.checkpoints.dir" in output and reason in output, output
    assert not (workdir / "cluster.json").exists()
    assert _left_running(workdir) == []
