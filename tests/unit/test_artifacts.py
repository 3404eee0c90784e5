"""Job artifacts, log files and thread dumps without a cluster."""

from __future__ import annotations

import io
import logging
import sys
import threading
import uuid
import zipfile
from pathlib import Path

import pytest

from headwater.artifacts.inspection import InvalidArtifact, inspect_artifact, module_name_of
from headwater.artifacts.job_files import save_job_files
from headwater.artifacts.program import EntryPointError, run_program, split_entry
from headwater.artifacts.store import JarNotFound, JarStore, safe_file_name
from headwater.config import Configuration
from headwater.runtime import filesystem, log_files
from headwater.runtime.rpc.messages import RequestLogFile
from headwater.runtime.taskmanager import diagnostics
from headwater.runtime.thread_dump import thread_dump
from tests.unit.test_rest_handlers import StubCluster, request


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


# -- inspection and names ------------------------------------------------------------------


def test_py_entry_points_and_descriptions(tmp_path):
    job = tmp_path / "job.py"
    job.write_text('"""Counts things."""\nif __name__ == "__main__":\n    pass\n')
    info = inspect_artifact(job)
    assert [(e.name, e.description) for e in info.entries] == [("job", "Counts things.")]
    lib = tmp_path / "lib.py"
    lib.write_text("def helper():\n    return 1\n")
    assert inspect_artifact(lib).entries == []
    assert module_name_of("0123456789abcdef0123456789abcdef_wordcount.py") == "wordcount"


def test_zip_entry_points_requirements_and_main(tmp_path):
    path = tmp_path / "a.pyz"
    path.write_bytes(make_zip({
        "__main__.py": '"""Runs the default job."""\nimport pkg.job\n',
        "pkg/__init__.py": "", "pkg/job.py": "def main():\n    env.execute()\n",
        "pkg/util.py": "X = 1\n", "requirements.txt": "numpy>=1  # math\n\n# none\nrich\n",
        "data/readme.txt": "not code"}))
    info = inspect_artifact(path)
    assert info.kind == "zip" and info.has_main
    assert [e.name for e in info.entries] == ["__main__", "pkg.job"]
    assert info.requirements == ["numpy>=1", "rich"]


@pytest.mark.parametrize("name,data,why", [
    ("x.jar", b"\x00garbage", "not a zip archive"),
    ("x.py", b"def (:\n", "SyntaxError"),
    ("x.exe", b"", "not a job artifact"),
    ("x.zip", make_zip({"a.txt": "x"}), "no Python module"),
    ("x.zip", make_zip({"/abs.py": "x"}), "unsafe member name"),
    ("x.zip", make_zip({"pkg/bad.py": "def (:"}), "SyntaxError"),
])
def test_invalid_artifacts(tmp_path, name, data, why):
    path = tmp_path / "upload"
    path.write_bytes(data)
    with pytest.raises(InvalidArtifact, match=why):
        inspect_artifact(path, name)


@pytest.mark.parametrize("name", ["../x.py", "..%2fx.py", "..%252fx.py", "/etc/x.py",
                                  "a\\b.py", "..", "x\x00.py", "", None, "a/b.py"])
def test_unsafe_upload_names_are_refused(name):
    with pytest.raises(InvalidArtifact):
        safe_file_name(name)


def test_odd_names_are_reduced_to_safe_ones():
    assert safe_file_name("my job (v2).py") == "my_job__v2_.py"
    assert safe_file_name(".hidden.py") == "hidden.py"
    assert safe_file_name("wörter.zip") == "w_rter.zip"
    assert len(safe_file_name("a" * 300 + ".py")) <= 120


# -- the store ------------------------------------------------------------------------------


def test_store_commit_list_get_delete(tmp_path):
    store = JarStore(tmp_path / "up")
    with store.staging() as (staged, out):
        out.write(b'"""Doc."""\nimport sys\nif __name__ == "__main__":\n    pass\n')
        out.flush()
        jar = store.commit(staged, "job.py")
    assert jar.path.parent == store.directory and jar.id.endswith("_job.py")
    assert [j.id for j in store.list()] == [jar.id]
    outside = tmp_path / "outside.py"
    outside.write_text("print(1)\n")
    (store.directory / ("0" * 32 + "_link.py")).symlink_to(outside)
    with pytest.raises(JarNotFound):
        store.get("0" * 32 + "_link.py")
    for bad in ("../outside.py", "job.py", "0" * 32 + "_../x.py", ""):
        with pytest.raises(JarNotFound):
            store.get(bad)
    assert [j.id for j in store.list()] == [jar.id]
    store.delete(jar.id)
    assert store.list() == [] and outside.exists()


def test_failed_commit_keeps_nothing(tmp_path):
    store = JarStore(tmp_path / "up")
    with pytest.raises(InvalidArtifact):
        with store.staging() as (staged, out):
            out.write(b"def (:")
            out.flush()
            store.commit(staged, "broken.py")
    assert list(store.directory.iterdir()) == []


def test_job_files_refuse_traversal_and_keep_nothing(tmp_path):
    files = {"../evil.zip": make_zip({"a.py": "x = 1\n"}), "ok.txt": b"data"}
    with pytest.raises(InvalidArtifact):
        save_job_files(tmp_path / "jf", "a" * 32, files, ["../evil.zip"], [])
    with pytest.raises(InvalidArtifact):
        save_job_files(tmp_path / "jf", "a" * 32, {"x.jar": b"nope"}, ["x.jar"], [])
    assert not (tmp_path / "jf" / ("a" * 32)).exists() and not (tmp_path / "evil.zip").exists()
    stored = save_job_files(tmp_path / "jf", "b" * 32, files, [], ["ok.txt"])
    assert [p.name for p in stored] == ["artifact-0_ok.txt"]


# -- running programs -------------------------------------------------------------------------


def test_split_entry():
    assert split_entry("pkg.job:main") == ("pkg.job", "main")
    assert split_entry("pkg.job") == ("pkg.job", None)
    assert split_entry(None) == (None, None)


def test_run_program_entry_function_gets_the_args(tmp_path):
    path = tmp_path / "p.zip"
    path.write_bytes(make_zip({
        "pkg/__init__.py": "",
        "pkg/job.py": "import builtins\ndef main(argv):\n    builtins.seen_args = argv\n",
        "pkg/other.py": "def main():\n    pass\n"}))
    import builtins

    try:
        run_program(path, "pkg.job:main", ["--a", "1"])
        assert builtins.seen_args == ["--a", "1"]
        del builtins.seen_args
        with pytest.raises(EntryPointError):
            run_program(path, "pkg.job:nothere")
        with pytest.raises(EntryPointError, match="2 entry points"):
            run_program(path, None)  # two candidates and no __main__.py
    finally:
        for name in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
            del sys.modules[name]


# -- log files and thread dumps ---------------------------------------------------------------


def test_rotating_log_files_are_listed_and_served(tmp_path):
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        log_files.configure_file_logging(tmp_path / "tm.log", max_bytes=2000, backups=2)
        for i in range(200):
            logging.getLogger("t").info("line %d %s", i, "x" * 40)
    finally:
        for h in list(root.handlers):
            h.close()
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
    names = [f["name"] for f in log_files.list_log_files(tmp_path)]
    assert names == ["tm.log", "tm.log.1", "tm.log.2"]
    assert all(f["size"] <= 2200 for f in log_files.list_log_files(tmp_path))
    assert b"line 199" in log_files.read_log_file(tmp_path, "tm.log")
    assert log_files.read_log_file(tmp_path, "tm.log", max_bytes=10).endswith(b"\n")
    assert len(log_files.read_log_file(tmp_path, "tm.log", max_bytes=10)) == 10


def test_log_names_outside_the_listing_are_refused(tmp_path):
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    (log_dir / "a.log").write_text("ok")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (log_dir / "link.log").symlink_to(secret)
    (log_dir / "sub").mkdir()
    assert [f["name"] for f in log_files.list_log_files(log_dir)] == ["a.log"]
    for name in ["../secret.txt", str(secret), "link.log", "sub", "..", ".", "a.log/..",
                 "..%2fsecret.txt", ""]:
        with pytest.raises(log_files.LogFileNotFound):
            log_files.read_log_file(log_dir, name)
    assert log_files.read_log_file(log_dir, "a.log") == b"ok"
    assert log_files.list_log_files(None) == [] and log_files.list_log_files(tmp_path / "no") == []


def test_taskmanager_log_request_aliases(tmp_path):
    (tmp_path / "taskmanager-3.log").write_text("log text")
    answers = diagnostics.Diagnostics(
        str(tmp_path), diagnostics.ProcessFiles(log="taskmanager-3.log", stdout=None))
    assert answers.read_log(RequestLogFile(name=":log")) == b"log text"
    with pytest.raises(FileNotFoundError):
        answers.read_log(RequestLogFile(name=":stdout"))
    with pytest.raises(FileNotFoundError):
        answers.read_log(RequestLogFile(name="../x"))


def test_thread_dump_shows_a_waiting_thread():
    release = threading.Event()

    def parked_in_a_test():
        release.wait()

    t = threading.Thread(target=parked_in_a_test, name="parked thread", daemon=True)
    t.start()
    try:
        for _ in range(100):
            info = next(i for i in thread_dump() if i["threadName"] == "parked thread")
            if "parked_in_a_test" in info["stringifiedThreadInfo"]:
                break
        text = info["stringifiedThreadInfo"]
        assert text.startswith(f'"parked thread" daemon Id={t.native_id} WAITING\n')
        assert "\tat threading.Event.wait(threading.py:" in text
        assert "test_artifacts.test_thread_dump_shows_a_waiting_thread.<locals>." \
               "parked_in_a_test(test_artifacts.py:" in text
        assert text.endswith("\n\n")
    finally:
        release.set()
        t.join()


# -- switches ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("GET", "/jars"), ("POST", "/jars/upload"),
                                         ("DELETE", "/jars/x.py"), ("GET", "/jars/x.py/plan"),
                                         ("POST", "/jars/x.py/plan"), ("POST", "/jars/x.py/run"),
                                         ("GET", "/v1/jars")])
def test_web_submit_disabled_hides_the_jar_endpoints(method, path):
    cluster = StubCluster(configuration=Configuration({"web.submit.enable": False}))
    a = request(cluster, method, path)
    assert a.status == 404
    assert a.body == {"errors": [f"Unable to load requested file {path}."]}
    assert request(cluster, "GET", "/config").body["features"]["web-submit"] is False


def test_stub_cluster_without_files_answers_404_not_500():
    cluster = StubCluster()
    assert request(cluster, "GET", "/jobmanager/logs").body == {"logs": []}
    assert request(cluster, "GET", "/jobmanager/log").status == 404
    tm = cluster.task_managers()[0].resource_id
    assert request(cluster, "GET", f"/taskmanagers/{tm}/log").status == 404
    assert Path  # noqa: B018 - keep the import used in type positions above


def test_store_on_a_url_survives_a_new_working_directory(tmp_path):
    remote = f"memory://artifact-tests/{uuid.uuid4().hex}"
    first = JarStore(tmp_path / "jm1", remote=remote)
    with first.staging() as (staged, out):
        out.write(b'"""Doc."""\nif __name__ == "__main__":\n    pass\n')
        out.flush()
        jar = first.commit(staged, "job.py")
    assert filesystem.read_bytes(f"{remote}/{jar.id}") == jar.path.read_bytes()
    # Another JobManager with an empty working directory finds it in the store.
    second = JarStore(tmp_path / "jm2", remote=remote)
    assert [j.id for j in second.list()] == [jar.id]
    found = second.get(jar.id)
    assert found.path.parent == second.directory
    assert found.path.read_bytes() == jar.path.read_bytes()
    assert found.info.entries == jar.info.entries
    second.delete(jar.id)
    assert not filesystem.exists(f"{remote}/{jar.id}")
    assert JarStore(tmp_path / "jm3", remote=remote).list() == []
