"""Keyed state whose descriptor declares a type (``ValueStateDescriptor("n",
Types.INT())``): values written are converted to it as PyFlink's state serializers do,
and a value that does not fit fails with a message naming the state and the type.
Handles of descriptors without a type are the backend's own (no extra cost)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from headwater.api.typeinfo import TypeInformation, converter_for


def _converter(type_info: Any, name: str, what: str) -> Callable[[Any], Any] | None:
    if not isinstance(type_info, TypeInformation):
        return None
    return converter_for(type_info, f"state {name!r}", what)


def typed_state(handle: Any, descriptor: Any) -> Any:
    """``handle``, converting written values when ``descriptor`` declares types."""
    kind, name = descriptor.kind, descriptor.name
    if kind == "map":
        keys = _converter(descriptor.type_info, name, "key")
        values = _converter(getattr(descriptor, "value_type_info", None), name, "value")
        return handle if keys is None and values is None else \
            _TypedMapState(handle, keys, values)
    if kind in ("value", "list", "reducing"):
        convert = _converter(descriptor.type_info, name, "value")
        if convert is not None:
            return {"value": _TypedValueState, "list": _TypedListState,
                    "reducing": _TypedReducingState}[kind](handle, convert)
    return handle


class _Typed:
    """Reads and everything else go to the backend's handle."""

    def __init__(self, handle: Any, convert: Callable[[Any], Any]) -> None:
        self._handle = handle
        self._convert = convert

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_handle"], name)


class _TypedValueState(_Typed):
    def update(self, value: Any) -> None:
        """Set the converted value."""
        self._handle.update(self._convert(value))


class _TypedListState(_Typed):
    def add(self, value: Any) -> None:
        """Append the converted value."""
        self._handle.add(self._convert(value))

    def add_all(self, values: Iterable[Any]) -> None:
        """Append the converted values."""
        self._handle.add_all([self._convert(v) for v in values])

    def update(self, values: Iterable[Any]) -> None:
        """Replace the list with the converted values."""
        self._handle.update([self._convert(v) for v in values])


class _TypedReducingState(_Typed):
    def add(self, value: Any) -> None:
        """Reduce in the converted value."""
        self._handle.add(self._convert(value))


class _TypedMapState:
    """A MapState converting written keys and values."""

    def __init__(self, handle: Any, keys: Callable[[Any], Any] | None,
                 values: Callable[[Any], Any] | None) -> None:
        self._handle = handle
        self._key = keys or (lambda k: k)
        self._value = values or (lambda v: v)

    def put(self, key: Any, value: Any) -> None:
        """Set the converted key to the converted value."""
        self._handle.put(self._key(key), self._value(value))

    def put_all(self, entries: dict) -> None:
        """Set all, converted."""
        self._handle.put_all({self._key(k): self._value(v) for k, v in entries.items()})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_handle"], name)
