"""Cluster data sets and BATCH jobs in the dashboard: a stream a BATCH job cached appears
on the data sets page without a reload and is deleted from there; a running BATCH job's
page shows what such a job has (no checkpoints, savepoints or rescaling; stages that wait
for their inputs)."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import wait_for
from tests.browser.test_dashboard import rest

pytestmark = pytest.mark.browser

CACHE_JOB = '''
import sys, time
from headwater.api import RuntimeExecutionMode, StreamExecutionEnvironment
from headwater.connectors.file import FileSink, FileSource

source_dir, out_dir, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])


def words(line):
    time.sleep(delay)
    return [(w, 1) for w in line.split()]


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.set_runtime_mode(RuntimeExecutionMode.BATCH)
counts = (env.from_source(FileSource.for_path(source_dir), None, "lines")
          .flat_map(words)
          .key_by(lambda p: p[0]).sum(1)
          .cache())
print("DATASET", counts.dataset_id, flush=True)
counts.map(lambda p: f"{p[0]} {p[1]}").sink_to(FileSink.for_row_format(out_dir).build())
env.execute("cached word counts")
'''

EMPTY = "No cluster data sets: BATCH jobs keep the streams they cache()"


@pytest.fixture
def cache_job(tmp_path):
    """The program and its input: ``run(cluster, *flags, delay=0)`` runs it."""
    source = tmp_path / "in"
    source.mkdir()
    for i in range(2):
        (source / f"part-{i}.txt").write_text(
            "".join(f"w{(i * 7 + n) % 13} w{n % 5} w{n % 3}\n" for n in range(40)))
    script = tmp_path / "cache_job.py"
    script.write_text(CACHE_JOB)

    def run(cluster, *flags: str, delay: float = 0.0, out: str = "out"):
        return cluster.run(*flags, str(script), str(source), str(tmp_path / out), str(delay))
    return run


def test_a_cached_data_set_appears_live_and_is_deleted_through_the_page(page, cluster,
                                                                        cache_job):
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))  # the fixture accepts them
    page.goto("/#/datasets")
    page.wait_for_selector(f"text={EMPTY}")
    page.wait_for_function("window.headwaterLive && window.headwaterLive.connected")
    page.evaluate("window.notReloaded = true")

    dataset_id = re.search(r"DATASET ([0-9a-f]{32})", cache_job(cluster).stdout).group(1)
    finished = time.monotonic()
    # The job's FINISHED event reloads the list (the timer alone would take 15 s).
    row = page.locator("tr", has=page.locator(f"code:text-is('{dataset_id}')"))
    row.wait_for(timeout=10000)
    assert time.monotonic() - finished < 5
    assert row.locator("td").nth(1).inner_text() == "yes"
    assert page.evaluate("window.notReloaded") is True

    # A deletion whose operation fails (answers faked): the row says why, the set stays.
    def failing(route):
        if route.request.method == "DELETE":
            route.fulfill(status=202, json={"request-id": "f" * 32})
        else:
            route.fulfill(json={"status": {"id": "COMPLETED"}, "operation": {"failure-cause": {
                "class": "RuntimeError",
                "stack-trace": "Traceback (most recent call last):\nRuntimeError: no answer"}}})
    page.route(lambda url: "/datasets/" in url, failing)
    row.locator("button[data-delete]").click()
    row.locator(".error", has_text="RuntimeError: no answer").wait_for()
    page.unroute_all()
    assert rest(cluster, "/datasets")["dataSets"] == [{"id": dataset_id, "isComplete": True}]

    row.locator("button[data-delete]").click()
    page.wait_for_selector(f"text={EMPTY}", timeout=15000)
    assert len(dialogs) == 2 and dataset_id in dialogs[0]
    assert rest(cluster, "/datasets")["dataSets"] == []
    page.wait_for_selector(f"#toast >> text=Data set {dataset_id} deleted.")
    assert page.problems.items == []


def test_a_running_batch_jobs_page_leaves_out_what_batch_jobs_lack(page, cluster, cache_job):
    before = {j["jid"] for j in rest(cluster, "/jobs/overview")["jobs"]}
    # 80 lines at 0.2 s each over 2 subtasks: the first stage runs for about 8 s.
    cache_job(cluster, "-d", delay=0.2, out="slow")
    jid = wait_for(lambda: next(iter({j["jid"] for j in rest(cluster, "/jobs/overview")["jobs"]}
                                     - before), None))
    page.goto(f"/#/jobs/{jid}")
    page.wait_for_selector("#dag .node[data-waiting=true]")
    assert page.inner_text(".job-type") == "BATCH"
    assert page.locator("button[data-act=cancel]").count() == 1
    for act in ("savepoint", "stop", "rescale"):
        assert page.locator(f"button[data-act={act}]").count() == 0
    assert "waits for its inputs" in page.inner_text(".tab")
    assert "not started" in page.inner_text(".legend")

    page.click('.tabs button[data-tab="Checkpoints"]')
    page.wait_for_selector(".tab >> text=Checkpointing is not enabled for this job.")
    page.click('.tabs button[data-tab="Overview"]')
    # The later stages start once the first finished, and the job finishes.
    page.wait_for_selector(".state .badge.FINISHED", timeout=60000)
    wait_for(lambda: page.locator("#dag .node[data-waiting=true]").count() == 0, timeout=10)
    assert "waits for its inputs" not in page.inner_text(".tab")
    assert page.locator("button[data-act]").count() == 0
    assert page.problems.items == []
