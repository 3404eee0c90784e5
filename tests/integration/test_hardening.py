"""Abuse and bad input against a real cluster: every finding of the hardening review gets
a clean 4xx in Flink's error form or a bounded cost. The JobManager's memory stays under
200 MB through all of it and ``/overview`` keeps answering within a second."""

from __future__ import annotations

import concurrent.futures
import io
import json
import time
import zipfile

import psutil
import pytest

from tests.integration.conftest import EXAMPLES, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of
from tests.integration.http_raw import multipart_upload, raw_request

_MB = 1024 * 1024
JM_RSS_LIMIT = 200 * _MB


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("hardening"), taskmanagers=1, extra=(
        "-D", "web.submit.program-timeout=8000", "-D", "web.program.max-concurrent=2"))
    yield c
    stop_cluster(c)


@pytest.fixture(scope="module")
def running_job(cluster):
    proc = cluster.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "20",
                       "--parallelism", "1")
    job_id = job_id_of(proc.stdout)
    job = cluster.wait_until_running(job_id)
    yield job_id, job["vertices"][0]["id"]
    cluster.client.cancel_job(job_id)


def _jm_rss(cluster) -> int:
    return psutil.Process(cluster.jobmanager_pid).memory_info().rss


def _overview_latency(cluster) -> float:
    started = time.monotonic()
    status, _, _ = raw_request(cluster.port, "GET", "/overview")
    assert status == 200
    return time.monotonic() - started


def _errors(body: bytes, ctype: str) -> list[str]:
    assert "application/json" in ctype, (ctype, body[:200])
    errors = json.loads(body)["errors"]
    assert errors and all(isinstance(e, str) for e in errors)
    return errors


def test_huge_subtask_ranges_cost_nothing(cluster, running_job):
    job_id, vertex_id = running_job
    base = f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics?get=numRecordsOut&subtasks="
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(raw_request, cluster.port, "GET", base + r)
                   for r in ("0-99999999999", "0-20000000", "0-20000000,5-99999999",
                             "3-2000000000")]
        latency = _overview_latency(cluster)
        results = [a.result(timeout=30) for a in answers]
    for status, body, ctype in results:
        assert status == 200, body[:300]
        assert "json" in ctype
    ids = {m["id"] for m in json.loads(results[0][1])}
    assert ids == {"numRecordsOut"}  # aggregated over the one subtask that exists
    assert latency < 1.0
    assert _jm_rss(cluster) < JM_RSS_LIMIT


def _bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("job.py", "def main():\n    pass\n")
        with zf.open("huge.py", "w", force_zip64=True) as out:
            chunk = b"#" * _MB
            for _ in range(size // _MB):
                out.write(chunk)
    return buffer.getvalue()


def test_zip_bombs_are_refused_without_inflating(cluster):
    bomb = _bomb(300 * _MB)
    assert len(bomb) < 2 * _MB
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        uploads = [pool.submit(multipart_upload, cluster.port, "/jars/upload", "bomb.zip", bomb)
                   for _ in range(3)]
        latency = _overview_latency(cluster)
        results = [u.result(timeout=60) for u in uploads]
    for status, body in results:
        assert status == 400, body
        assert "web.upload.max-uncompressed-size" in body["errors"][0]
    assert latency < 1.0
    assert _jm_rss(cluster) < JM_RSS_LIMIT
    assert cluster.client.list_jars()["files"] == []


def test_slow_programs_cannot_starve_the_jobmanager(cluster, tmp_path):
    slow = tmp_path / "slow.py"
    slow.write_text("import time\n\ntime.sleep(30)\n")
    jar_id = cluster.client.upload_jar(slow)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        plans = [pool.submit(raw_request, cluster.port, "GET", f"/jars/{jar_id}/plan")
                 for _ in range(6)]
        time.sleep(0.5)  # wall time on purpose: the two admitted programs are running now
        started = time.monotonic()
        status, _, _ = raw_request(cluster.port, "GET", "/jars")
        assert status == 200
        assert time.monotonic() - started < 1.0
        assert _overview_latency(cluster) < 1.0
        results = [p.result(timeout=60) for p in plans]
    statuses = sorted(status for status, _, _ in results)
    assert statuses.count(429) == 4, statuses
    assert statuses.count(400) == 2, statuses  # the admitted two overran the time limit
    for _status, body, ctype in results:
        assert _errors(body, ctype)
    cluster.client.delete_jar(jar_id)


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"target-directory": "\xff\xfe"}',
    b"\xc3\x28",
])
@pytest.mark.parametrize("method,path", [
    ("POST", "/jars/{jar}/plan"), ("POST", "/jars/{jar}/run"), ("POST", "/jobs"),
    ("POST", "/jobs/{job}/savepoints"), ("POST", "/jobs/{job}/stop"),
    ("POST", "/savepoint-disposal"),
])
def test_malformed_bodies_are_400(cluster, running_job, tmp_path, method, path, body):
    job_id, _ = running_job
    program = tmp_path / "job.py"
    program.write_text("def main():\n    pass\n")
    jar_id = cluster.client.upload_jar(program)
    status, raw, ctype = raw_request(cluster.port, method, path.format(jar=jar_id, job=job_id),
                                     body, {"Content-Type": "application/json"})
    assert status == 400, raw[:300]
    assert _errors(raw, ctype)
    assert cluster.client.job(job_id)["state"] == "RUNNING"
    cluster.client.delete_jar(jar_id)


def test_nul_bytes_are_400(cluster, tmp_path):
    program = tmp_path / "job.py"
    program.write_text("def main():\n    pass\n")
    jar_id = cluster.client.upload_jar(program)
    for query in ("program-args=a%00b", "entry-class=job%00x", "programArg=%00"):
        status, raw, ctype = raw_request(cluster.port, "GET", f"/jars/{jar_id}/plan?{query}")
        assert status == 400, (query, raw[:300])
        assert _errors(raw, ctype)
    status, raw, ctype = raw_request(
        cluster.port, "POST", f"/jars/{jar_id}/run",
        json.dumps({"entryClass": "job\u0000", "programArgsList": ["a\u0000"]}).encode(),
        {"Content-Type": "application/json"})
    assert status == 400 and _errors(raw, ctype)
    cluster.client.delete_jar(jar_id)


def test_oversized_request_lines_and_headers_get_flinks_error_form(cluster):
    status, raw, ctype = raw_request(cluster.port, "GET", "/jobs/" + "a" * 9000)
    assert status == 400 and _errors(raw, ctype)
    status, raw, ctype = raw_request(cluster.port, "GET", "/overview",
                                     headers={"X-Padding": "b" * 9000})
    assert status == 400 and _errors(raw, ctype)
    assert _overview_latency(cluster) < 1.0


def test_an_invalid_cancel_body_does_not_cancel(cluster, running_job):
    job_id, _ = running_job
    status, raw, ctype = raw_request(cluster.port, "PATCH", f"/jobs/{job_id}", b"{not json",
                                     {"Content-Type": "application/json"})
    assert status == 400 and _errors(raw, ctype)
    assert cluster.client.job(job_id)["state"] == "RUNNING"


@pytest.mark.parametrize("field,path", [
    ("target-directory", "/jobs/{job}/savepoints"), ("targetDirectory", "/jobs/{job}/stop")])
def test_savepoint_locations_must_be_absolute(cluster, running_job, field, path):
    job_id, _ = running_job
    for location in ("abc", "relative/dir", "x:relative"):
        status, raw, ctype = raw_request(cluster.port, "POST", path.format(job=job_id),
                                         json.dumps({field: location}).encode(),
                                         {"Content-Type": "application/json"})
        assert status == 400, raw[:300]
        assert "absolute" in _errors(raw, ctype)[0]
    assert cluster.client.job(job_id)["state"] == "RUNNING"
    assert not (cluster.workdir / "abc").exists()


def test_a_relative_savepoint_path_to_run_is_400(cluster, tmp_path):
    program = tmp_path / "job.py"
    program.write_text("def main():\n    pass\n")
    jar_id = cluster.client.upload_jar(program)
    status, raw, ctype = raw_request(cluster.port, "POST", f"/jars/{jar_id}/run",
                                     json.dumps({"savepointPath": "abc"}).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 400 and "absolute" in _errors(raw, ctype)[0]
    cluster.client.delete_jar(jar_id)


def test_dot_segments_name_no_resource(cluster):
    for path in ("/taskmanagers/../metrics", "/jobs/./overview", "/v1/taskmanagers/.."):
        status, raw, ctype = raw_request(cluster.port, "GET", path)
        assert status == 404, (path, raw[:200])
        assert _errors(raw, ctype)


def test_a_foreign_page_cannot_upload_or_cancel(cluster, running_job, tmp_path):
    job_id, _ = running_job
    evil = {"Origin": "http://evil.example"}
    status, raw, ctype = raw_request(cluster.port, "PATCH", f"/jobs/{job_id}", None, evil)
    assert status == 403 and _errors(raw, ctype)
    boundary = "x" * 16
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"jarfile\"; "
            f"filename=\"a.py\"\r\n\r\ndef main():\n    pass\n\r\n--{boundary}--\r\n").encode()
    status, raw, ctype = raw_request(
        cluster.port, "POST", "/jars/upload", form,
        {**evil, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 403 and _errors(raw, ctype)
    assert cluster.client.list_jars()["files"] == []
    assert cluster.client.job(job_id)["state"] == "RUNNING"
    status, _, _ = raw_request(cluster.port, "GET", "/overview", None, evil)
    assert status == 200


def test_the_jobmanager_stayed_small_and_responsive(cluster):
    assert _jm_rss(cluster) < JM_RSS_LIMIT
    assert _overview_latency(cluster) < 1.0


# -- internal connections: the cluster secret -----------------------------------------------


def _drain_until_closed(sock, limit: int = 1 << 16) -> bytes:
    sock.settimeout(15)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
            if len(data) > limit:
                break
    except ConnectionResetError:
        pass
    return data


def test_a_fake_taskmanager_is_refused_at_the_rpc_port(cluster):
    import socket

    from headwater.runtime.rpc import framing, handshake
    from headwater.runtime.rpc.messages import RegisterTaskManager

    before = cluster.client.taskmanagers()["taskmanagers"]
    rpc_port = cluster.info["rpc_port"]
    fake = framing.encode(RegisterTaskManager(
        resource_id="intruder", host="127.0.0.1", data_port=1, pid=1, slots=8, hardware={},
        log_dir=None))
    with socket.create_connection(("127.0.0.1", rpc_port)) as sock:
        sock.sendall(fake)
        answer = _drain_until_closed(sock)
    # It got the handshake's greeting (a nonce) and nothing else: no registration answer.
    assert answer.startswith(handshake.MAGIC) and len(answer) == len(handshake.MAGIC) + 32
    after = cluster.client.taskmanagers()["taskmanagers"]
    assert [t["id"] for t in after] == [t["id"] for t in before]
    assert cluster.client.overview()["slots-total"] == len(before)


def test_a_raw_socket_on_a_data_port_gets_nothing_and_costs_nothing(cluster):
    import socket
    import struct

    tm = cluster.client.taskmanagers()["taskmanagers"][0]
    tm_process = next(p for p in cluster.processes()
                      if "task_executor" in " ".join(p.cmdline()))
    rss = tm_process.memory_info().rss
    with socket.create_connection(("127.0.0.1", tm["dataPort"])) as sock:
        sock.sendall(struct.pack("!IB", 1 << 30, 0) * 3)
        answer = _drain_until_closed(sock)
    assert len(answer) == len("HWAUTH1\n") + 32  # the greeting, then the door closes
    assert tm_process.memory_info().rss - rss < 50 * _MB
    assert (cluster.workdir / "cluster.secret").stat().st_mode & 0o777 == 0o600
