"""A cluster with a REST token and TLS, through the headwater CLI, the Python client and
plain HTTP: nothing answers without the token, everything works with it."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from headwater.client import RestClient, RestError
from headwater.rest.security import write_token_file
from tests.integration.conftest import EXAMPLES, free_port, headwater, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of

TOKEN = "integration-token-0123456789abcdef"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secured")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    token_file = write_token_file(tmp / "rest.token", TOKEN)
    prom = free_port()
    cluster = start_cluster(tmp, taskmanagers=1, extra=(
        "-D", f"security.rest.auth.token-file={token_file}",
        "-D", "security.ssl.rest.enabled=true",
        "-D", f"security.ssl.rest.cert={cert}", "-D", f"security.ssl.rest.key={key}",
        "-D", f"metrics.reporter.prom.port={prom}"))
    cluster.url = f"https://127.0.0.1:{cluster.port}"
    cluster.client = RestClient(cluster.url, token=TOKEN, ca_file=str(cert))
    yield cluster, cert, prom
    stop_cluster(cluster)


def _get(url: str, cert, token: str | None = None) -> tuple[int, dict]:
    context = ssl.create_default_context(cafile=str(cert)) if url.startswith("https") else None
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                     if token else {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_without_the_token_nothing_answers(secured):
    cluster, cert, prom = secured
    for path in ("/overview", "/jobs", "/taskmanagers", "/jobmanager/config"):
        status, body = _get(cluster.url + path, cert)
        assert status == 401, path
        assert "token" in body["errors"][0]
    status, _ = _get(f"http://127.0.0.1:{prom}/metrics", cert)
    assert status == 401
    with pytest.raises(RestError) as err:
        RestClient(cluster.url, token="", ca_file=str(cert)).overview()
    assert err.value.status == 401


def test_with_the_token_everything_works(secured):
    cluster, cert, prom = secured
    status, overview = _get(cluster.url + "/overview", cert, TOKEN)
    assert status == 200 and overview["taskmanagers"] == 1
    m = ("-m", cluster.url)
    untrusted = headwater("list", *m, check=False)
    assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    refused = headwater("--ca-file", str(cert), "list", *m, check=False)
    assert refused.returncode == 1 and "401" in refused.stderr
    ok = ["--token", TOKEN, "--ca-file", str(cert)]
    proc = headwater(*ok, "run", *m, "-d", str(EXAMPLES / "streaming.py"), "--rate", "20",
                     "--parallelism", "1")
    job_id = job_id_of(proc.stdout)
    assert job_id in headwater(*ok, "list", *m).stdout
    assert cluster.client.job(job_id)["state"] in ("CREATED", "RUNNING")
    headwater(*ok, "cancel", *m, job_id)
    assert cluster.client.job(job_id)["state"] in ("CANCELLING", "CANCELED")
    request = urllib.request.Request(f"http://127.0.0.1:{prom}/metrics",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def test_plain_http_is_not_served(secured):
    cluster, cert, _ = secured
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{cluster.port}/overview", timeout=5).read()
