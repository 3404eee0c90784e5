"""The OpenAPI document built from the endpoint declarations and Flink's schemas."""

from __future__ import annotations

from openapi_spec_validator import validate

import headwater
from headwater.rest.endpoints import ENDPOINTS
from headwater.rest.openapi import build_openapi, load_spec


def test_the_document_is_valid_openapi_and_lists_every_endpoint():
    doc = build_openapi(ENDPOINTS, headwater.__version__)
    validate(doc)
    routes = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert len(routes) == len(ENDPOINTS)
    assert ("GET", "/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}") in routes
    assert doc["info"]["version"] == headwater.__version__


def test_bodies_come_from_flinks_schemas():
    doc = build_openapi(ENDPOINTS, "x")
    schemas = doc["components"]["schemas"]
    job = doc["paths"]["/jobs/{jobid}"]["get"]
    ref = job["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    details = schemas[ref.rsplit("/", 1)[1]]
    assert {"jid", "name", "state", "vertices", "plan"} <= set(details["properties"])
    run = doc["paths"]["/jars/{jarid}/run"]["post"]
    body_ref = run["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "allowNonRestoredState" in schemas[body_ref.rsplit("/", 1)[1]]["properties"]
    # Path ids are 32 lower-case hex digits; errors are Flink's {"errors": [...]}.
    jobid = next(p for p in job["parameters"] if p["name"] == "jobid")
    assert jobid["schema"]["pattern"] == "^[0-9a-f]{32}$"
    assert job["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Errors"}


def test_the_packaged_spec_is_flinks_1_12_reference():
    spec = load_spec()
    assert len(spec["endpoints"]) == sum(1 for e in ENDPOINTS if e.in_spec)


def test_the_server_serves_the_document():
    import asyncio

    from tests.unit.test_rest_handlers import StubCluster, serve

    async def go():
        async with serve(StubCluster()) as call:
            return await call("GET", "/openapi.json"), await call("GET", "/v1/openapi.json")

    served, versioned = asyncio.run(go())
    assert served.status == 200 and served.body == versioned.body
    assert served.body == build_openapi(ENDPOINTS, headwater.__version__)
    assert served.body["openapi"] == "3.1.0"
    validate(served.body)
