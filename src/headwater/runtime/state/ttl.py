"""Keyed state with time-to-live: handles and snapshot cleanup.

A TTL state stores its values wrapped with the processing time (ms) of their last
update: ``(value, timestamp)`` per key for value, reducing and aggregating state,
a list of ``(element, timestamp)`` for list state and ``{map_key: (value, timestamp)}``
for map state. An entry is expired once ``timestamp + ttl <= now``; the backend's
``ttl_clock()`` gives ``now``. Expired entries are removed when they are accessed and by
:func:`drop_expired` when a snapshot is taken. Handles always write changes back, so they
work over heap dicts and the RocksDB view alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from headwater.api.state import (
    AggregatingState,
    ListState,
    MapState,
    ReducingState,
    ValueState,
)


def processing_time_ms() -> int:
    """Wall-clock milliseconds (the default TTL clock)."""
    return time.time_ns() // 1_000_000


class _TtlHandle:
    __slots__ = ("backend", "descriptor", "table", "ttl", "update_on_read", "return_expired")

    def __init__(self, backend: Any, descriptor: Any, table: Any) -> None:
        self.backend = backend
        self.descriptor = descriptor
        self.table = table
        config = descriptor.get_ttl_config()
        self.ttl = config.ttl
        self.update_on_read = config.update_on_read
        self.return_expired = config.return_expired

    def _now(self) -> int:
        return self.backend.ttl_clock()

    def clear(self) -> None:
        """Remove the current key's state."""
        self.table.pop(self.backend.current_key, None)

    def _read(self) -> tuple[Any, bool]:
        """(wrapped entry or None, whether it may be used) for the single-value kinds;
        removes an expired entry and refreshes the timestamp on read if configured."""
        key = self.backend.current_key
        entry = self.table.get(key)
        if entry is None:
            return None, False
        now = self._now()
        if entry[1] + self.ttl <= now:
            del self.table[key]
            return entry, self.return_expired
        if self.update_on_read:
            self.table[key] = (entry[0], now)
        return entry, True


class TtlValueState(_TtlHandle, ValueState):
    """ValueState whose value expires."""

    __slots__ = ()

    def value(self) -> Any:
        """The current key's value, or the default once expired."""
        entry, ok = self._read()
        return entry[0] if ok else getattr(self.descriptor, "default_value", None)

    def update(self, value: Any) -> None:
        """Set the value (and its timestamp); None clears it."""
        if value is None:
            self.clear()
        else:
            self.table[self.backend.current_key] = (value, self._now())


class TtlReducingState(_TtlHandle, ReducingState):
    """ReducingState whose combined value expires."""

    __slots__ = ()

    def get(self) -> Any:
        """The combined value or None."""
        entry, ok = self._read()
        return entry[0] if ok else None

    def add(self, value: Any) -> None:
        """Combine a value into the state (an expired value starts over)."""
        key = self.backend.current_key
        entry = self.table.get(key)
        now = self._now()
        if entry is not None and entry[1] + self.ttl > now:
            value = self.descriptor.reduce_function(entry[0], value)
        self.table[key] = (value, now)


class TtlAggregatingState(_TtlHandle, AggregatingState):
    """AggregatingState whose accumulator expires."""

    __slots__ = ()

    def get(self) -> Any:
        """The aggregate or None."""
        entry, ok = self._read()
        return self.descriptor.agg_function.get_result(entry[0]) if ok else None

    def add(self, value: Any) -> None:
        """Add a value (an expired accumulator starts over)."""
        key = self.backend.current_key
        fn = self.descriptor.agg_function
        entry = self.table.get(key)
        now = self._now()
        acc = entry[0] if entry is not None and entry[1] + self.ttl > now \
            else fn.create_accumulator()
        self.table[key] = (fn.add(value, acc), now)


class TtlListState(_TtlHandle, ListState):
    """ListState whose elements expire one by one."""

    __slots__ = ()

    def _live(self) -> tuple[list, list, int]:
        """(unexpired wrapped elements, the elements a read shows, now); expired elements
        are removed from the table."""
        stored = self.table.get(self.backend.current_key)
        now = self._now()
        if not stored:
            return [], [], now
        limit = now - self.ttl
        live = [e for e in stored if e[1] > limit]
        if len(live) == len(stored):
            return live, live, now
        self._store(live)
        return live, stored if self.return_expired else live, now

    def _store(self, wrapped: list) -> None:
        if wrapped:
            self.table[self.backend.current_key] = wrapped
        else:
            self.clear()

    def get(self) -> list[Any]:
        """The current key's unexpired values."""
        live, visible, now = self._live()
        if self.update_on_read and live:
            self._store([(v, now) for v, _ in live])
        return [v for v, _ in visible]

    def add(self, value: Any) -> None:
        """Append a value."""
        self.add_all((value,))

    def add_all(self, values: Iterable[Any]) -> None:
        """Append many values."""
        live, _, now = self._live()
        new = [(v, now) for v in values]
        if new:
            self._store(live + new)

    def update(self, values: Iterable[Any]) -> None:
        """Replace the values."""
        now = self._now()
        self._store([(v, now) for v in values])


class TtlMapState(_TtlHandle, MapState):
    """MapState whose entries expire one by one."""

    __slots__ = ()

    def _live(self) -> tuple[dict, dict]:
        """(unexpired wrapped entries, the entries a read shows); expired entries are
        removed from the table."""
        stored = self.table.get(self.backend.current_key)
        if not stored:
            return {}, {}
        limit = self._now() - self.ttl
        live = {k: e for k, e in stored.items() if e[1] > limit}
        if len(live) == len(stored):
            return live, live
        self._store(live)
        return live, stored if self.return_expired else live

    def _store(self, m: dict) -> None:
        if m:
            self.table[self.backend.current_key] = m
        else:
            self.clear()

    def _touch(self, live: dict, keys: Iterable[Any]) -> None:
        if self.update_on_read and live:
            now = self._now()
            for k in keys:
                if k in live:
                    live[k] = (live[k][0], now)
            self._store(live)

    def get(self, key: Any) -> Any:
        """The entry's value or None."""
        live, visible = self._live()
        entry = visible.get(key)
        if entry is None:
            return None
        self._touch(live, (key,))
        return entry[0]

    def put(self, key: Any, value: Any) -> None:
        """Set one entry."""
        self.put_all({key: value})

    def put_all(self, entries: dict) -> None:
        """Set many entries."""
        live, _ = self._live()
        now = self._now()
        for k, v in entries.items():
            live[k] = (v, now)
        self._store(live)

    def remove(self, key: Any) -> None:
        """Delete one entry."""
        live, _ = self._live()
        if key in live:
            del live[key]
            self._store(live)

    def contains(self, key: Any) -> bool:
        """Whether an entry is visible."""
        return key in self._live()[1]

    def items(self):
        """All visible entries."""
        live, visible = self._live()
        self._touch(live, list(live))
        return [(k, e[0]) for k, e in visible.items()]

    def keys(self):
        """All visible entry keys."""
        return [k for k, _ in self.items()]

    def values(self):
        """All visible entry values."""
        return [v for _, v in self.items()]

    def is_empty(self) -> bool:
        """Whether no entry is visible."""
        return not self._live()[1]


TTL_HANDLES = {
    "value": TtlValueState,
    "list": TtlListState,
    "map": TtlMapState,
    "reducing": TtlReducingState,
    "aggregating": TtlAggregatingState,
}


def drop_expired(kind: str, value: Any, ttl: int, now: int) -> Any:
    """``value`` (a wrapped table value of state ``kind``) without expired parts, or None
    when nothing is left."""
    limit = now - ttl
    if kind == "list":
        live_list = [e for e in value if e[1] > limit]
        return live_list or None
    if kind == "map":
        live_map = {k: e for k, e in value.items() if e[1] > limit}
        return live_map or None
    return value if value[1] > limit else None
