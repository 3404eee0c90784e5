"""Records as text the way Flink writes them when their type is declared.

PyFlink's ``print()`` and ``Encoder.simple_string_encoder()`` turn a record into text
with Java's ``toString`` of its declared type: a ``Types.TUPLE`` record prints as
``(to,1)``, a ``Types.ROW`` as ``+I[to, 1]``, a bool as ``true``, a double as ``1.0E7``.
Untyped records (``PICKLED_BYTE_ARRAY``) print as Python's ``str``, as PyFlink does.
:class:`FlinkStringFormat` is that conversion; ``print()`` and the file sinks use it for
streams with a declared type.
"""

from __future__ import annotations

import datetime
import decimal
import struct
from typing import Any

from headwater.api.typeinfo import (
    BasicTypeInfo,
    ListTypeInfo,
    MapTypeInfo,
    PickledBytesTypeInfo,
    RowTypeInfo,
    SqlTimeTypeInfo,
    TupleTypeInfo,
    TypeInformation,
)
from headwater.api.types import Row


def _java_double(value: float) -> str:
    """Java's ``Double.toString`` (shortest digits; scientific outside [1e-3, 1e7))."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    sign, digits, exponent = decimal.Decimal(repr(float(value))).as_tuple()
    assert isinstance(exponent, int)  # finite
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) + exponent - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def _java_float(value: float) -> str:
    """Java's ``Float.toString``: the shortest text that reads back as the same float32."""
    pack = struct.Struct(">f")
    target = pack.pack(value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if pack.pack(candidate) == target:
            return _java_double(candidate)
    return _java_double(value)


def flink_string(value: Any, type_info: TypeInformation | None) -> str:
    """``value`` as Flink's Java ``toString`` of its declared type would write it."""
    if value is None:
        return "null"
    if type_info is None or isinstance(type_info, PickledBytesTypeInfo):
        return str(value)
    if isinstance(type_info, TupleTypeInfo):
        types = type_info.get_field_types()
        return "(" + ",".join(flink_string(v, t) for v, t in zip(value, types, strict=False)) \
            + ")"
    if isinstance(type_info, RowTypeInfo):
        types = type_info.get_field_types()
        kind = value.get_row_kind() if isinstance(value, Row) else None
        fields = ", ".join(flink_string(v, t) for v, t in zip(value, types, strict=False))
        return f"{kind or '+I'}[{fields}]"
    if isinstance(type_info, ListTypeInfo):
        return "[" + ", ".join(flink_string(v, type_info.element_type) for v in value) + "]"
    if isinstance(type_info, MapTypeInfo):
        return "{" + ", ".join(f"{flink_string(k, type_info.key_type)}="
                               f"{flink_string(v, type_info.value_type)}"
                               for k, v in value.items()) + "}"
    if isinstance(type_info, BasicTypeInfo):
        if type_info.name == "BOOLEAN":
            return "true" if value else "false"
        if type_info.name == "DOUBLE" and isinstance(value, float):
            return _java_double(value)
        if type_info.name == "FLOAT" and isinstance(value, float):
            return _java_float(value)
        return str(value)
    if isinstance(type_info, SqlTimeTypeInfo) and isinstance(value, datetime.datetime):
        fraction = f"{value.microsecond:06d}".rstrip("0") or "0"
        return value.strftime("%Y-%m-%d %H:%M:%S") + "." + fraction
    return str(value)


class FlinkStringFormat:
    """A picklable ``record -> text`` for one declared type."""

    def __init__(self, type_info: TypeInformation) -> None:
        self.type_info = type_info

    def __call__(self, value: Any) -> str:
        return flink_string(value, self.type_info)


def needs_flink_format(type_info: Any) -> bool:
    """Whether records of ``type_info`` print differently from Python's ``str``."""
    return isinstance(type_info, TypeInformation) and \
        not isinstance(type_info, PickledBytesTypeInfo)
