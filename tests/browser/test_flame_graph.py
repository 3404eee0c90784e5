"""The vertex page's FlameGraph tab in Debian's chromium against a real cluster."""

from __future__ import annotations

import pytest

from tests.browser.conftest import wait_for
from tests.integration.helpers import job_id_of
from tests.integration.test_flame_graphs import FLAME_JOB

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def flame_job(cluster, tmp_path_factory):
    """The spinning and sleeping maps of the integration test, running."""
    script = tmp_path_factory.mktemp("flame") / "flame_job.py"
    script.write_text(FLAME_JOB)
    job_id = job_id_of(cluster.run("-d", str(script)).stdout)
    job = cluster.wait_until_running(job_id)
    vertices = {v["name"].split(" ->")[0]: v["id"] for v in job["vertices"]}
    yield job_id, vertices
    cluster.client.request("PATCH", f"/jobs/{job_id}", params={"mode": "cancel"})


def test_the_flame_graph_tab_draws_the_spinning_function(page, flame_job):
    job_id, vertices = flame_job
    page.goto(f"/#/jobs/{job_id}/vertices/{vertices['burn']}")
    page.click('.tabs button[data-tab="FlameGraph"]')
    burning = '.flamegraph svg g.frame[data-name^="burn_cpu_here ("]'
    page.wait_for_selector(burning, timeout=60_000)
    frame = page.locator(burning).first
    assert "burn_cpu_here" in frame.locator("text").text_content()
    # hover names the frame with its samples; click zooms in, the root zooms out
    frame.hover()
    info = page.inner_text(".flamegraph .fg-info")
    assert info.startswith("burn_cpu_here (flame_job.py:") and "samples (" in info
    svg_width = float(page.get_attribute(".flamegraph svg", "width"))
    before = float(frame.locator("rect").get_attribute("width"))
    frame.click()
    zoomed = page.locator(burning).first
    assert float(zoomed.locator("rect").get_attribute("width")) == pytest.approx(svg_width - 1)
    page.locator('.flamegraph g.frame[data-name="root"]').click()
    restored = float(page.locator(burning).first.locator("rect").get_attribute("width"))
    assert restored == pytest.approx(before, rel=0.05)
    # the other kinds of graph come from the same samples
    page.select_option(".fg-type", "on_cpu")
    wait_for(lambda: "samples" in page.inner_text(".fg-status"))
    page.wait_for_selector(burning)
    page.select_option(".fg-type", "off_cpu")
    wait_for(lambda: "samples" in page.inner_text(".fg-status"))
    # leaving the tab shows the subtasks again
    page.click('.tabs button[data-tab="Subtasks"]')
    assert page.locator('[data-panel="Subtasks"] table').count() == 1
    assert page.problems.items == []
