"""``Types`` and ``TypeInformation`` (PyFlink's ``pyflink.common.typeinfo``).

A program may declare the type of a stream (``map(f, output_type=Types.INT())``,
``from_collection(xs, type_info=...)``, ``key_by(f, key_type=...)``, a state
descriptor's type). Without a declaration records are Python objects passed as they are
(PyFlink's ``PICKLED_BYTE_ARRAY``) and cost nothing extra. With one, each record that
leaves the operator is checked and converted the way PyFlink's coders convert it when
the record crosses to the JVM and back (keyed state values written to a typed
descriptor too, see ``headwater.api.typed_state``); a record that does not fit fails
the job with a message naming the operator and the type::

    ds.map(lambda x: Row(name=x[0], n=x[1]),
           output_type=Types.ROW_NAMED(["name", "n"], [Types.STRING(), Types.INT()]))

Conversions implemented (where PyFlink's result visibly differs from the input):

* ``BYTE``/``SHORT``/``INT``/``LONG``: ints in the type's range; ``True``/``False``
  become ``1``/``0``; a float, a string or an int out of range fails (PyFlink's
  ``struct`` packing fails the same way). ``BIG_INT``: any int.
* ``FLOAT``: ints and floats, rounded to single precision (``0.1`` becomes
  ``0.10000000149011612``); ``DOUBLE``: ints and floats become ``float``.
* ``BOOLEAN``: bools, and ints as their truth value (PyFlink writes a byte).
* ``STRING``/``CHAR``: only ``str`` (an int fails, as ``value.encode`` does in PyFlink).
* ``BIG_DEC``: ints, floats, strings and Decimals become ``Decimal(str(value))``.
* ``SQL_DATE``/``SQL_TIME``/``SQL_TIMESTAMP``: ``datetime.date``/``time``/``datetime``
  (a ``datetime`` given for ``SQL_DATE`` becomes its date); ``INSTANT``: an ``Instant``.
* ``TUPLE``: a tuple or list of the right arity becomes a tuple of converted fields.
* ``ROW``/``ROW_NAMED``: a ``Row``, tuple or list of the right arity becomes a ``Row``
  (``ROW_NAMED``: with the field names, so ``row.name`` works; a named ``Row`` is
  reordered by name, a missing name fails). The row kind is kept.
* ``LIST``/``BASIC_ARRAY``/``PRIMITIVE_ARRAY``/``OBJECT_ARRAY``: any iterable becomes a
  list of converted elements; ``MAP``: a dict of converted keys and values.
* ``PICKLED_BYTE_ARRAY``: anything, unchanged.

Not implemented (documented differences): ``None`` passes every type (PyFlink rejects it
at the top level and in tuples, accepts it in row fields); ``SQL_TIMESTAMP`` keeps
microseconds and time zones as given; ``add_source(type_info=...)`` and
``FileSource`` outputs are not converted; ``Types.STRING()`` records are not
re-encoded (no surrogate check). Side outputs (``yield tag, value``, ``ctx.output``)
keep their values, as in PyFlink, where ``output_type`` types the main output only.
"""

from __future__ import annotations

import datetime
import decimal
import struct
from collections.abc import Callable, Iterable
from typing import Any

from headwater.api.types import Row

#: Converts one value (raises _Mismatch).
Converter = Callable[[Any], Any]


class _Mismatch(TypeError):
    """A value that does not fit a type."""


class TypeInformation:
    """The declared type of a stream's records, keys or state values."""

    def need_conversion(self) -> bool:
        """Whether values of this type are converted (PICKLED_BYTE_ARRAY: no)."""
        return True

    def _converter(self) -> Converter:
        raise NotImplementedError

    def to_internal_type(self, obj: Any) -> Any:
        """``obj`` converted to this type (TypeError if it does not fit)."""
        return self.converter()(obj)

    def converter(self) -> Converter:
        """The conversion function of this type; raises ``TypeError`` naming the type."""
        inner = self._converter()

        def convert(value: Any) -> Any:
            try:
                return inner(value)
            except _Mismatch as exc:
                raise TypeError(f"{value!r} does not match type {self}: {exc}") from None

        return convert

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and repr(other) == repr(self)

    def __hash__(self) -> int:
        return hash(repr(self))

    def __str__(self) -> str:
        return repr(self)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise _Mismatch(message)


def _type_name(value: Any) -> str:
    return type(value).__name__


class BasicTypeInfo(TypeInformation):
    """STRING, BOOLEAN, BYTE, SHORT, INT, LONG, FLOAT, DOUBLE, CHAR, BIG_INT, BIG_DEC."""

    _INT_BITS = {"BYTE": 8, "SHORT": 16, "INT": 32, "LONG": 64}

    def __init__(self, name: str) -> None:
        self.name = name

    def _converter(self) -> Converter:
        name = self.name
        if name in ("STRING", "CHAR"):
            def to_str(v: Any) -> Any:
                _check(v is None or isinstance(v, str), f"expected a str, got {_type_name(v)}")
                return v
            return to_str
        if name in self._INT_BITS or name == "BIG_INT":
            bits = self._INT_BITS.get(name)
            low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if bits else (None, None)

            def to_int(v: Any) -> Any:
                if v is None:
                    return v
                _check(isinstance(v, int), f"expected an int, got {_type_name(v)}")
                v = int(v)
                if low is not None and high is not None:
                    _check(low <= v <= high, f"{v} is out of range [{low}, {high}]")
                return v
            return to_int
        if name in ("FLOAT", "DOUBLE"):
            single = name == "FLOAT"
            pack = struct.Struct(">f")

            def to_float(v: Any) -> Any:
                if v is None:
                    return v
                _check(isinstance(v, int | float) and not isinstance(v, bool),
                       f"expected a float, got {_type_name(v)}")
                if single:
                    try:
                        return pack.unpack(pack.pack(v))[0]
                    except (struct.error, OverflowError) as exc:
                        raise _Mismatch(str(exc)) from None
                return float(v)
            return to_float
        if name == "BOOLEAN":
            def to_bool(v: Any) -> Any:
                if v is None:
                    return v
                _check(isinstance(v, int), f"expected a bool, got {_type_name(v)}")
                return bool(v)
            return to_bool
        if name == "BIG_DEC":
            def to_decimal(v: Any) -> Any:
                if v is None:
                    return v
                _check(isinstance(v, int | float | str | decimal.Decimal)
                       and not isinstance(v, bool), f"expected a Decimal, got {_type_name(v)}")
                try:
                    return decimal.Decimal(str(v))
                except decimal.InvalidOperation:
                    raise _Mismatch(f"{v!r} is not a decimal number") from None
            return to_decimal
        raise ValueError(f"unknown basic type {name}")

    def __repr__(self) -> str:
        return self.name


class InstantTypeInfo(TypeInformation):
    """``Types.INSTANT()``: :class:`~headwater.api.time.Instant` values."""

    def _converter(self) -> Converter:
        from headwater.api.time import Instant

        def to_instant(v: Any) -> Any:
            _check(v is None or isinstance(v, Instant), f"expected an Instant, got "
                   f"{_type_name(v)}")
            return v
        return to_instant

    def __repr__(self) -> str:
        return "INSTANT"


class SqlTimeTypeInfo(TypeInformation):
    """SQL_DATE, SQL_TIME, SQL_TIMESTAMP: ``datetime.date``, ``time``, ``datetime``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _converter(self) -> Converter:
        name = self.name

        def to_time(v: Any) -> Any:
            if v is None:
                return v
            if name == "SQL_DATE":
                _check(isinstance(v, datetime.date), f"expected a datetime.date, got "
                       f"{_type_name(v)}")
                return v.date() if isinstance(v, datetime.datetime) else v
            if name == "SQL_TIME":
                _check(isinstance(v, datetime.time), f"expected a datetime.time, got "
                       f"{_type_name(v)}")
                return v
            _check(isinstance(v, datetime.datetime), f"expected a datetime.datetime, got "
                   f"{_type_name(v)}")
            return v
        return to_time

    def __repr__(self) -> str:
        return self.name


class PickledBytesTypeInfo(TypeInformation):
    """Any picklable Python object, unchanged (the type of untyped streams)."""

    def need_conversion(self) -> bool:
        """No conversion."""
        return False

    def _converter(self) -> Converter:
        return _identity

    def __repr__(self) -> str:
        return "PICKLED_BYTE_ARRAY"


def _identity(v: Any) -> Any:
    return v


def _require_types(what: str, types: Any) -> list[TypeInformation]:
    if not isinstance(types, list | tuple):
        raise TypeError(f"{what} expects a list of TypeInformation, got {_type_name(types)}")
    for i, t in enumerate(types):
        if not isinstance(t, TypeInformation):
            shown = getattr(t, "__name__", None) or repr(t)
            raise TypeError(f"{what}: field {i} is {shown}, not a TypeInformation "
                            "(use e.g. Types.INT(), Types.STRING())")
    return list(types)


class RowTypeInfo(TypeInformation):
    """``Types.ROW`` / ``Types.ROW_NAMED``: records become :class:`Row`."""

    def __init__(self, field_types: list[TypeInformation],
                 field_names: list[str] | None = None) -> None:
        what = "Types.ROW_NAMED" if field_names is not None else "Types.ROW"
        self._types = _require_types(what, field_types)
        self._explicit_names = field_names is not None
        if field_names is None:
            field_names = [f"f{i}" for i in range(len(self._types))]
        if not isinstance(field_names, list | tuple) or \
                not all(isinstance(n, str) for n in field_names):
            raise TypeError(f"{what}: field names must be a list of str")
        if len(field_names) != len(self._types):
            raise ValueError(f"{what}: {len(field_names)} field names for "
                             f"{len(self._types)} field types")
        if len(set(field_names)) != len(field_names):
            raise ValueError(f"{what}: duplicate field names {list(field_names)}")
        self._names = list(field_names)

    def get_field_names(self) -> list[str]:
        """The field names (f0, f1... when not named)."""
        return list(self._names)

    def get_field_index(self, field_name: str) -> int:
        """The position of a field (-1 if unknown)."""
        return self._names.index(field_name) if field_name in self._names else -1

    def get_field_types(self) -> list[TypeInformation]:
        """The field types."""
        return list(self._types)

    def _converter(self) -> Converter:
        convs = [t._converter() for t in self._types]
        names, explicit, n = self._names, self._explicit_names, len(self._types)

        def to_row(v: Any) -> Any:
            if v is None:
                return v
            kind = None
            if isinstance(v, Row):
                kind = v.get_row_kind()
                if explicit and hasattr(v, "_fields") and v._fields != names:
                    try:
                        v = v.get_fields_by_names(names)
                    except KeyError as exc:
                        raise _Mismatch(str(exc.args[0])) from None
            else:
                _check(isinstance(v, tuple | list), f"expected a Row, tuple or list, got "
                       f"{_type_name(v)}")
            values = list(v)
            _check(len(values) == n, f"expected {n} fields, got {len(values)}")
            out = Row(*[c(x) for c, x in zip(convs, values, strict=True)])
            if explicit:
                out._fields = list(names)
            if kind is not None:
                out._row_kind = kind
            return out
        return to_row

    def __repr__(self) -> str:
        if self._explicit_names:
            fields = ", ".join(f"{n}: {t}" for n, t in zip(self._names, self._types,
                                                            strict=True))
            return f"RowTypeInfo({fields})"
        return f"RowTypeInfo({', '.join(map(repr, self._types))})"


class TupleTypeInfo(TypeInformation):
    """``Types.TUPLE``: records become tuples."""

    def __init__(self, field_types: list[TypeInformation]) -> None:
        self._types = _require_types("Types.TUPLE", field_types)

    def get_field_types(self) -> list[TypeInformation]:
        """The field types."""
        return list(self._types)

    def _converter(self) -> Converter:
        convs = [t._converter() for t in self._types]
        n = len(convs)

        def to_tuple(v: Any) -> Any:
            if v is None:
                return v
            _check(isinstance(v, tuple | list) and not isinstance(v, Row),
                   f"expected a tuple, got {_type_name(v)}")
            _check(len(v) == n, f"expected {n} fields, got {len(v)}")
            return tuple(c(x) for c, x in zip(convs, v, strict=True))
        return to_tuple

    def __repr__(self) -> str:
        return f"TupleTypeInfo({', '.join(map(repr, self._types))})"


class ListTypeInfo(TypeInformation):
    """``Types.LIST`` and the array types: records become lists."""

    def __init__(self, element_type: TypeInformation, name: str = "LIST") -> None:
        _require_types(f"Types.{name}", [element_type])
        self.element_type = element_type
        self.name = name

    def _converter(self) -> Converter:
        conv = self.element_type._converter()

        def to_list(v: Any) -> Any:
            if v is None:
                return v
            _check(isinstance(v, Iterable) and not isinstance(v, str | bytes | dict),
                   f"expected a list, got {_type_name(v)}")
            return [conv(x) for x in v]
        return to_list

    def __repr__(self) -> str:
        return f"{self.name}<{self.element_type!r}>"


class MapTypeInfo(TypeInformation):
    """``Types.MAP``: records become dicts."""

    def __init__(self, key_type: TypeInformation, value_type: TypeInformation) -> None:
        _require_types("Types.MAP", [key_type, value_type])
        self.key_type = key_type
        self.value_type = value_type

    def _converter(self) -> Converter:
        kc, vc = self.key_type._converter(), self.value_type._converter()

        def to_dict(v: Any) -> Any:
            if v is None:
                return v
            _check(isinstance(v, dict), f"expected a dict, got {_type_name(v)}")
            return {kc(k): vc(x) for k, x in v.items()}
        return to_dict

    def __repr__(self) -> str:
        return f"MAP<{self.key_type!r}, {self.value_type!r}>"


class Types:
    """Factories of the declarable types (PyFlink's ``Types``)."""

    @staticmethod
    def STRING() -> TypeInformation:
        """``str``."""
        return BasicTypeInfo("STRING")

    @staticmethod
    def BYTE() -> TypeInformation:
        """An int in [-128, 127]."""
        return BasicTypeInfo("BYTE")

    @staticmethod
    def BOOLEAN() -> TypeInformation:
        """``bool``."""
        return BasicTypeInfo("BOOLEAN")

    @staticmethod
    def SHORT() -> TypeInformation:
        """A 16-bit int."""
        return BasicTypeInfo("SHORT")

    @staticmethod
    def INT() -> TypeInformation:
        """A 32-bit int."""
        return BasicTypeInfo("INT")

    @staticmethod
    def LONG() -> TypeInformation:
        """A 64-bit int."""
        return BasicTypeInfo("LONG")

    @staticmethod
    def FLOAT() -> TypeInformation:
        """A single-precision float."""
        return BasicTypeInfo("FLOAT")

    @staticmethod
    def DOUBLE() -> TypeInformation:
        """A double-precision float."""
        return BasicTypeInfo("DOUBLE")

    @staticmethod
    def CHAR() -> TypeInformation:
        """A str (Java char)."""
        return BasicTypeInfo("CHAR")

    @staticmethod
    def BIG_INT() -> TypeInformation:
        """An int of any size."""
        return BasicTypeInfo("BIG_INT")

    @staticmethod
    def BIG_DEC() -> TypeInformation:
        """A ``decimal.Decimal``."""
        return BasicTypeInfo("BIG_DEC")

    @staticmethod
    def INSTANT() -> TypeInformation:
        """An ``Instant``."""
        return InstantTypeInfo()

    @staticmethod
    def SQL_DATE() -> TypeInformation:
        """A ``datetime.date``."""
        return SqlTimeTypeInfo("SQL_DATE")

    @staticmethod
    def SQL_TIME() -> TypeInformation:
        """A ``datetime.time``."""
        return SqlTimeTypeInfo("SQL_TIME")

    @staticmethod
    def SQL_TIMESTAMP() -> TypeInformation:
        """A ``datetime.datetime``."""
        return SqlTimeTypeInfo("SQL_TIMESTAMP")

    @staticmethod
    def PICKLED_BYTE_ARRAY() -> TypeInformation:
        """Any Python object (no conversion)."""
        return PickledBytesTypeInfo()

    @staticmethod
    def ROW(field_types: list[TypeInformation]) -> RowTypeInfo:
        """A :class:`Row` of positional fields."""
        return RowTypeInfo(field_types)

    @staticmethod
    def ROW_NAMED(field_names: list[str], field_types: list[TypeInformation]
                  ) -> RowTypeInfo:
        """A :class:`Row` with named fields (``row.name``)."""
        return RowTypeInfo(field_types, field_names)

    @staticmethod
    def TUPLE(field_types: list[TypeInformation]) -> TupleTypeInfo:
        """A tuple of typed fields."""
        return TupleTypeInfo(field_types)

    @staticmethod
    def PRIMITIVE_ARRAY(element_type: TypeInformation) -> TypeInformation:
        """A list of primitive values."""
        return ListTypeInfo(element_type, "PRIMITIVE_ARRAY")

    @staticmethod
    def BASIC_ARRAY(element_type: TypeInformation) -> TypeInformation:
        """A list of basic values."""
        return ListTypeInfo(element_type, "BASIC_ARRAY")

    @staticmethod
    def OBJECT_ARRAY(element_type: TypeInformation) -> TypeInformation:
        """A list of objects."""
        return ListTypeInfo(element_type, "OBJECT_ARRAY")

    @staticmethod
    def MAP(key_type_info: TypeInformation, value_type_info: TypeInformation
            ) -> TypeInformation:
        """A dict."""
        return MapTypeInfo(key_type_info, value_type_info)

    @staticmethod
    def LIST(element_type_info: TypeInformation) -> TypeInformation:
        """A list."""
        return ListTypeInfo(element_type_info, "LIST")


class TypeSerializer:
    """PyFlink's serializer interface (``serialize(element, stream)``,
    ``deserialize(stream)``, ``duplicate()``). headwater pickles records, windows and
    state, so a custom assigner's ``get_window_serializer`` is never called; the class
    exists so such programs import and run."""

    def serialize(self, element: Any, stream: Any) -> None:
        """Write ``element`` to the binary ``stream``."""
        import pickle

        stream.write(pickle.dumps(element, protocol=5))

    def deserialize(self, stream: Any) -> Any:
        """Read one element from the binary ``stream``."""
        import pickle

        return pickle.load(stream)

    def duplicate(self) -> TypeSerializer:
        """A copy (serializers are stateless here)."""
        return self


def check_type_info(type_info: Any, what: str) -> TypeInformation | None:
    """``type_info`` if it is a TypeInformation or None; TypeError otherwise."""
    if type_info is None or isinstance(type_info, TypeInformation):
        return type_info
    raise TypeError(f"{what} must be a TypeInformation such as Types.INT(), got "
                    f"{getattr(type_info, '__name__', None) or repr(type_info)}")


def converter_for(type_info: TypeInformation | None, operator_name: str,
                  what: str = "record") -> Converter | None:
    """A converter whose errors name the operator, or None when nothing is converted."""
    if type_info is None or not type_info.need_conversion():
        return None
    return _NamedConverter(type_info, operator_name, what)


class _NamedConverter:
    """A picklable converter: the conversion functions are built where it runs."""

    def __init__(self, type_info: TypeInformation, operator_name: str, what: str) -> None:
        self.type_info = type_info
        self.operator_name = operator_name
        self.what = what
        self._inner: Converter | None = None

    def __call__(self, value: Any) -> Any:
        inner = self._inner
        if inner is None:
            inner = self._inner = self.type_info._converter()
        try:
            return inner(value)
        except _Mismatch as exc:
            raise TypeError(f"{self.operator_name}: {self.what} {value!r} does not match its "
                            f"declared type {self.type_info}: {exc}") from None

    def __getstate__(self) -> dict:
        return {"type_info": self.type_info, "operator_name": self.operator_name,
                "what": self.what, "_inner": None}
