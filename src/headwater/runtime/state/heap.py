"""The heap keyed state backend: per-key state in plain dicts.

Each state name owns a *table*, a dict ``key -> value``. Keyed operators set
``backend.current_key`` before calling user code, and state handles
(:class:`HeapValueState`...) read and write the table entry of that key. Built-in
operators with a fast path (keyed reduce, sum) use a table directly.

Key groups are computed only when snapshotting: ``snapshot()`` returns
``{key_group: {state_name: {key: value}}}`` and ``restore()`` takes such dicts (from one or
many subtasks, e.g. after rescaling) and keeps the key groups this backend owns.
States whose descriptor enables TTL get the handles of :mod:`headwater.runtime.state.ttl`
(values wrapped with timestamps); their expired entries are dropped from snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from headwater.api.state import (
    AggregatingState,
    ListState,
    MapState,
    ReducingState,
    ValueState,
)
from headwater.runtime.state.handles import _Handle, _MapReads
from headwater.runtime.state.key_groups import (
    KeyGroupRange,
    assign_to_key_group,
    key_group_range_for_operator,
)
from headwater.runtime.state.keyed_backend import KeyedBackendBase, KeyedSnapshot
from headwater.runtime.state.ttl import drop_expired


class HeapKeyedStateBackend(KeyedBackendBase):
    """Keyed state of one subtask, held in dicts."""

    def __init__(self, max_parallelism: int, key_group_range: KeyGroupRange | Iterable[int]
                 ) -> None:
        super().__init__(max_parallelism, key_group_range)
        self.tables: dict[str, dict[Any, Any]] = {}

    def get_table(self, name: str, kind: str = "value") -> dict[Any, Any]:
        """The dict ``key -> value`` of state ``name`` (created on first use)."""
        self._register_kind(name, kind)
        return self.tables.setdefault(name, {})  # restore() may have filled it already

    def keys(self, name: str) -> list[Any]:
        """The keys that have state ``name``."""
        return list(self.tables.get(name, ()))

    # -- snapshots ----------------------------------------------------------------------

    def snapshot(self) -> KeyedSnapshot:
        """All state grouped by key group. Values are references, not copies: serialize
        the snapshot before processing continues. Expired TTL entries are removed first."""
        self._drop_expired()
        maxp = self.max_parallelism
        groups: dict[Any, int] = {}
        out: KeyedSnapshot = {}
        for name, table in self.tables.items():
            for key, value in table.items():
                kg = groups.get(key)
                if kg is None:
                    kg = groups[key] = assign_to_key_group(key, maxp)
                out.setdefault(kg, {}).setdefault(name, {})[key] = value
        return out

    def _drop_expired(self) -> None:
        if not self._ttl:
            return
        now = self.ttl_clock()
        for name, ttl in self._ttl.items():
            table = self.tables.get(name)
            if not table:
                continue
            kind = self._kinds[name]
            for key, value in list(table.items()):
                live = drop_expired(kind, value, ttl, now)
                if live is None:
                    del table[key]
                elif live is not value:
                    table[key] = live

    def snapshot_tables(self) -> dict[str, dict[Any, Any]]:
        """All state as ``{state name: {key: value}}``, without grouping by key group:
        the cheap snapshot checkpoints use (key groups are computed on restore, which is
        rare, instead of at every checkpoint). References: serialize before going on."""
        self._drop_expired()
        return self.tables

    def restore(self, snapshots: Mapping[int, Mapping[str, Mapping[Any, Any]]]
                | Iterable[Mapping[int, Mapping[str, Mapping[Any, Any]]]]) -> None:
        """Load state from one snapshot or many (rescaling); key groups outside this
        backend's range are skipped."""
        for _kg, per_state in self._owned_groups(snapshots):
            for name, entries in per_state.items():
                table = self.tables.get(name)
                if table is None:
                    table = self.tables[name] = {}
                table.update(entries)

    def dispose(self) -> None:
        """Drop all state."""
        self.tables.clear()
        self._forget_states()


def create_keyed_backend(ctx) -> HeapKeyedStateBackend:
    """A backend for the subtask described by an ``OperatorContext``."""
    return HeapKeyedStateBackend(
        ctx.max_parallelism,
        key_group_range_for_operator(ctx.max_parallelism, ctx.parallelism, ctx.subtask_index))


class HeapValueState(_Handle, ValueState):
    """ValueState over a heap table."""

    __slots__ = ("default",)

    def __init__(self, backend: HeapKeyedStateBackend, descriptor, table: dict) -> None:
        super().__init__(backend, descriptor, table)
        self.default = getattr(descriptor, "default_value", None)

    def value(self) -> Any:
        """The current key's value."""
        return self.table.get(self.backend.current_key, self.default)

    def update(self, value: Any) -> None:
        """Set the current key's value (None clears it, as in Flink)."""
        if value is None:
            self.table.pop(self.backend.current_key, None)
        else:
            self.table[self.backend.current_key] = value


class HeapListState(_Handle, ListState):
    """ListState over a heap table."""

    __slots__ = ()

    def get(self) -> list[Any]:
        """The current key's values."""
        return self.table.get(self.backend.current_key, [])

    def add(self, value: Any) -> None:
        """Append a value."""
        key = self.backend.current_key
        lst = self.table.get(key)
        if lst is None:
            self.table[key] = [value]
        else:
            lst.append(value)

    def add_all(self, values: Iterable[Any]) -> None:
        """Append many values."""
        values = list(values)
        if values:
            self.table.setdefault(self.backend.current_key, []).extend(values)

    def update(self, values: Iterable[Any]) -> None:
        """Replace the values."""
        values = list(values)
        if values:
            self.table[self.backend.current_key] = values
        else:
            self.table.pop(self.backend.current_key, None)


class HeapMapState(_MapReads, _Handle, MapState):
    """MapState over a heap table."""

    __slots__ = ()

    def _map(self) -> dict:
        return self.table.get(self.backend.current_key, _EMPTY)

    def _map_for_write(self) -> dict:
        key = self.backend.current_key
        m = self.table.get(key)
        if m is None:
            m = self.table[key] = {}
        return m

    def put(self, key: Any, value: Any) -> None:
        """Set one entry."""
        self._map_for_write()[key] = value

    def put_all(self, entries: dict) -> None:
        """Set many entries."""
        self._map_for_write().update(entries)

    def remove(self, key: Any) -> None:
        """Delete one entry."""
        m = self.table.get(self.backend.current_key)
        if m is not None:
            m.pop(key, None)
            if not m:
                del self.table[self.backend.current_key]


class HeapReducingState(_Handle, ReducingState):
    """ReducingState over a heap table."""

    __slots__ = ("reduce",)

    def __init__(self, backend: HeapKeyedStateBackend, descriptor, table: dict) -> None:
        super().__init__(backend, descriptor, table)
        self.reduce = descriptor.reduce_function

    def get(self) -> Any:
        """The combined value or None."""
        return self.table.get(self.backend.current_key)

    def add(self, value: Any) -> None:
        """Combine a value into the state."""
        key = self.backend.current_key
        cur = self.table.get(key, _MISSING)
        self.table[key] = value if cur is _MISSING else self.reduce(cur, value)


class HeapAggregatingState(_Handle, AggregatingState):
    """AggregatingState over a heap table (the table holds accumulators)."""

    __slots__ = ("fn",)

    def __init__(self, backend: HeapKeyedStateBackend, descriptor, table: dict) -> None:
        super().__init__(backend, descriptor, table)
        self.fn = descriptor.agg_function

    def get(self) -> Any:
        """The aggregate of the current key, or None."""
        acc = self.table.get(self.backend.current_key, _MISSING)
        return None if acc is _MISSING else self.fn.get_result(acc)

    def add(self, value: Any) -> None:
        """Add a value into the current key's accumulator."""
        key = self.backend.current_key
        acc = self.table.get(key, _MISSING)
        if acc is _MISSING:
            acc = self.fn.create_accumulator()
        self.table[key] = self.fn.add(value, acc)


_EMPTY: dict = {}
_MISSING = object()
_HANDLES = {
    "value": HeapValueState,
    "list": HeapListState,
    "map": HeapMapState,
    "reducing": HeapReducingState,
    "aggregating": HeapAggregatingState,
}
HeapKeyedStateBackend.HANDLES = _HANDLES
