"""headwater.rest.static without a browser: types, gzip, cache headers, no traversal."""

from __future__ import annotations

import gzip
import re

import pytest
from aiohttp.test_utils import make_mocked_request

from headwater.rest.static import WEB_ROOT, StaticFiles


def get(files: StaticFiles, path: str, method: str = "GET", **headers: str):
    return files.respond(make_mocked_request(method, path, headers=headers))


def test_index_is_never_cached_and_gzipped_on_request():
    files = StaticFiles()
    plain = get(files, "/")
    assert plain.headers["Content-Type"] == "text/html; charset=utf-8"
    assert plain.headers["Cache-Control"] == "no-cache"
    assert plain.body == (WEB_ROOT / "index.html").read_bytes()
    zipped = get(files, "/", **{"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body


def test_assets_carry_max_age_and_etag_and_answer_304():
    files = StaticFiles()
    a = get(files, "/widgets/dag.js")
    assert a.headers["Content-Type"].startswith("text/javascript")
    assert "max-age" in a.headers["Cache-Control"]
    again = get(files, "/widgets/dag.js", **{"If-None-Match": a.headers["ETag"]})
    assert again.status == 304
    head = get(files, "/style.css", "HEAD")
    assert head.body is None and int(head.headers["Content-Length"]) > 0


@pytest.mark.parametrize("path", ["/../rest/server.py", "/pages/../../rest/static.py",
                                  "/%2e%2e/config.py", "/nope.js", "/pages", "/jobs"])
def test_unknown_files_and_traversal_fall_through(path):
    assert get(StaticFiles(), path) is None


def test_only_get_and_head():
    assert get(StaticFiles(), "/", "POST") is None


def test_index_preloads_every_dashboard_module():
    """Every ES module the dashboard imports is named in index.html, so the browser
    fetches them at once instead of discovering them import by import."""
    index = (WEB_ROOT / "index.html").read_text()
    modules = {str(p.relative_to(WEB_ROOT)) for p in WEB_ROOT.rglob("*.js")
               if "docs" not in p.parts and p.name != "app.js"}
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', index))
    assert preloaded == modules
