"""Checks of REST answers against the spec's schemas and real Flink's answers, shared by
unit and integration tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from headwater.rest.json_schema import validate
from tests.paths import REFERENCE, SPEC


def _spec() -> dict[tuple[str, str], dict]:
    if not SPEC.is_file():
        return {}
    return {(e["method"], e["path"]): e for e in json.loads(SPEC.read_text())["endpoints"]}


SPEC_ENDPOINTS = _spec()

#: TaskManager fields real Flink 1.12.5 sends (reference 003/020) that the spec lacks.
_TM_EXTRA = ("jmxPort", "memoryConfiguration")


#: Fields real Flink 1.12.5 sends in checkpoint answers (reference 004/027/033/048/085) that
#: the generated schema lacks: Jackson's type id of polymorphic messages ("@class") with
#: the subtypes' fields, and fields added after the schema was generated (among them the
#: percentiles of Flink 1.14's checkpoint summary statistics).
_CHECKPOINT_EXTRA = frozenset({
    "p50", "p90", "p95", "p99", "p999",
    "@class", "checkpoint_type", "processed_data", "persisted_data", "discarded",
    "external_path", "failure_timestamp", "failure_message", "ack_timestamp", "alignment",
    "checkpoint", "end_to_end_duration", "start_delay", "state_size", "processed",
    "persisted", "unaligned_checkpoints", "tolerable_failed_checkpoints"})


def _schema_ids(node: Any, ids: dict[str, Any]) -> dict[str, Any]:
    if isinstance(node, dict):
        if isinstance(node.get("id"), str) and ("properties" in node or node["id"] not in ids):
            ids[node["id"]] = node
        for value in node.values():
            _schema_ids(value, ids)
    elif isinstance(node, list):
        for value in node:
            _schema_ids(value, ids)
    return ids


def _drop_undeclared(value: Any, schema: Any, ids: dict[str, Any], names: frozenset) -> None:
    """Remove the keys in ``names`` wherever ``schema`` does not declare them."""
    if isinstance(schema, dict) and "$ref" in schema:
        schema = ids.get(schema["$ref"], schema)
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is None:
            extra = schema.get("additionalProperties")
            for item in value.values():
                _drop_undeclared(item, extra, ids, names)
            return
        for key in [k for k in value if k in names and k not in props]:
            del value[key]
        for key, item in value.items():
            _drop_undeclared(item, props.get(key), ids, names)
    elif isinstance(value, list):
        for item in value:
            _drop_undeclared(item, schema.get("items"), ids, names)


def adapt_to_spec(method: str, template: str, body: Any) -> Any:
    """Undo the known differences between Flink 1.12.5's wire format and its generated
    schema: ``plan`` is a ``@JsonRawValue`` String (schema: string, wire: object) and
    TaskManager answers carry fields the schema predates."""
    body = json.loads(json.dumps(body))
    if template.startswith("/jobs/:jobid/checkpoints") and (method, template) in SPEC_ENDPOINTS:
        schema = SPEC_ENDPOINTS[(method, template)]["response"]
        _drop_undeclared(body, schema, _schema_ids(schema, {}), _CHECKPOINT_EXTRA)
    if (method, template) == ("GET", "/jobs/:jobid/exceptions") and isinstance(body, dict):
        body.pop("exceptionHistory", None)  # Flink 1.13's addition
    if (method, template) == ("GET", "/jobs/:jobid") and isinstance(body, dict):
        body.pop("job-type", None)  # Flink 1.20's addition
        if isinstance(body.get("plan"), dict):
            body["plan"] = json.dumps(body["plan"])
    tms = []
    if template == "/taskmanagers":
        tms = body.get("taskmanagers", [])
    elif template == "/taskmanagers/:taskmanagerid":
        tms = [body]
    for tm in tms:
        for key in _TM_EXTRA:
            tm.pop(key, None)
        for key in [k for k in tm.get("metrics", {}) if k.startswith("nettyShuffle")]:
            del tm["metrics"][key]
    return body


def spec_errors(method: str, template: str, status: int, body: Any) -> list[str]:
    """Violations of the spec by an answer: wrong status or schema mismatches."""
    endpoint = SPEC_ENDPOINTS[(method, template)]
    if status != endpoint["status"]:
        return [f"status {status}, spec says {endpoint['status']}"]
    return validate(adapt_to_spec(method, template, body), endpoint["response"])


def reference(template: str, method: str = "GET") -> Any:
    """The body real Flink answered for ``template`` (first match)."""
    for path in sorted(REFERENCE.glob("*.json")):
        ref = json.loads(path.read_text())
        if ref["template"] == template and ref["method"] == method and ref["status"] < 300:
            return ref["body"]
    pytest.fail(f"no reference answer for {template} in {REFERENCE}")


#: Keys headwater adds that Flink 1.12.5's answers lack (Flink 1.14's summary percentiles,
#: 1.13's exception history, 1.20's job type).
NEWER_FLINK_KEYS = frozenset({"p50", "p90", "p95", "p99", "p999", "exceptionHistory",
                              "job-type"})


def same_shape(ours: Any, theirs: Any, where: str = "$") -> list[str]:
    """Differences in keys and JSON types between two answers (values ignored; lists
    compared element-wise by their first element)."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out = []
        if set(ours) - NEWER_FLINK_KEYS != set(theirs):
            out.append(f"{where}: keys differ: only ours "
                       f"{sorted(set(ours) - set(theirs) - NEWER_FLINK_KEYS)}, "
                       f"only Flink {sorted(set(theirs) - set(ours))}")
        for k in set(ours) & set(theirs):
            if isinstance(theirs[k], dict) and not theirs[k] and k != "tasks":
                continue  # free-form map (extendedResources, optimizer_properties)
            out += same_shape(ours[k], theirs[k], f"{where}.{k}")
        return out
    if isinstance(theirs, list) and isinstance(ours, list):
        if theirs and ours:
            return same_shape(ours[0], theirs[0], f"{where}[0]")
        return []
    kinds = (bool, int, float, str, type(None))
    k1 = next((t for t in kinds if isinstance(ours, t)), type(ours))
    k2 = next((t for t in kinds if isinstance(theirs, t)), type(theirs))
    if k1 is not k2:
        return [f"{where}: {k1.__name__} vs Flink's {k2.__name__}"]
    return []


