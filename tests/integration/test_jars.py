"""Job artifacts end to end: upload (curl), list, plan, run, delete, and what is refused.

One cluster for the module, with a 1 MiB request limit and a 4 s program time limit.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import psutil
import pytest

from headwater.client import RestClient, RestError
from headwater.runtime import accumulators
from headwater.testing import wait_for
from tests.integration.conftest import EXAMPLES, start_cluster, stop_cluster
from tests.integration.http_raw import multipart_upload

sys.path.insert(0, str(EXAMPLES))
import wordcount  # noqa: E402

LIMIT = 1024 * 1024

ZIP_JOB = '''"""Word count from a zipped package: words come from the program arguments."""
import sys

from headwater.api import ListAccumulator, SinkFunction, StreamExecutionEnvironment
from pkg.words import split_words


class Collect(SinkFunction):
    def open(self, runtime_context):
        self.latest = {}
        self.acc = ListAccumulator()
        runtime_context.add_accumulator("counts", self.acc)

    def invoke(self, value, context=None):
        self.latest[value[0]] = value[1]

    def close(self):
        for item in self.latest.items():
            self.acc.add(item)


def main(argv):
    env = StreamExecutionEnvironment.get_execution_environment()
    (env.from_collection([" ".join(argv)]).flat_map(split_words)
        .key_by(0).sum(1).add_sink(Collect()))
    env.execute("zipped words")


if __name__ == "__main__":
    main(sys.argv[1:])
'''


def zip_artifact(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


PACKAGE = {
    "pkg/__init__.py": "",
    "pkg/words.py": "def split_words(line):\n    return [(w, 1) for w in line.split()]\n",
    "pkg/job.py": ZIP_JOB,
    "requirements.txt": "# reported, never installed\nrequests>=2.0\n",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("jars"), extra=(
        "-D", f"rest.server.max-content-length={LIMIT}",
        "-D", "web.submit.program-timeout=4000"))
    yield c
    stop_cluster(c)


def upload_dir(cluster) -> str:
    return str(cluster.workdir / "web-upload")


def uploads(cluster) -> list[str]:
    try:
        return sorted(os.listdir(upload_dir(cluster)))
    except FileNotFoundError:
        return []


def curl_upload(cluster, path) -> dict:
    """Flink's documented curl command."""
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed: this test runs Flink's documented curl upload "
                    "command, install curl to run the test suite")
    out = subprocess.run(["curl", "-s", "-X", "POST", "-H", "Expect:", "-F",
                          f"jarfile=@{path}", f"{cluster.url}/jars/upload"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def result_accumulator(client: RestClient, job_id: str, name: str):
    result = client.wait_for_result(job_id, timeout=120)
    assert result["application-status"] == "SUCCEEDED", result
    return accumulators.deserialize_result(result["accumulator-results"][name])


def test_curl_upload_plan_and_run_wordcount(cluster):
    answer = curl_upload(cluster, EXAMPLES / "wordcount.py")
    assert answer["status"] == "success"
    jar_id = os.path.basename(answer["filename"])
    assert answer["filename"] == os.path.join(upload_dir(cluster), jar_id)
    assert jar_id.endswith("_wordcount.py") and len(jar_id.split("_", 1)[0]) == 32
    listing = cluster.client.list_jars()
    assert listing["address"] == cluster.url
    entry = next(f for f in listing["files"] if f["id"] == jar_id)
    assert entry["name"] == "wordcount.py" and entry["uploaded"] > 0
    assert [e["name"] for e in entry["entry"]] == ["wordcount"]
    assert entry["entry"][0]["description"].startswith("Word count over generated text")

    args = ["--lines", "700", "--parallelism", "2"]
    by_query = cluster.client.jar_plan_by_query(jar_id, program_args=args)["plan"]
    by_body = cluster.client.jar_plan(jar_id, program_args=args)["plan"]
    assert [n["description"] for n in by_query["nodes"]] == [
        n["description"] for n in by_body["nodes"]]
    assert {n["parallelism"] for n in by_body["nodes"]} == {2}
    assert by_body["name"] == "wordcount"
    assert cluster.client.jobs()["jobs"] == [] or all(
        j["id"] != by_body["jid"] for j in cluster.client.jobs()["jobs"])  # plan runs nothing

    job_id = cluster.client.run_jar(jar_id, program_args=args)
    counts = dict(result_accumulator(cluster.client, job_id, "word-counts"))
    assert counts == wordcount.expected_counts(700, 2)
    assert cluster.client.job(job_id)["name"] == "wordcount"


def test_run_with_deprecated_program_args_and_job_id(cluster):
    jar_id = cluster.client.upload_jar(EXAMPLES / "wordcount.py")
    wanted = "ab" * 16
    answer = cluster.client.request(
        "POST", f"/jars/{jar_id}/run", params={"program-args": "--lines 50 --parallelism 1"},
        json_body={"jobId": wanted})
    assert answer == {"jobid": wanted}
    counts = dict(result_accumulator(cluster.client, wanted, "word-counts"))
    assert counts == wordcount.expected_counts(50, 1)
    with pytest.raises(RestError) as err:
        cluster.client.request("POST", f"/jars/{jar_id}/run", json_body={
            "programArgs": "--lines 1", "programArgsList": ["--lines", "1"]})
    assert err.value.status == 400 and "Confusing request" in err.value.errors[0]


@pytest.mark.parametrize("entry", ["pkg.job", "pkg.job:main"])
def test_zip_artifact_with_package_and_entry_class(cluster, tmp_path, entry):
    path = tmp_path / "words.zip"
    path.write_bytes(zip_artifact(PACKAGE))
    jar_id = cluster.client.upload_jar(path)
    info = next(f for f in cluster.client.list_jars()["files"] if f["id"] == jar_id)
    assert [e["name"] for e in info["entry"]] == ["pkg.job"]
    assert info["entry"][0]["description"].startswith("Word count from a zipped package")
    assert info["requirements"] == ["requests>=2.0"]
    job_id = cluster.client.run_jar(jar_id, entry_class=entry,
                                    program_args=["to", "be", "or", "not", "to", "be"],
                                    parallelism=2)
    assert {v["parallelism"] for v in cluster.client.job(job_id)["vertices"]} == {2}
    counts = dict(result_accumulator(cluster.client, job_id, "counts"))
    assert counts == {"to": 2, "be": 2, "or": 1, "not": 1}


def test_jar_named_zip_runs_its_only_entry_point(cluster, tmp_path):
    path = tmp_path / "words.jar"
    path.write_bytes(zip_artifact(PACKAGE))
    jar_id = cluster.client.upload_jar(path)
    job_id = cluster.client.run_jar(jar_id, program_args=["a", "a"])
    assert dict(result_accumulator(cluster.client, job_id, "counts")) == {"a": 2}
    with pytest.raises(RestError) as err:
        cluster.client.run_jar(jar_id, entry_class="pkg.nothere")
    assert err.value.status == 400 and "pkg.nothere" in err.value.errors[0]


BAD_PROGRAMS = {
    "raises.py": ("def main():\n    raise RuntimeError('no job today')\n\nmain()\n",
                  ["RuntimeError: no job today", "Traceback (most recent call last)"]),
    "idle.py": ("print('hello, no job here')\n", ["didn't contain a job", "hello, no job"]),
    # A program that takes longer than the 4 s the JobManager gives it, on purpose.
    "slow.py": ("import time\ntime.sleep(120)\n", ["within 4 s"]),
}


def test_failing_programs_get_400_and_leave_the_cluster_unharmed(cluster, tmp_path):
    before = {p.pid for p in cluster.processes()}
    for name, (source, expected) in BAD_PROGRAMS.items():
        path = tmp_path / name
        path.write_text(source)
        jar_id = cluster.client.upload_jar(path)
        for call in (cluster.client.jar_plan, cluster.client.run_jar):
            with pytest.raises(RestError) as err:
                call(jar_id)
            assert err.value.status == 400
            for text in expected:
                assert text in err.value.errors[0], (name, err.value.errors)
    # No program process is left, the JobManager still serves and runs jobs.
    wait_for(lambda: {p.pid for p in cluster.processes()} == before, 10, 0.1,
             lambda: f"program processes gone: {cluster.processes()}")
    assert psutil.Process(cluster.jobmanager_pid).is_running()
    jar_id = cluster.client.upload_jar(EXAMPLES / "wordcount.py")
    job_id = cluster.client.run_jar(jar_id, program_args=["--lines", "20", "--parallelism", "1"])
    assert dict(result_accumulator(cluster.client, job_id, "word-counts")) == (
        wordcount.expected_counts(20, 1))


@pytest.mark.parametrize("name", ["../evil.py", "..%2fevil.py", "..%252fevil.py",
                                  "../../../../evil.py", "/tmp/evil.py", "..\\evil.py",
                                  "ok/../../evil.py", "%2e%2e%2fevil.py"])
def test_upload_names_never_escape_the_upload_dir(cluster, name):
    root = cluster.workdir.parent
    canary = root / "evil.py"
    outside_before = {p for p in root.rglob("*") if "web-upload" not in p.parts}
    before = uploads(cluster)
    status, body = multipart_upload(cluster.port, "/jars/upload", name, b"print('pwned')\n")
    assert status == 400, body
    assert "Invalid file name" in body["errors"][0]
    assert uploads(cluster) == before
    assert not canary.exists() and not os.path.exists("/tmp/evil.py")
    outside_after = {p for p in root.rglob("*") if "web-upload" not in p.parts}
    assert {p for p in outside_after - outside_before if p.suffix == ".py"} == set()


def test_harmless_odd_names_are_stored_under_a_safe_id(cluster):
    status, body = multipart_upload(cluster.port, "/jars/upload", "my job (v2).py",
                                    b"print('x')\n")
    assert status == 200, body
    jar_id = os.path.basename(body["filename"])
    assert jar_id.endswith("_my_job__v2_.py")
    assert os.path.dirname(body["filename"]) == upload_dir(cluster)
    cluster.client.delete_jar(jar_id)


def test_oversized_upload_is_413_and_stores_nothing(cluster):
    before = uploads(cluster)
    status, body = multipart_upload(cluster.port, "/jars/upload", "big.py",
                                    b"#" * (LIMIT + 10))
    assert status == 413, body
    assert "rest.server.max-content-length" in body["errors"][0]
    assert uploads(cluster) == before


@pytest.mark.parametrize("name,data,why", [
    ("x.jar", os.urandom(4096), "not a zip archive"),
    ("broken.py", b"def main(:\n    pass\n", "SyntaxError"),
    ("notes.txt", b"hello", "not a job artifact"),
    ("classes.jar", zip_artifact({"META-INF/MANIFEST.MF": "Main-Class: A\n", "A.class": "x"}),
     "no Python module"),
    ("evil.zip", zip_artifact({"../outside.py": "print(1)\n"}), "unsafe member name"),
])
def test_non_artifacts_are_400_and_store_nothing(cluster, name, data, why):
    before = uploads(cluster)
    status, body = multipart_upload(cluster.port, "/jars/upload", name, data)
    assert status == 400, body
    assert why in body["errors"][0]
    assert uploads(cluster) == before


def test_delete_and_unknown_jars(cluster):
    jar_id = cluster.client.upload_jar(EXAMPLES / "wordcount.py")
    cluster.client.delete_jar(jar_id)
    assert jar_id not in uploads(cluster)
    assert all(f["id"] != jar_id for f in cluster.client.list_jars()["files"])
    with pytest.raises(RestError) as err:
        cluster.client.delete_jar(jar_id)
    assert err.value.status == 404 and "does not exist" in err.value.errors[0]
    with pytest.raises(RestError) as err:
        cluster.client.run_jar(jar_id)
    assert err.value.status == 400 and "does not exist" in err.value.errors[0]
    for bad in ("..%2f..%2fcluster.json", "..%252fcluster.json"):
        status = multipart_upload(cluster.port, f"/jars/{bad}/run", "x.py", b"")[0]
        assert status in (400, 404)


def test_post_jobs_keeps_jars_and_artifacts_under_safe_names(cluster, tmp_path):
    from headwater.api import StreamExecutionEnvironment
    from headwater.graph.serialization import serialize_job_graph

    env = StreamExecutionEnvironment()
    wordcount.build(env, 10, 1)
    graph = env.get_job_graph("with files")
    lib = zip_artifact(PACKAGE)
    job_id = cluster.client.submit_job_graph(
        serialize_job_graph(graph), jars=[("lib.zip", lib)],
        artifacts=[("data", "data.txt", b"some data")])
    stored = cluster.workdir / "job-files" / job_id
    assert sorted(p.name for p in stored.iterdir()) == ["artifact-0_data.txt", "jar-0_lib.zip"]
    assert (stored / "jar-0_lib.zip").read_bytes() == lib
    cluster.client.wait_for_result(job_id, timeout=60)

    for jars, artifacts, why in [([("../lib.zip", lib)], [], "Invalid file name"),
                                 ([("lib.jar", b"not a zip")], [], "not a zip archive"),
                                 ([], [("d", "../../d.txt", b"x")], "Invalid file name")]:
        env2 = StreamExecutionEnvironment()
        wordcount.build(env2, 10, 1)
        graph = env2.get_job_graph("refused")
        with pytest.raises(RestError) as err:
            cluster.client.submit_job_graph(serialize_job_graph(graph), jars=jars,
                                            artifacts=artifacts)
        # A traversal name is refused as such, or as not matching its (client-encoded) part.
        assert err.value.status == 400
        assert why in err.value.errors[0] or "could not be found" in err.value.errors[0]
        assert not (cluster.workdir / "job-files" / graph.job_id).exists()
        assert cluster.client.jobs()["jobs"] and all(
            j["id"] != graph.job_id for j in cluster.client.jobs()["jobs"])
    assert not (cluster.workdir / "lib.zip").exists()
    assert not (cluster.workdir.parent / "d.txt").exists()
