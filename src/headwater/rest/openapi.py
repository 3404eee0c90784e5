"""The OpenAPI 3.1 document of the REST API, built from the endpoint declarations.

Paths, verbs, parameters and status codes come from :data:`headwater.rest.endpoints.ENDPOINTS`
(the one place each endpoint is declared); request and response bodies come from Flink's
own schemas in ``spec/rest-api-1.12.json`` (Jackson's JSON-schema dialect), translated to
OpenAPI: each named message type (``id: urn:jsonschema:...``) becomes one component, ``$ref``
cycles point at it, ``type: any`` accepts anything and ``required: true`` on a property
joins its object's ``required`` list. Every error answer is Flink's ``{"errors": [...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any, Protocol

from headwater.ids import parse_hex_id

#: The spec file shipped with the package (a copy of Flink 1.12's REST API reference).
SPEC_RESOURCE = "spec/rest-api-1.12.json"
_ERROR_STATUSES = ("400", "404", "405", "413", "429", "500", "503")


class _Param(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def parse(self) -> Callable[[str], Any]: ...


class _QueryParam(_Param, Protocol):
    @property
    def required(self) -> bool: ...


class EndpointDeclaration(Protocol):
    """What the document needs of one endpoint declaration (read-only)."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def status(self) -> int: ...

    @property
    def description(self) -> str: ...

    @property
    def path_params(self) -> tuple[_Param, ...]: ...

    @property
    def query_params(self) -> tuple[_QueryParam, ...]: ...

    @property
    def media_type(self) -> str: ...

    @property
    def response(self) -> Mapping[str, Any] | None: ...


@cache
def load_spec() -> dict[str, Any]:
    """Flink 1.12's REST API reference, as shipped in the package."""
    text = resources.files("headwater.rest").joinpath(SPEC_RESOURCE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _component_name(urn: str) -> str:
    return urn.rsplit(":", 1)[-1] if ":" in urn else urn


class _SchemaTranslator:
    """Jackson JSON schema -> OpenAPI 3.1 schema objects, collecting named components."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}
        self._names: dict[str, str] = {}

    def _name_for(self, urn: str) -> str:
        if urn not in self._names:
            base = _component_name(urn)
            name, n = base, 2
            while name in self._names.values():
                name, n = f"{base}{n}", n + 1
            self._names[urn] = name
        return self._names[urn]

    def translate(self, schema: Mapping[str, Any] | None) -> dict[str, Any]:
        """The OpenAPI form of ``schema`` (named objects become ``$ref`` components)."""
        if not schema:
            return {}
        if "$ref" in schema:
            return {"$ref": f"#/components/schemas/{self._name_for(schema['$ref'])}"}
        urn = schema.get("id")
        if urn:
            name = self._name_for(urn)
            if name not in self.components:
                self.components[name] = {}  # placeholder: recursive types refer back here
                self.components[name] = self._body(schema)
            return {"$ref": f"#/components/schemas/{name}"}
        return self._body(schema)

    def _body(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        kind = schema.get("type")
        out: dict[str, Any] = {}
        if kind == "any" or kind is None:
            pass
        elif kind == "object":
            out["type"] = "object"
            properties = schema.get("properties") or {}
            if properties:
                out["properties"] = {k: self.translate(v) for k, v in properties.items()}
                required = [k for k, v in properties.items() if v.get("required") is True]
                if required:
                    out["required"] = required
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping):
                out["additionalProperties"] = self.translate(extra)
        elif kind == "array":
            out["type"] = "array"
            out["items"] = self.translate(schema.get("items"))
        else:
            out["type"] = kind
        if "enum" in schema:
            out["enum"] = list(schema["enum"])
        return out


def _param_schema(param: _Param) -> dict[str, Any]:
    parse = getattr(param, "parse", None)
    if parse is parse_hex_id:
        return {"type": "string", "pattern": "^[0-9a-f]{32}$"}
    name = getattr(parse, "__name__", "")
    if name == "parse_long":
        return {"type": "integer", "format": "int64"}
    if name in ("parse_non_negative_int", "parse_positive_int"):
        return {"type": "integer", "format": "int32",
                "minimum": 1 if name == "parse_positive_int" else 0}
    return {"type": "string"}


def _openapi_path(path: str) -> str:
    return "/".join(f"{{{s[1:]}}}" if s.startswith(":") else s for s in path.split("/"))


def build_openapi(endpoints: Iterable[EndpointDeclaration], version: str,
                  spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``endpoints`` (bodies from ``spec``, Flink's schemas)."""
    spec = spec if spec is not None else load_spec()
    by_route = {(e["method"], e["path"]): e for e in spec["endpoints"]}
    translator = _SchemaTranslator()
    error = {"description": "An error, in Flink's form",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        flink = by_route.get((ep.method, ep.path), {})
        operation: dict[str, Any] = {
            "summary": ep.description,
            "operationId": f"{ep.method.lower()}{_openapi_path(ep.path)}".replace(
                "/", "_").replace("{", "").replace("}", "").replace("-", "_"),
            "parameters": [
                *({"name": p.name, "in": "path", "required": True, "description": p.description,
                   "schema": _param_schema(p)} for p in ep.path_params),
                *({"name": q.name, "in": "query", "required": q.required,
                   "description": q.description, "schema": {"type": "string"}}
                  for q in ep.query_params),
            ],
            "responses": {
                str(ep.status): {
                    "description": "The answer",
                    "content": {ep.media_type: {
                        "schema": (translator.translate(ep.response or flink.get("response"))
                                   if ep.media_type == "application/json"
                                   else {"type": "string"})}},
                },
                **{status: error for status in _ERROR_STATUSES},
            },
        }
        if ep.path == "/jars/upload":
            operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {
                "schema": {"type": "object", "properties": {
                    "jarfile": {"type": "string", "format": "binary"}}}}}}
        elif flink.get("request"):
            operation["requestBody"] = {"content": {"application/json": {
                "schema": translator.translate(flink["request"])}}}
        paths.setdefault(_openapi_path(ep.path), {})[ep.method.lower()] = operation
    components = dict(sorted(translator.components.items()))
    components["Errors"] = {"type": "object", "required": ["errors"], "properties": {
        "errors": {"type": "array", "items": {"type": "string"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "headwater REST API (Apache Flink 1.12 monitoring API)",
                 "version": version,
                 "description": str(spec.get("source", ""))},
        "paths": paths,
        "components": {"schemas": components},
    }
