"""The web dashboard in Debian's chromium against a real cluster."""

from __future__ import annotations

import base64
import gzip
import json
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import wait_for
from tests.integration.conftest import EXAMPLES

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]

SLOW_SINK = '''"""A fast source into a sink that sleeps: the source must become back-pressured."""
import time

from headwater.api import SinkFunction, SourceFunction, StreamExecutionEnvironment


class Numbers(SourceFunction):
    def __init__(self):
        self.running = True

    def run(self, ctx):
        n = 0
        while self.running:
            ctx.collect((n % 7, "x" * 200))
            n += 1

    def cancel(self):
        self.running = False


class Slow(SinkFunction):
    def invoke(self, value, context=None):
        time.sleep(0.02)


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
env.add_source(Numbers(), "fast numbers").key_by(lambda r: r[0]).add_sink(Slow()).name("slow sink")
env.execute("slow sink")
'''


def rest(cluster, path: str, method: str = "GET"):
    """One REST call with urllib (playwright's sync API owns this thread's event loop)."""
    req = urllib.request.Request(cluster.url + path, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def running_jobs(cluster) -> dict[str, dict]:
    return {j["jid"]: j for j in rest(cluster, "/jobs/overview")["jobs"]
            if j["state"] == "RUNNING"}


def submit(cluster, path: Path, *args: str) -> str:
    """Run a detached job and return its id once every subtask runs."""
    before = set(running_jobs(cluster))
    cluster.run("-d", str(path), *args)
    jid = wait_for(lambda: next(iter(set(running_jobs(cluster)) - before), None))
    wait_for(lambda: all(v["status"] == "RUNNING"
                         for v in rest(cluster, f"/jobs/{jid}")["vertices"]))
    return jid


@pytest.fixture(scope="module")
def streaming_job(cluster):
    """The README's endless streaming example at a low rate."""
    return submit(cluster, EXAMPLES / "streaming.py", "--rate", "50", "--parallelism", "1")


def test_quick_static_files_are_served_with_cache_headers_and_gzip(cluster):
    req = urllib.request.Request(cluster.url + "/", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["Content-Encoding"] == "gzip"
        assert b"headwater" in gzip.decompress(r.read())
    with urllib.request.urlopen(cluster.url + "/widgets/dag.js") as r:
        assert r.headers["Content-Type"].startswith("text/javascript")
        assert "max-age" in r.headers["Cache-Control"] and r.headers["ETag"]
    for bad in ("/../pyproject.toml", "/%2e%2e/rest/server.py", "/nope.js"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(cluster.url + bad)
        assert err.value.code == 404
    assert rest(cluster, "/overview")["taskmanagers"] == 2


def test_quick_every_page_loads_without_errors(page, cluster, streaming_job):
    job = rest(cluster, f"/jobs/{streaming_job}")
    vertex = job["vertices"][0]["id"]
    tm = rest(cluster, "/taskmanagers")["taskmanagers"][0]["id"]
    routes = ["/overview", "/jobs", f"/jobs/{streaming_job}",
              f"/jobs/{streaming_job}/vertices/{vertex}", "/taskmanagers",
              f"/taskmanagers/{tm}", "/jobmanager", "/submit", "/datasets"]
    for route in routes:
        page.goto(f"/#{route}")
        page.wait_for_load_state("networkidle")
        assert page.locator("main .error").count() == 0, (route, page.inner_text("main"))
    page.goto(f"/#/jobs/{streaming_job}")
    page.wait_for_selector(".tabs button")
    for tab in page.locator(".tabs button").all_inner_texts():
        page.click(f'.tabs button[data-tab="{tab}"]')
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        assert page.locator(".tab .error").count() == 0, (tab, page.inner_text(".tab"))
    assert page.problems.items == []


def test_quick_job_graph_has_a_node_per_vertex_and_an_edge_per_job_edge(page, cluster,
                                                                      streaming_job):
    plan = rest(cluster, f"/jobs/{streaming_job}/plan")["plan"]
    edges = sum(len(n.get("inputs", [])) for n in plan["nodes"])
    page.goto(f"/#/jobs/{streaming_job}")
    page.wait_for_selector("#dag .node")
    assert page.locator("#dag .node").count() == len(plan["nodes"])
    assert page.locator("#dag path.edge").count() == edges
    drawn = set(page.eval_on_selector_all("#dag .node", "ns => ns.map(n => n.dataset.id)"))
    assert drawn == {n["id"] for n in plan["nodes"]}
    # the figures arrive from the REST API and the picture is kept for the README
    wait_for(lambda: "In:" in page.inner_text("#dag"), timeout=15)
    page.wait_for_timeout(500)
    (REPO / "docs").mkdir(exist_ok=True)
    page.screenshot(path=str(REPO / "docs" / "dashboard-job.png"))
    assert page.problems.items == []


def test_drag_and_drop_upload_runs_a_job(page, cluster):
    page.goto("/#/submit")
    page.wait_for_selector("#drop")
    data = base64.b64encode((EXAMPLES / "streaming.py").read_bytes()).decode()
    page.evaluate("""(data) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped_streaming.py", {type: "text/x-python"}));
        document.querySelector("#drop").dispatchEvent(
            new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", data)
    page.wait_for_selector("text=dropped_streaming.py")
    page.click("text=dropped_streaming.py")
    page.fill("input[name=args]", "--rate 20 --parallelism 1")
    before = set(running_jobs(cluster))
    page.click("form.run button[type=submit]")
    jid = wait_for(lambda: next(iter(set(running_jobs(cluster)) - before), None))
    page.wait_for_url(f"**/#/jobs/{jid}")
    page.wait_for_selector("#dag .node")
    rest(cluster, f"/jobs/{jid}?mode=cancel", "PATCH")
    assert page.problems.items == []


def test_cancel_button_cancels_the_job(page, cluster):
    jid = submit(cluster, EXAMPLES / "streaming.py", "--rate", "20", "--parallelism", "1")
    page.goto(f"/#/jobs/{jid}")
    page.click("button[data-act=cancel]")
    wait_for(lambda: any(j["jid"] == jid and j["state"] == "CANCELED"
                         for j in rest(cluster, "/jobs/overview")["jobs"]))
    page.wait_for_selector(".state .badge.CANCELED", timeout=15000)
    assert page.problems.items == []


def test_slow_sink_turns_its_upstream_vertex_back_pressured(page, cluster, tmp_path):
    script = tmp_path / "slow_sink.py"
    script.write_text(SLOW_SINK)
    jid = submit(cluster, script)
    source = next(v["id"] for v in rest(cluster, f"/jobs/{jid}")["vertices"]
                  if "fast numbers" in v["name"])
    page.goto(f"/#/jobs/{jid}")
    page.wait_for_selector("#dag .node")
    node = page.locator(f'#dag .node[data-id="{source}"]')
    wait_for(lambda: node.get_attribute("data-backpressure") == "high", timeout=30)
    fill = node.locator("rect").get_attribute("fill")
    assert fill.startswith("hsl(0, 0%"), fill
    assert page.problems.items == []


@pytest.fixture(scope="module")
def locked_cluster(tmp_path_factory):
    """A cluster with web submission and web cancellation switched off."""
    from tests.integration.conftest import start_cluster, stop_cluster

    c = start_cluster(tmp_path_factory.mktemp("locked"), taskmanagers=1, slots=2,
                      extra=("-D", "web.submit.enable=false", "-D", "web.cancel.enable=false"))
    yield c
    stop_cluster(c)


def test_quick_disabled_submit_and_cancel_are_hidden(browser, locked_cluster):
    c = locked_cluster
    jid = submit(c, EXAMPLES / "streaming.py", "--rate", "20", "--parallelism", "1")
    context = browser.new_context(base_url=c.url)
    page = context.new_page()
    try:
        page.goto(f"/#/jobs/{jid}")
        page.wait_for_selector("button[data-act=savepoint]")
        assert page.locator("button[data-act=cancel]").count() == 0
        assert page.locator("#nav-submit").is_hidden()
        page.goto("/#/submit")
        page.wait_for_selector("text=Submission is disabled")
        assert page.locator("#drop").count() == 0
    finally:
        context.close()


def test_quick_the_docs_page_renders_every_operation_of_the_openapi_document(page, cluster):
    document = rest(cluster, "/openapi.json")
    operations = sum(1 for ops in document["paths"].values() for verb in ops
                     if verb in ("get", "post", "put", "patch", "delete"))
    page.goto("/docs")
    page.wait_for_selector("details.op")
    assert page.locator("details.op").count() == operations
    job = page.locator('details.op[data-path="/jobs/{jobid}"][data-verb="get"]')
    job.locator("summary").click()
    assert '"vertices"' in job.inner_text()  # the response schema, from Flink's spec
    page.fill("#filter", "savepoint")
    visible = page.locator("details.op:visible")
    assert 0 < visible.count() < operations
    assert page.problems.items == []
