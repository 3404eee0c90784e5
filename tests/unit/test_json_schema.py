"""The JSON-schema validator for the REST spec's dialect."""

from __future__ import annotations

import json

import pytest

from headwater.rest.json_schema import validate
from tests.paths import REFERENCE, SPEC

OBJ = {
    "type": "object",
    "id": "urn:jsonschema:test:Outer",
    "properties": {
        "n": {"type": "integer"},
        "x": {"type": "number"},
        "b": {"type": "boolean"},
        "s": {"type": "string", "enum": ["A", "B"]},
        "anything": {"type": "any"},
        "list": {"type": "array", "items": {"type": "integer"}},
        "map": {"type": "object", "additionalProperties": {"type": "integer"}},
        "req": {"type": "string", "required": True},
        "ref": {"type": "object", "$ref": "urn:jsonschema:test:Inner"},
        "inner": {"type": "object", "id": "urn:jsonschema:test:Inner",
                  "properties": {"v": {"type": "integer"}}},
    },
}


def test_valid_instance_has_no_violations():
    doc = {"n": 1, "x": 1.5, "b": True, "s": "A", "anything": [1, "a"], "list": [1, 2],
           "map": {"k": 3}, "req": "r", "ref": {"v": 1}, "inner": {"v": 2}}
    assert validate(doc, OBJ) == []


def test_integer_rejects_float_and_bool():
    assert validate({"n": 1.0, "req": ""}, OBJ) == ["$.n: expected integer, got number"]
    assert validate({"n": True, "req": ""}, OBJ) == ["$.n: expected integer, got boolean"]


def test_number_accepts_integer_but_not_bool():
    assert validate({"x": 3, "req": ""}, OBJ) == []
    assert validate({"x": False, "req": ""}, OBJ) == ["$.x: expected number, got boolean"]


def test_boolean_rejects_int():
    assert validate({"b": 1, "req": ""}, OBJ) == ["$.b: expected boolean, got integer"]


def test_enum_and_string_type():
    assert validate({"s": "C", "req": ""}, OBJ) == ["$.s: 'C' is not one of ['A', 'B']"]
    assert validate({"s": 1, "req": ""}, OBJ) == ["$.s: expected string, got integer"]


def test_extra_property_is_a_violation():
    assert validate({"req": "", "extra": 1}, OBJ) == ['$: unexpected property "extra"']


def test_additional_properties_schema_applies_to_map_values():
    assert validate({"req": "", "map": {"a": "x"}}, OBJ) == [
        "$.map.a: expected integer, got string"]


def test_array_items_are_checked_with_their_index():
    assert validate({"req": "", "list": [1, "2"]}, OBJ) == [
        "$.list[1]: expected integer, got string"]


def test_required_property_and_null():
    assert validate({}, OBJ) == ["$: missing required property 'req'"]
    assert validate({"req": None}, OBJ) == ["$.req: must not be null"]
    assert validate({"req": "", "n": None}, OBJ) == []  # Jackson's null reference


def test_ref_resolves_to_an_id_defined_later_in_the_document():
    assert validate({"req": "", "ref": {"v": "no"}}, OBJ) == [
        "$.ref.v: expected integer, got string"]
    assert validate({"req": "", "ref": {"w": 1}}, OBJ) == ['$.ref: unexpected property "w"']


def test_unresolvable_ref_is_reported():
    schema = {"type": "object", "$ref": "urn:nowhere"}
    assert validate({}, schema) == ["$: unresolvable $ref 'urn:nowhere'"]


def test_top_level_array_and_any():
    schema = {"type": "array", "items": {"type": "object", "properties": {
        "key": {"type": "string"}, "value": {"type": "string"}}}}
    assert validate([{"key": "a", "value": "b"}], schema) == []
    assert validate({"key": "a"}, schema) == ["$: expected array, got object"]
    assert validate({"whatever": [1]}, {"type": "any"}) == []
    assert validate({"a": 1}, {}) == []


def _reference_answers():
    """Flink's 2xx answers of spec endpoints, except the polymorphic (``@class``)
    checkpoint statistics the generated schema cannot describe."""
    assert REFERENCE.is_dir() and SPEC.is_file(), f"test data missing: {REFERENCE}, {SPEC}"
    spec = {(e["method"], e["path"]) for e in json.loads(SPEC.read_text())["endpoints"]}
    out = []
    for path in sorted(REFERENCE.glob("*.json")):
        ref = json.loads(path.read_text())
        template = ref["template"].split("#")[0]
        if (ref["status"] < 300 and (ref["method"], template) in spec
                and "/checkpoints" not in template):
            out.append(pytest.param(ref, id=path.stem))
    return out


@pytest.mark.parametrize("ref", _reference_answers())
def test_validator_accepts_real_flink_answers_modulo_known_gaps(ref):
    """Sanity check of the validator itself: Flink's own answers pass, except for the
    fields the spec is known not to declare."""
    from tests.unit.test_rest_handlers import adapt_to_spec

    spec = {(e["method"], e["path"]): e for e in json.loads(SPEC.read_text())["endpoints"]}
    template = ref["template"].split("#")[0]
    endpoint = spec[(ref["method"], template)]
    body = adapt_to_spec(ref["method"], template, ref["body"])
    assert validate(body, endpoint["response"]) == []
