"""``Row`` and ``RowKind`` (PyFlink's ``pyflink.common.types``), with PyFlink's semantics::

    row = Row(name="Alice", age=11)          # named fields, in the order given
    row.name, row["age"], row[0]             # ('Alice', 11, 'Alice')
    Person = Row("name", "age")              # a "row class" ...
    Person("Bob", 3)                         # ... Row(name='Bob', age=3)
    Row(1, 2)                                # positional: <Row(1, 2)>
    row.as_dict()                            # {'name': 'Alice', 'age': 11}

Equality compares the row kind and the values (named rows by field name, in any order);
the hash is the hash of the values, as in PyFlink.
"""

from __future__ import annotations

import enum
from typing import Any


class RowKind(enum.Enum):
    """The change a row stands for in a changelog (``+I``, ``-U``, ``+U``, ``-D``)."""

    INSERT = 0
    UPDATE_BEFORE = 1
    UPDATE_AFTER = 2
    DELETE = 3

    def __str__(self) -> str:
        return ("+I", "-U", "+U", "-D")[self.value]


def _create_row(fields: list[str] | None, values: Any, row_kind: RowKind | None = None
                ) -> Row:
    row = Row(*values)
    if fields is not None:
        row._fields = list(fields)
    if row_kind is not None:
        row._row_kind = row_kind
    return row


class Row:
    """A record of positional or named fields (see the module docstring)."""

    _fields: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("Can not use both args and kwargs to create Row")
        if kwargs:
            self._fields = list(kwargs)
            self._values = list(kwargs.values())
        else:
            self._values = list(args)
        self._row_kind = RowKind.INSERT

    def as_dict(self, recursive: bool = False) -> dict[str, Any]:
        """The named fields as a dict (nested rows too when ``recursive``)."""
        if not hasattr(self, "_fields"):
            raise TypeError("Cannot convert a Row class into dict")
        if not recursive:
            return dict(zip(self._fields, self._values, strict=False))

        def conv(obj: Any) -> Any:
            if isinstance(obj, Row):
                return obj.as_dict(True)
            if isinstance(obj, list):
                return [conv(o) for o in obj]
            if isinstance(obj, dict):
                return {k: conv(v) for k, v in obj.items()}
            return obj

        return dict(zip(self._fields, map(conv, self._values), strict=False))

    def get_row_kind(self) -> RowKind:
        """The row's kind (INSERT unless set)."""
        return self._row_kind

    def set_row_kind(self, row_kind: RowKind) -> None:
        """Set the row's kind."""
        self._row_kind = row_kind

    def set_field_names(self, field_names: list[str]) -> None:
        """Name the fields."""
        self._fields = list(field_names)

    def get_fields_by_names(self, names: list[str]) -> list[Any]:
        """The values of the named fields, in the order of ``names``."""
        if not hasattr(self, "_fields") or names == self._fields:
            return self._values
        missing = sorted(set(names).difference(self._fields))
        if missing:
            raise KeyError(f"Field names {missing} not exist in {self._fields}.")
        return [self._values[self._fields.index(n)] for n in names]

    @staticmethod
    def of_kind(row_kind: RowKind, *args: Any, **kwargs: Any) -> Row:
        """A row of ``row_kind``."""
        row = Row(*args, **kwargs)
        row._row_kind = row_kind
        return row

    def __contains__(self, item: Any) -> bool:
        if hasattr(self, "_fields"):
            return item in self._fields
        return item in self._values

    def __call__(self, *args: Any) -> Row:
        """A row with these field names (this row's values) and ``args`` as values."""
        if len(args) > len(self):
            raise ValueError(f"Can not create Row with fields {self}, expected {len(self)} "
                             f"values but got {args}")
        return _create_row(self._values, args, self._row_kind)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, int | slice):
            return self._values[item]
        try:
            return self._values[self._fields.index(item)]
        except (AttributeError, ValueError):
            raise KeyError(item) from None

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, int | slice):
            self._values[key] = value
            return
        try:
            self._values[self._fields.index(key)] = value
        except (AttributeError, ValueError):
            raise KeyError(key) from None

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_"):
            raise AttributeError(item)
        try:
            return self._values[self._fields.index(item)]
        except (AttributeError, ValueError):
            raise AttributeError(item) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in ("_fields", "_values", "_row_kind"):
            raise AttributeError(key)
        self.__dict__[key] = value

    def __reduce__(self) -> tuple:
        return _create_row, (getattr(self, "_fields", None), tuple(self._values),
                             self._row_kind)

    def __repr__(self) -> str:
        if hasattr(self, "_fields"):
            fields = ", ".join(f"{k}={v!r}" for k, v in
                               zip(self._fields, self._values, strict=False))
            return f"Row({fields})"
        return f"<Row({', '.join(repr(v) for v in self._values)})>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row) or self._row_kind != other._row_kind:
            return False
        named, other_named = hasattr(self, "_fields"), hasattr(other, "_fields")
        if named != other_named:
            return False
        if not named:
            return self._values == other._values
        if sorted(self._fields) != sorted(other._fields):
            return False
        return all(self._values[self._fields.index(n)] == other._values[other._fields.index(n)]
                   for n in self._fields)

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
