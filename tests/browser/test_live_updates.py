"""The dashboard follows the cluster through the event stream (GET /events): a TaskManager
killed with kill -9 leaves the TaskManager page and its loss appears in the job's
exceptions tab, without a reload."""

from __future__ import annotations

import signal

import psutil
import pytest

from tests.browser.conftest import wait_for
from tests.browser.test_dashboard import rest, submit
from tests.integration.conftest import EXAMPLES

pytestmark = pytest.mark.browser


def taskmanager_process(cluster, resource_id: str) -> psutil.Process:
    """The TaskManager process whose data port is in ``resource_id`` (host:port-suffix)."""
    port = int(resource_id.rsplit("-", 1)[0].rsplit(":", 1)[1])
    for proc in cluster.processes():
        if "task_executor" not in " ".join(proc.cmdline()):
            continue
        if any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
               for c in proc.net_connections("tcp")):
            return proc
    raise AssertionError(f"no TaskManager process listens on {port}")


def test_quick_a_killed_taskmanager_leaves_the_pages_without_a_reload(browser, cluster):
    jid = submit(cluster, EXAMPLES / "streaming.py", "--rate", "50", "--parallelism", "2")
    vertex = rest(cluster, f"/jobs/{jid}")["vertices"][0]["id"]
    victim = rest(cluster, f"/jobs/{jid}/vertices/{vertex}/taskmanagers")[
        "taskmanagers"][0]["taskmanager-id"]
    process = taskmanager_process(cluster, victim)

    context = browser.new_context(base_url=cluster.url)
    try:
        tms = context.new_page()
        tms.goto("/#/taskmanagers")
        tms.wait_for_selector(f"text={victim}")
        job = context.new_page()
        job.goto(f"/#/jobs/{jid}")
        job.click("button[data-tab=Exceptions]")
        job.wait_for_selector("text=No exceptions.")
        for page in (tms, job):
            page.wait_for_function("window.headwaterLive && window.headwaterLive.connected")
            page.evaluate("window.notReloaded = true")

        process.send_signal(signal.SIGKILL)  # without checkpointing the job fails for good

        tms.wait_for_function(f"!document.querySelector('#main').innerText.includes({victim!r})",
                              timeout=30000)
        # The exceptions tab re-renders on pushed events only while the stream is up, so
        # the loss showing there came through the stream.
        job.wait_for_function(
            f"document.querySelector('.tab').innerText.includes({victim!r})", timeout=30000)
        for page in (tms, job):
            live = page.evaluate("window.headwaterLive")
            assert live["connected"] and live["events"] > 0, live
            assert page.evaluate("window.notReloaded") is True
        assert victim not in {t["id"] for t in rest(cluster, "/taskmanagers")["taskmanagers"]}
        # The replacement TaskManager registers and shows up, also pushed.
        wait_for(lambda: len(rest(cluster, "/taskmanagers")["taskmanagers"]) == 2, 60)
        tms.wait_for_function("document.querySelectorAll('#main tbody tr').length === 2",
                              timeout=30000)
    finally:
        context.close()
        if rest(cluster, f"/jobs/{jid}")["state"] == "RUNNING":
            rest(cluster, f"/jobs/{jid}?mode=cancel", "PATCH")
