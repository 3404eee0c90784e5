"""Operations against a real cluster: the CLI's verbs and the Python client, endpoint by
endpoint (the 57 of the spec plus the log, stdout and thread-dump extras).
"""

from __future__ import annotations

import json
import re
import sys
import uuid

import aiohttp
import pytest

from headwater.client import RestClient, RestError
from headwater.rest.endpoints import ENDPOINTS
from tests.integration.conftest import EXAMPLES, headwater
from tests.integration.helpers import job_id_of

sys.path.insert(0, str(EXAMPLES))
import wordcount  # noqa: E402


def _m(cluster) -> tuple[str, str]:
    return "-m", f"127.0.0.1:{cluster.port}"


@pytest.fixture(scope="module")
def streaming_job(cluster):
    """A streaming job (parallelism 1) running for the whole module, cancelled at the end."""
    proc = cluster.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "50",
                       "--parallelism", "1")
    job_id = job_id_of(proc.stdout)
    cluster.wait_until_running(job_id)
    yield job_id
    try:
        cluster.client.cancel_job(job_id)
    except RestError:
        pass


# -- CLI ---------------------------------------------------------------------------------


def test_run_detached_list_and_cancel(cluster):
    proc = cluster.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "20",
                       "--parallelism", "1")
    assert "Job has been submitted with JobID" in proc.stdout
    job_id = job_id_of(proc.stdout)
    cluster.wait_until_running(job_id)
    running = headwater("list", "-r", *_m(cluster)).stdout
    assert job_id in running and "(RUNNING)" in running
    assert job_id not in headwater("list", "-s", *_m(cluster)).stdout
    out = headwater("cancel", *_m(cluster), job_id).stdout
    assert out.strip() == f"Cancelled job {job_id}."
    cluster.wait_for_state(job_id, {"CANCELED"})
    assert f"{job_id} : sensor averages (CANCELED)" in headwater("list", "-a", *_m(cluster)).stdout
    again = headwater("cancel", *_m(cluster), job_id, check=False)
    assert again.returncode == 1 and "404" in again.stderr and "error:" in again.stderr


def test_info_prints_the_plan_without_running(cluster):
    jobs_before = cluster.client.jobs()["jobs"]
    proc = headwater("info", str(EXAMPLES / "wordcount.py"), "--lines", "5",
                     "--parallelism", "3")
    plan = json.loads(proc.stdout)
    assert plan["name"] == "wordcount"
    assert [n["parallelism"] for n in plan["nodes"]] == [3, 3]
    assert cluster.client.jobs()["jobs"] == jobs_before
    bad = headwater("info", str(EXAMPLES / "wordcount.py"), "--nope", check=False)
    assert bad.returncode == 1
    assert "unrecognized arguments: --nope" in bad.stderr


@pytest.mark.parametrize("verb", ["savepoint", "stop", "cancel-with-savepoint"])
def test_savepoint_verbs_reach_the_server(cluster, tmp_path, verb):
    """Each verb on its own running job prints the savepoint's path (and the job ends for
    stop and cancel -s)."""
    proc = cluster.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "50",
                       "--parallelism", "1")
    streaming_job = job_id_of(proc.stdout)
    cluster.wait_until_running(streaming_job)
    target = str(tmp_path / "savepoints")
    if verb == "savepoint":
        args = ("savepoint", *_m(cluster), streaming_job, target)
    elif verb == "stop":
        args = ("stop", *_m(cluster), "--savepoint-path", target, "--drain", streaming_job)
    else:
        args = ("cancel", *_m(cluster), "-s", target, streaming_job)
    proc = headwater(*args, check=False)
    assert proc.returncode == 0, proc
    path = re.search(r"(?:Savepoint completed\. Path: |Savepoint stored in )(\S+?)\.?$",
                     proc.stdout.strip())
    assert path and "savepoints" in path.group(1), proc.stdout
    if verb == "savepoint":
        assert cluster.client.job(streaming_job)["state"] == "RUNNING"
        cluster.client.cancel_job(streaming_job)
    else:
        assert proc.stdout.startswith("Cancelled job") == (verb != "stop")
        cluster.wait_for_state(streaming_job, {"FINISHED", "CANCELED"})


@pytest.mark.parametrize("args", [["savepoint"], ["stop"], ["cancel"], ["jars", "run"],
                                  ["info"], ["stop", "--drain=maybe", "x"]])
def test_usage_errors_exit_2(args):
    proc = headwater(*args, check=False)
    assert proc.returncode == 2 and "Error:" in proc.stderr


@pytest.mark.parametrize("command", [[], ["run"], ["info"], ["list"], ["cancel"], ["savepoint"],
                                     ["stop"], ["jars"], ["jars", "upload"], ["jars", "list"],
                                     ["jars", "plan"], ["jars", "run"], ["jars", "delete"],
                                     ["cluster", "start"], ["cluster", "stop"]])
def test_every_command_has_help(command):
    proc = headwater(*command, "--help")
    assert proc.stdout.startswith("Usage:")


def test_unreachable_cluster_is_a_clean_error():
    proc = headwater("list", "-m", "127.0.0.1:9", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: could not reach")


def test_jars_commands(cluster, tmp_path):
    m = _m(cluster)
    jar_id = headwater("jars", "upload", *m, str(EXAMPLES / "wordcount.py")).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}_wordcount\.py", jar_id)
    listing = headwater("jars", "list", *m).stdout
    assert f"{jar_id}\twordcount.py\tentry points: wordcount" in listing
    plan = json.loads(headwater("jars", "plan", *m, jar_id, "--parallelism", "2").stdout)
    assert [n["parallelism"] for n in plan["nodes"]] == [2, 2]
    proc = headwater("jars", "run", *m, jar_id, "--lines", "30", "--parallelism", "1")
    job_id = job_id_of(proc.stdout)
    from headwater.runtime import accumulators

    result = cluster.client.wait_for_result(job_id, timeout=60)
    counts = dict(accumulators.deserialize_result(result["accumulator-results"]["word-counts"]))
    assert counts == wordcount.expected_counts(30, 1)
    failed = headwater("jars", "run", *m, jar_id, "--bogus", check=False)
    assert failed.returncode == 1 and "unrecognized arguments: --bogus" in failed.stderr
    assert headwater("jars", "delete", *m, jar_id).stdout.strip() == f"Deleted jar {jar_id}."
    gone = headwater("jars", "delete", *m, jar_id, check=False)
    assert gone.returncode == 1 and "404" in gone.stderr


# -- the client, endpoint by endpoint -----------------------------------------------------


def _calls(client: RestClient, job: str, vertex: str, tm: str, jar: str, graph: bytes):
    """(method, path template) -> a call of the client method for that endpoint."""
    trigger = uuid.uuid4().hex
    return {
        ("GET", "/config"): lambda: client.config(),
        ("GET", "/datasets"): lambda: client.datasets(),
        ("GET", "/datasets/delete/:triggerid"): lambda: client.dataset_deletion_status(trigger),
        ("DELETE", "/datasets/:datasetid"): lambda: client.trigger_dataset_deletion(trigger),
        ("GET", "/jars"): lambda: client.list_jars(),
        ("POST", "/jars/upload"): lambda: client.upload_jar(EXAMPLES / "wordcount.py"),
        ("GET", "/jars/:jarid/plan"): lambda: client.jar_plan_by_query(jar, parallelism=1),
        ("POST", "/jars/:jarid/plan"): lambda: client.jar_plan(jar, program_args=["--lines", "1"]),
        ("POST", "/jars/:jarid/run"): lambda: client.run_jar(
            jar, program_args=["--lines", "5", "--parallelism", "1"]),
        ("DELETE", "/jars/:jarid"): lambda: client.delete_jar(client.upload_jar(
            EXAMPLES / "wordcount.py")),
        ("GET", "/jobmanager/config"): lambda: client.jobmanager_config(),
        ("GET", "/jobmanager/logs"): lambda: client.jobmanager_logs(),
        ("GET", "/jobmanager/metrics"): lambda: client.jobmanager_metrics(),
        ("GET", "/jobs"): lambda: client.jobs(),
        ("POST", "/jobs"): lambda: client.submit_job_graph(graph),
        ("GET", "/jobs/metrics"): lambda: client.jobs_metrics(),
        ("GET", "/jobs/overview"): lambda: client.jobs_overview(),
        ("GET", "/jobs/:jobid"): lambda: client.job(job),
        ("GET", "/jobs/:jobid/accumulators"): lambda: client.job_accumulators(job),
        ("GET", "/jobs/:jobid/checkpoints"): lambda: client.checkpoints(job),
        ("GET", "/jobs/:jobid/checkpoints/config"): lambda: client.checkpoint_config(job),
        ("GET", "/jobs/:jobid/checkpoints/details/:checkpointid"):
            lambda: client.checkpoint_details(job, 1),
        ("GET", "/jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid"):
            lambda: client.checkpoint_subtask_details(job, 1, vertex),
        ("GET", "/jobs/:jobid/config"): lambda: client.job_config(job),
        ("GET", "/jobs/:jobid/exceptions"): lambda: client.job_exceptions(job, 5),
        ("GET", "/jobs/:jobid/execution-result"): lambda: client.execution_result(job),
        ("GET", "/jobs/:jobid/metrics"): lambda: client.job_metrics(job),
        ("GET", "/jobs/:jobid/plan"): lambda: client.job_plan(job),
        ("PATCH", "/jobs/:jobid/rescaling"): lambda: client.trigger_rescaling(job, 1),
        ("GET", "/jobs/:jobid/status"): lambda: client.job_status(job),
        ("GET", "/openapi.json"): lambda: client.openapi(),
        ("GET", "/events"): lambda: _first_event(client, job),
        ("POST", "/jobs/:jobid/checkpoints"): lambda: client.trigger_checkpoint(job),
        ("GET", "/jobs/:jobid/checkpoints/:triggerid"): lambda: client.checkpoint_trigger_status(
            job, trigger),
        ("GET", "/jobs/:jobid/resource-requirements"): lambda: client.resource_requirements(job),
        ("PUT", "/jobs/:jobid/resource-requirements"): lambda: client.set_resource_requirements(
            job, client.resource_requirements(job)),
        ("GET", "/jobs/:jobid/rescaling/:triggerid"): lambda: client.rescaling_status(job,
                                                                                      trigger),
        ("GET", "/jobs/:jobid/savepoints/:triggerid"): lambda: client.savepoint_status(job,
                                                                                      trigger),
        ("GET", "/jobs/:jobid/vertices/:vertexid"): lambda: client.vertex(job, vertex),
        ("GET", "/jobs/:jobid/vertices/:vertexid/flamegraph"):
            lambda: client.vertex_flame_graph(job, vertex, "on_cpu"),
        ("GET", "/jobs/:jobid/vertices/:vertexid/accumulators"):
            lambda: client.vertex_accumulators(job, vertex),
        ("GET", "/jobs/:jobid/vertices/:vertexid/backpressure"):
            lambda: client.vertex_backpressure(job, vertex),
        ("GET", "/jobs/:jobid/vertices/:vertexid/metrics"):
            lambda: client.vertex_metrics(job, vertex),
        ("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/accumulators"):
            lambda: client.subtasks_accumulators(job, vertex),
        ("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/metrics"):
            lambda: client.subtasks_metrics(job, vertex, subtasks=["0"]),
        ("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex"):
            lambda: client.subtask(job, vertex, 0),
        ("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt"):
            lambda: client.subtask_attempt(job, vertex, 0, 0),
        ("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt/"
                "accumulators"): lambda: client.subtask_attempt_accumulators(job, vertex, 0, 0),
        ("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/metrics"):
            lambda: client.subtask_metrics(job, vertex, 0),
        ("GET", "/jobs/:jobid/vertices/:vertexid/subtasktimes"):
            lambda: client.subtask_times(job, vertex),
        ("GET", "/jobs/:jobid/vertices/:vertexid/taskmanagers"):
            lambda: client.vertex_taskmanagers(job, vertex),
        ("GET", "/jobs/:jobid/vertices/:vertexid/watermarks"):
            lambda: client.vertex_watermarks(job, vertex),
        ("GET", "/overview"): lambda: client.overview(),
        ("POST", "/savepoint-disposal"): lambda: client.trigger_savepoint_disposal(
            "/nonexistent/savepoint"),
        ("GET", "/savepoint-disposal/:triggerid"):
            lambda: client.savepoint_disposal_status(trigger),
        ("GET", "/taskmanagers"): lambda: client.taskmanagers(),
        ("GET", "/taskmanagers/metrics"): lambda: client.taskmanagers_metrics(),
        ("GET", "/taskmanagers/:taskmanagerid"): lambda: client.taskmanager(tm),
        ("GET", "/taskmanagers/:taskmanagerid/logs"): lambda: client.taskmanager_logs(tm),
        ("GET", "/taskmanagers/:taskmanagerid/metrics"): lambda: client.taskmanager_metrics(tm),
        ("GET", "/taskmanagers/:taskmanagerid/thread-dump"):
            lambda: client.taskmanager_thread_dump(tm),
        ("GET", "/jobmanager/log"): lambda: client.jobmanager_log(),
        ("GET", "/jobmanager/stdout"): lambda: client.jobmanager_stdout(),
        ("GET", "/jobmanager/logs/:logname"): lambda: client.jobmanager_log_file("jobmanager.log"),
        ("GET", "/jobmanager/thread-dump"): lambda: client.jobmanager_thread_dump(),
        ("GET", "/taskmanagers/:taskmanagerid/log"): lambda: client.taskmanager_log(tm),
        ("GET", "/taskmanagers/:taskmanagerid/stdout"): lambda: client.taskmanager_stdout(tm),
        ("GET", "/taskmanagers/:taskmanagerid/logs/:logname"):
            lambda: client.taskmanager_log_file(tm, "jobmanager.log"),
    }


def _first_event(client, job_id: str) -> dict:
    """The stream's hello, naming what this client subscribed to (closes the stream)."""
    stream = client.events(topics=["job-status"], jobs=[job_id])
    try:
        kind, hello = next(stream)
    finally:
        stream.close()
    assert kind == "hello" and hello["topics"] == ["job-status"], hello
    assert hello["jobs"] == [job_id]
    return hello


#: Endpoints exercised elsewhere because calling them here would end the module's job or
#: cluster: cancel and stop/savepoint (test_savepoint_verbs..., the fixture's teardown) and
#: DELETE /cluster (``headwater cluster stop`` when the module's cluster is torn down).
ELSEWHERE = {("PATCH", "/jobs/:jobid"), ("POST", "/jobs/:jobid/savepoints"),
             ("POST", "/jobs/:jobid/stop"), ("DELETE", "/cluster")}


def test_client_covers_every_endpoint(cluster, streaming_job):
    client = cluster.client
    vertex = client.job(streaming_job)["vertices"][0]["id"]
    tm = client.taskmanagers()["taskmanagers"][0]["id"]
    jar = client.upload_jar(EXAMPLES / "wordcount.py")
    from headwater.api import StreamExecutionEnvironment
    from headwater.graph.serialization import serialize_job_graph

    env = StreamExecutionEnvironment()
    wordcount.build(env, 5, 1)
    graph = serialize_job_graph(env.get_job_graph("client coverage"))
    calls = _calls(client, streaming_job, vertex, tm, jar, graph)
    assert set(calls) | ELSEWHERE == {(e.method, e.path) for e in ENDPOINTS}
    assert len(ENDPOINTS) == 72
    for (method, path), call in calls.items():
        where = f"{method} {path}"
        try:
            answer = call()
        except RestError as exc:
            # Only lookups of ids that do not exist here (triggers, checkpoints,
            # savepoints) may fail, and only with a client error.
            assert exc.status in (400, 404), (where, exc.errors)
            assert ":triggerid" in path or "checkpoint" in path or "savepoint" in path \
                or ":datasetid" in path, (where, exc.errors)
            continue
        assert answer is not None or method in ("DELETE", "PATCH", "PUT"), where
    # A few answers in detail.
    assert client.jobs_overview()["jobs"]
    assert "jobmanager.log" in {f["name"] for f in client.jobmanager_logs()["logs"]}
    assert any(t["threadName"] == "MainThread"
               for t in client.jobmanager_thread_dump()["threadInfos"])
    assert client.config()["features"]["web-submit"] is True


def test_answers_match_the_spec_and_flinks_shapes(cluster, streaming_job):
    from tests.spec_check import reference, same_shape, spec_errors

    client = cluster.client
    tm = client.taskmanagers()["taskmanagers"][0]["id"]
    jar = client.upload_jar(EXAMPLES / "wordcount.py")
    form = aiohttp.FormData()
    form.add_field("jarfile", (EXAMPLES / "wordcount.py").read_bytes(), filename="wc.py")
    answers = {
        ("GET", "/jars"): client.list_jars(),
        ("POST", "/jars/upload"): client.request("POST", "/jars/upload", data=form),
        ("GET", "/jars/:jarid/plan"): client.jar_plan_by_query(jar),
        ("POST", "/jars/:jarid/run"): {"jobid": client.run_jar(
            jar, program_args=["--lines", "5", "--parallelism", "1"])},
        ("GET", "/jobmanager/logs"): client.jobmanager_logs(),
        ("GET", "/taskmanagers/:taskmanagerid/logs"): client.taskmanager_logs(tm),
        ("GET", "/taskmanagers/:taskmanagerid/thread-dump"): client.taskmanager_thread_dump(tm),
    }
    for (method, template), body in answers.items():
        assert spec_errors(method, template, 200, body) == [], template
        if template in ("/jobmanager/logs", "/taskmanagers/:taskmanagerid/logs",
                        "/taskmanagers/:taskmanagerid/thread-dump"):
            assert same_shape(body, reference(template)) == [], template
