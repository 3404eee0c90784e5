"""Browser-facing rules of the REST server: CORS only for allowed origins, and no foreign
page may change the cluster (upload, run, cancel) even with a simple form post."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from headwater.config import Configuration
from headwater.rest.server import create_rest_app
from tests.unit.test_rest_handlers import RUNNING_JOB, StubCluster, serve

DASHBOARD = "http://dash.example:8080"


def _calls(conf: dict, *requests: tuple[str, str, dict]):
    async def go():
        async with serve(StubCluster(configuration=Configuration(conf))) as call:
            return [await call(method, path, headers=headers)
                    for method, path, headers in requests]
    return asyncio.run(go())


def test_no_cors_headers_by_default():
    (a,) = _calls({}, ("GET", "/overview", {"Origin": "http://evil.example"}))
    assert a.status == 200
    assert "Access-Control-Allow-Origin" not in a.headers


def test_allowed_origins_get_cors_headers_and_preflights():
    conf = {"web.access-control-allow-origin": f"{DASHBOARD}, http://other.example"}
    get, pre, foreign_pre, foreign_get = _calls(
        conf,
        ("GET", "/overview", {"Origin": DASHBOARD}),
        ("OPTIONS", f"/jobs/{RUNNING_JOB}", {"Origin": DASHBOARD}),
        ("OPTIONS", f"/jobs/{RUNNING_JOB}", {"Origin": "http://evil.example"}),
        ("GET", "/overview", {"Origin": "http://evil.example"}))
    assert get.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert get.headers["Vary"] == "Origin"
    assert pre.status == 200
    assert pre.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert set(pre.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "PATCH"}
    assert foreign_pre.status == 403 and foreign_pre.body["errors"]
    assert "Access-Control-Allow-Origin" not in foreign_get.headers


def test_flinks_any_origin_setting_still_works():
    (a,) = _calls({"web.access-control-allow-origin": "*"},
                  ("GET", "/overview", {"Origin": "http://anywhere.example"}))
    assert a.headers["Access-Control-Allow-Origin"] == "*"


def test_a_foreign_page_cannot_change_the_cluster():
    cancel, upload, cross_site, same_origin_get = _calls(
        {},
        ("PATCH", f"/jobs/{RUNNING_JOB}", {"Origin": "http://evil.example"}),
        ("POST", "/jars/upload", {"Origin": "null", "Content-Type": "multipart/form-data"}),
        ("DELETE", "/jars/x_job.py", {"Sec-Fetch-Site": "cross-site"}),
        ("GET", f"/jobs/{RUNNING_JOB}", {"Origin": "http://evil.example"}))
    for answer in (cancel, upload, cross_site):
        assert answer.status == 403, answer
        assert len(answer.body["errors"]) == 1
    assert same_origin_get.status == 200  # reading is not changing


def test_same_origin_and_non_browser_clients_may_change_the_cluster():
    async def go():
        app = create_rest_app(StubCluster())
        async with TestClient(TestServer(app)) as client:
            own = f"http://{client.server.host}:{client.server.port}"
            same = await client.patch(f"/jobs/{RUNNING_JOB}", headers={"Origin": own})
            plain = await client.patch(f"/jobs/{RUNNING_JOB}")
            return same.status, plain.status
    assert asyncio.run(go()) == (202, 202)
