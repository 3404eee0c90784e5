"""A small validator for the JSON-schema dialect of Flink's REST API documentation.

Flink generates its message schemas with Jackson's (draft 3 era) schema module. The
dialect is small: ``type`` (``object``, ``array``, ``string``, ``integer``, ``number``,
``boolean``, ``any``), ``properties``, ``items``, ``enum``, ``additionalProperties``,
``required`` (a boolean on the property itself) and ``id`` / ``$ref`` (``urn:jsonschema:…``
ids referenced from elsewhere in the same document)::

    >>> schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    >>> validate({"n": 1.5, "x": 1}, schema)
    ['$.n: expected integer, got number', '$: unexpected property "x"']

Strictness beyond JSON schema, to catch wire-format mistakes: a property the schema does
not declare is a violation, an integer must not be a float, and a boolean is never a
number. ``null`` is accepted for a property unless it is marked ``"required": true``
(Jackson writes absent Java references as ``null``, e.g. ``root-exception``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["validate"]


def validate(instance: Any, schema: Mapping[str, Any]) -> list[str]:
    """Return the violations of ``instance`` against ``schema`` (empty list: valid).

    ``schema`` is the whole document: every ``$ref`` resolves against the ``id`` values
    found anywhere inside it.
    """
    ids: dict[str, Mapping[str, Any]] = {}
    _collect_ids(schema, ids)
    errors: list[str] = []
    _check(instance, schema, "$", ids, errors)
    return errors


def _collect_ids(node: Any, ids: dict[str, Mapping[str, Any]]) -> None:
    if isinstance(node, Mapping):
        sid = node.get("id")
        if isinstance(sid, str) and ("properties" in node or "items" in node
                                     or sid not in ids):
            ids[sid] = node
        for value in node.values():
            _collect_ids(value, ids)
    elif isinstance(node, list):
        for value in node:
            _collect_ids(value, ids)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _matches_type(value: Any, expected: str) -> bool:
    actual = _type_name(value)
    if expected == "any":
        return True
    if expected == "number":
        return actual in ("number", "integer")
    return actual == expected


def _check(value: Any, schema: Mapping[str, Any], where: str,
           ids: Mapping[str, Mapping[str, Any]], errors: list[str]) -> None:
    ref = schema.get("$ref")
    if ref is not None:
        target = ids.get(ref)
        if target is None:
            errors.append(f"{where}: unresolvable $ref {ref!r}")
            return
        schema = target
    expected = schema.get("type", "any")
    if isinstance(expected, list):  # a union of types
        if not any(_matches_type(value, t) for t in expected):
            errors.append(f"{where}: expected one of {expected}, got {_type_name(value)}")
            return
        expected = "any"
    elif not _matches_type(value, expected):
        errors.append(f"{where}: expected {expected}, got {_type_name(value)}")
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, Mapping) and expected in ("object", "any"):
        _check_object(value, schema, where, ids, errors)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], f"{where}[{i}]", ids, errors)


def _check_object(value: Mapping[str, Any], schema: Mapping[str, Any], where: str,
                  ids: Mapping[str, Mapping[str, Any]], errors: list[str]) -> None:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for name, sub in properties.items():
        if name not in value:
            if sub.get("required") is True:
                errors.append(f"{where}: missing required property {name!r}")
            continue
        item = value[name]
        if item is None:
            if sub.get("required") is True:
                errors.append(f"{where}.{name}: must not be null")
            continue
        _check(item, sub, f"{where}.{name}", ids, errors)
    for name, item in value.items():
        if name in properties:
            continue
        if isinstance(additional, Mapping):
            _check(item, additional, f"{where}.{name}", ids, errors)
        elif additional is True or (not properties and schema.get("type") in (None, "any")):
            continue
        else:
            errors.append(f'{where}: unexpected property "{name}"')
