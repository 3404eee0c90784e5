"""Property-based fuzzing of the REST API (schemathesis) against a real cluster.

Every operation of the OpenAPI document gets generated paths, queries and bodies, valid and
invalid. Whatever they hold, the answer is never a 5xx, every client error is in Flink's
``{"errors": [...]}`` form, and the cluster is healthy afterwards. ``HEADWATER_FUZZ_EXAMPLES``
sets the examples per operation (default 8, CI's short mode; try 200 by hand).
"""

from __future__ import annotations

import os

import psutil
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

import headwater
from headwater.rest.endpoints import ENDPOINTS
from headwater.rest.openapi import build_openapi
from tests.integration.conftest import start_cluster, stop_cluster

EXAMPLES = int(os.environ.get("HEADWATER_FUZZ_EXAMPLES", "8"))
#: Operations left out: the one that ends the cluster under test, and the event stream,
#: whose answer never ends (tests/unit/test_events.py checks its parameters).
SKIPPED = {("DELETE", "/cluster"), ("GET", "/events")}

# The same document the cluster serves at /openapi.json (test_openapi checks they match),
# built here because parametrization happens before any cluster runs.
schema = schemathesis.openapi.from_dict(build_openapi(
    [e for e in ENDPOINTS if (e.method, e.path) not in SKIPPED], headwater.__version__))


@pytest.fixture(scope="module")
def fuzzed_cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("fuzz"), taskmanagers=1)
    yield c
    stop_cluster(c)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],  # report the first failure as found
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, fuzzed_cluster):
    response = case.call(base_url=fuzzed_cluster.url, timeout=30)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        ctype = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
        assert ctype[0].startswith("application/json"), (where, case.path_parameters,
                                                         case.query, ctype)
        body = response.json()
        assert isinstance(body.get("errors"), list) and body["errors"], where
        assert all(isinstance(e, str) for e in body["errors"]), where


def test_the_cluster_is_healthy_after_the_fuzzing(fuzzed_cluster):
    overview = fuzzed_cluster.client.overview()
    assert overview["taskmanagers"] == 1
    assert psutil.Process(fuzzed_cluster.jobmanager_pid).memory_info().rss < 400 * 2**20
