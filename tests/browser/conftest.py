"""Fixtures for the dashboard's browser tests: one cluster and Debian's chromium per module.

``HEADWATER_BROWSER_TESTS=0`` skips them, ``=quick`` runs only the tests marked as the short
subset (``quick`` in their name), anything else runs them all.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.integration.conftest import start_cluster, stop_cluster

CHROMIUM = "/usr/bin/chromium"
MODE = os.environ.get("HEADWATER_BROWSER_TESTS", "all").lower()


def pytest_collection_modifyitems(config, items):
    """Skip browser tests when switched off or when chromium/playwright are missing."""
    here = Path(__file__).parent
    reason = None
    if MODE in ("0", "off", "no"):
        reason = "HEADWATER_BROWSER_TESTS switches the browser tests off"
    elif not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            reason = "the playwright package is missing (pip install playwright)"
    for item in items:
        if here not in Path(item.fspath).parents or item.get_closest_marker("browser") is None:
            continue
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
        elif MODE == "quick" and "quick" not in item.name:
            item.add_marker(pytest.mark.skip(reason="HEADWATER_BROWSER_TESTS=quick"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A 2-TaskManager cluster with 3 slots each."""
    c = start_cluster(tmp_path_factory.mktemp("web"), taskmanagers=2, slots=3)
    yield c
    stop_cluster(c)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, driven by playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class PageProblems:
    """Console errors, failed requests and error answers seen by one page (an event
    stream the page closed itself, to subscribe to other metrics or on leaving, is not a
    failure)."""

    def __init__(self, page) -> None:
        self.items: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.items.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.items.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: r.status >= 400 and self.items.append(
            f"HTTP {r.status}: {r.url}"))

    def _failed(self, request) -> None:
        closed_stream = "/events" in request.url and request.failure == "net::ERR_ABORTED"
        if not closed_stream:
            self.items.append(f"failed: {request.url} {request.failure}")


@pytest.fixture
def page(browser, cluster):
    """A fresh page on the cluster's dashboard; fails the test on any console error."""
    context = browser.new_context(base_url=cluster.url, viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    pg.problems = PageProblems(pg)
    pg.on("dialog", lambda d: d.accept())
    yield pg
    context.close()


def wait_for(predicate, timeout: float = 30, interval: float = 0.25):
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
