"""Turning Kafka bytes into records and back: Flink's ``SimpleStringSchema`` and JSON row
schemas (records are dicts).

A deserializer is any object with ``deserialize(data: bytes | None) -> Any`` and a
serializer any object with ``serialize(value) -> bytes | None``; plain callables are
accepted wherever a schema is expected::

    SimpleStringSchema().deserialize(b"hi")                     # -> "hi"
    JsonRowSerializationSchema.builder().build().serialize({"a": 1})   # -> b'{"a": 1}'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class SimpleStringSchema:
    """Strings as their encoded bytes (default UTF-8), both ways."""

    def __init__(self, charset: str = "UTF-8") -> None:
        "".encode(charset)  # fail early on an unknown charset
        self.charset = charset

    def deserialize(self, data: bytes | None) -> str | None:
        """The decoded text (None for a null value)."""
        return None if data is None else data.decode(self.charset)

    def serialize(self, value: Any) -> bytes | None:
        """``str(value)`` encoded (None stays None: a null value)."""
        return None if value is None else str(value).encode(self.charset)


class JsonRowDeserializationSchema:
    """JSON objects as dicts (PyFlink's ``JsonRowDeserializationSchema`` without a type:
    every field is kept). ``ignore_parse_errors()`` turns unreadable records into None
    instead of failing the job."""

    def __init__(self, ignore_parse_errors: bool = False) -> None:
        self.ignore = ignore_parse_errors

    @staticmethod
    def builder() -> JsonRowDeserializationSchema:
        """A schema to refine (``ignore_parse_errors``) and ``build``."""
        return JsonRowDeserializationSchema()

    def type_info(self, type_info: Any) -> JsonRowDeserializationSchema:
        """Accepted for PyFlink compatibility; fields are not checked against it."""
        return self

    def ignore_parse_errors(self) -> JsonRowDeserializationSchema:
        """Records that are not JSON become None instead of failing the job."""
        return JsonRowDeserializationSchema(True)

    def build(self) -> JsonRowDeserializationSchema:
        """This schema."""
        return self

    def deserialize(self, data: bytes | None) -> Any:
        """The parsed JSON value (None for a null value)."""
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            if self.ignore:
                return None
            raise


class JsonRowSerializationSchema:
    """Records (dicts, lists, numbers...) as compact JSON bytes."""

    @staticmethod
    def builder() -> JsonRowSerializationSchema:
        """A schema to ``build``."""
        return JsonRowSerializationSchema()

    def with_type_info(self, type_info: Any) -> JsonRowSerializationSchema:
        """Accepted for PyFlink compatibility."""
        return self

    def build(self) -> JsonRowSerializationSchema:
        """This schema."""
        return self

    def serialize(self, value: Any) -> bytes | None:
        """The JSON text of ``value`` (None stays None)."""
        return None if value is None else json.dumps(value, separators=(",", ":")).encode()


def deserializer_function(schema: Any) -> Callable[[bytes | None], Any]:
    """The bytes -> record function of a deserialization schema or callable."""
    fn = getattr(schema, "deserialize", None)
    if callable(fn):
        return fn
    if callable(schema):
        return schema
    raise TypeError(f"not a deserialization schema: {type(schema).__name__} (expected e.g. "
                    "SimpleStringSchema() or a callable bytes -> record)")


def serializer_function(schema: Any) -> Callable[[Any], bytes | None]:
    """The record -> bytes function of a serialization schema or callable."""
    fn = getattr(schema, "serialize", None)
    if callable(fn):
        return fn
    if callable(schema):
        return schema
    raise TypeError(f"not a serialization schema: {type(schema).__name__} (expected e.g. "
                    "SimpleStringSchema() or a callable record -> bytes)")
