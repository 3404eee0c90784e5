"""Keyed state handles over any table, writing every change back.

A backend keeps one *table* per state name: a mapping ``key -> value``. The heap backend
hands out its own handles that change values in place; a table whose values are copies
(the RocksDB view unpickles on every read) needs handles that write each change back with
``table[key] = value``. These are those handles; :func:`make_handle` picks the class
for a descriptor, with TTL (:mod:`headwater.runtime.state.ttl`) when it asks for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from headwater.api.state import (
    AggregatingState,
    AggregatingStateDescriptor,
    ListState,
    MapState,
    ReducingState,
    ReducingStateDescriptor,
    StateDescriptor,
    ValueState,
)

_MISSING = object()


class _Handle:
    __slots__ = ("backend", "descriptor", "table")

    def __init__(self, backend: Any, descriptor: StateDescriptor, table: MutableMapping
                 ) -> None:
        self.backend = backend
        self.descriptor = descriptor
        self.table = table

    def clear(self) -> None:
        """Remove the current key's state."""
        self.table.pop(self.backend.current_key, None)


class _MapReads:
    """The reading methods of MapState over ``self._map()``, the current key's dict."""

    __slots__ = ()

    def _map(self) -> dict:
        raise NotImplementedError

    def get(self, key: Any) -> Any:
        """The entry's value or None."""
        return self._map().get(key)

    def contains(self, key: Any) -> bool:
        """Whether the entry exists."""
        return key in self._map()

    def items(self):
        """All entries."""
        return list(self._map().items())

    def keys(self):
        """All entry keys."""
        return list(self._map().keys())

    def values(self):
        """All entry values."""
        return list(self._map().values())

    def is_empty(self) -> bool:
        """Whether the map is empty."""
        return not self._map()


class ValueStateHandle(_Handle, ValueState):
    """ValueState over a write-back table."""

    __slots__ = ()

    def value(self) -> Any:
        """The current key's value (the descriptor's default if none)."""
        return self.table.get(self.backend.current_key,
                              getattr(self.descriptor, "default_value", None))

    def update(self, value: Any) -> None:
        """Set the current key's value (None clears it)."""
        if value is None:
            self.clear()
        else:
            self.table[self.backend.current_key] = value


class ListStateHandle(_Handle, ListState):
    """ListState over a write-back table."""

    __slots__ = ()

    def get(self) -> list[Any]:
        """The current key's values."""
        return self.table.get(self.backend.current_key) or []

    def add(self, value: Any) -> None:
        """Append a value."""
        self.add_all((value,))

    def add_all(self, values: Iterable[Any]) -> None:
        """Append many values."""
        values = list(values)
        if values:
            key = self.backend.current_key
            self.table[key] = (self.table.get(key) or []) + values

    def update(self, values: Iterable[Any]) -> None:
        """Replace the values."""
        values = list(values)
        if values:
            self.table[self.backend.current_key] = values
        else:
            self.clear()


class MapStateHandle(_MapReads, _Handle, MapState):
    """MapState over a write-back table (the whole map of a key is one value)."""

    __slots__ = ()

    def _map(self) -> dict:
        return self.table.get(self.backend.current_key) or {}

    def _store(self, m: dict) -> None:
        if m:
            self.table[self.backend.current_key] = m
        else:
            self.clear()

    def put(self, key: Any, value: Any) -> None:
        """Set one entry."""
        m = self._map()
        m[key] = value
        self._store(m)

    def put_all(self, entries: dict) -> None:
        """Set many entries."""
        m = self._map()
        m.update(entries)
        self._store(m)

    def remove(self, key: Any) -> None:
        """Delete one entry."""
        m = self._map()
        if key in m:
            del m[key]
            self._store(m)


class ReducingStateHandle(_Handle, ReducingState):
    """ReducingState over a write-back table."""

    __slots__ = ()
    descriptor: ReducingStateDescriptor

    def get(self) -> Any:
        """The combined value or None."""
        return self.table.get(self.backend.current_key)

    def add(self, value: Any) -> None:
        """Combine a value into the state."""
        key = self.backend.current_key
        cur = self.table.get(key, _MISSING)
        if cur is _MISSING:
            self.table[key] = value
            return
        reduce = self.descriptor.reduce_function
        if reduce is None:
            raise TypeError(f"reducing state {self.descriptor.name!r} has no reduce function")
        self.table[key] = reduce(cur, value)


class AggregatingStateHandle(_Handle, AggregatingState):
    """AggregatingState over a write-back table (the table holds accumulators)."""

    __slots__ = ()
    descriptor: AggregatingStateDescriptor

    def get(self) -> Any:
        """The aggregate of the current key, or None."""
        acc = self.table.get(self.backend.current_key, _MISSING)
        return None if acc is _MISSING else self.descriptor.agg_function.get_result(acc)

    def add(self, value: Any) -> None:
        """Add a value into the current key's accumulator."""
        key = self.backend.current_key
        fn = self.descriptor.agg_function
        acc = self.table.get(key, _MISSING)
        if acc is _MISSING:
            acc = fn.create_accumulator()
        self.table[key] = fn.add(value, acc)


WRITE_BACK_HANDLES = {
    "value": ValueStateHandle,
    "list": ListStateHandle,
    "map": MapStateHandle,
    "reducing": ReducingStateHandle,
    "aggregating": AggregatingStateHandle,
}


def make_handle(backend: Any, descriptor: StateDescriptor, table: MutableMapping,
                plain: Mapping[str, type]) -> Any:
    """A handle for ``descriptor``: a TTL handle when the descriptor enables TTL, else an
    instance of ``plain[descriptor.kind]``."""
    ttl = descriptor.get_ttl_config() if hasattr(descriptor, "get_ttl_config") else None
    if ttl is not None and ttl.is_enabled():
        from headwater.runtime.state.ttl import TTL_HANDLES

        cls: type | None = TTL_HANDLES.get(descriptor.kind)
    else:
        cls = plain.get(descriptor.kind)
    if cls is None:
        raise TypeError(f"unsupported state descriptor {type(descriptor).__name__}")
    return cls(backend, descriptor, table)
