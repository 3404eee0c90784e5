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


# -- bearer token and TLS -----------------------------------------------------------------


def _token_cluster(tmp_path, **conf):
    from headwater.rest.security import write_token_file

    path = write_token_file(tmp_path / "rest.token", "s3cret-token-0123456789")
    return StubCluster(configuration=Configuration(
        {"security.rest.auth.token-file": str(path), **conf}))


def test_without_the_token_every_request_is_401(tmp_path):
    cluster = _token_cluster(tmp_path)

    async def go():
        async with serve(cluster) as call:
            return [await call("GET", "/overview"),
                    await call("GET", "/overview",
                               headers={"Authorization": "Bearer wrong-token-0123456789"}),
                    await call("PATCH", f"/jobs/{RUNNING_JOB}", headers={"Authorization": "x"}),
                    await call("GET", "/overview",
                               headers={"Authorization": "Bearer s3cret-token-0123456789"}),
                    await call("PATCH", f"/jobs/{RUNNING_JOB}", headers={
                        "Authorization": "bearer s3cret-token-0123456789",
                        "Origin": "http://script.example"})]
    missing, wrong, garbage, right, foreign_but_authenticated = asyncio.run(go())
    for answer in (missing, wrong, garbage):
        assert answer.status == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "token" in answer.body["errors"][0]
    assert right.status == 200 and right.body["taskmanagers"] >= 0
    assert foreign_but_authenticated.status == 202


def test_token_files_must_be_private(tmp_path):
    import os

    import pytest

    from headwater.rest.security import ConfigurationError, read_token_file

    path = tmp_path / "rest.token"
    path.write_text("s3cret-token-0123456789\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError, match="owner only"):
        read_token_file(path)
    os.chmod(path, 0o600)
    assert read_token_file(path) == "s3cret-token-0123456789"


def test_https_with_the_token_through_the_python_client(tmp_path):
    import subprocess

    from headwater.client import RestClient, RestError
    from headwater.rest.server import start_rest_server

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    cluster = _token_cluster(tmp_path, **{"security.ssl.rest.enabled": True,
                                          "security.ssl.rest.cert": str(cert),
                                          "security.ssl.rest.key": str(key)})

    async def go():
        runner, port = await start_rest_server(cluster, "127.0.0.1", 0)
        url = f"https://127.0.0.1:{port}"
        try:
            good = RestClient(url, token="s3cret-token-0123456789", ca_file=str(cert))
            overview = await asyncio.to_thread(good.overview)
            errors = []
            for client in (RestClient(url, token="", ca_file=str(cert)),
                           RestClient(url, token="s3cret-token-0123456789")):  # untrusted
                try:
                    await asyncio.to_thread(client.overview)
                except (RestError, OSError) as exc:
                    errors.append(exc)
            return overview, errors
        finally:
            await runner.cleanup()

    overview, (no_token, untrusted) = asyncio.run(go())
    assert "slots-total" in overview
    assert isinstance(no_token, RestError) and no_token.status == 401
    assert not isinstance(untrusted, RestError)  # the TLS handshake failed: no answer


def test_job_submission_can_be_switched_off():
    (a,) = _calls({"web.job-submission.enable": False},
                  ("POST", "/jobs", {"Content-Type": "application/json"}))
    assert a.status == 403
    assert "web.job-submission.enable" in a.body["errors"][0]
