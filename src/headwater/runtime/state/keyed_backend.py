"""What the keyed state backends share: the current key, the registry of state names and
kinds, the cache of state handles and the walk over the key groups of a snapshot.

:class:`~headwater.runtime.state.heap.HeapKeyedStateBackend` and
:class:`~headwater.runtime.state.rocksdb.RocksDBKeyedStateBackend` derive from
:class:`KeyedBackendBase`; each keeps its own tables (``get_table``) and snapshot format
details.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from headwater.runtime.state.handles import make_handle
from headwater.runtime.state.key_groups import KeyGroupRange, as_key_group_range
from headwater.runtime.state.ttl import processing_time_ms

#: A snapshot: key group -> state name -> key -> value.
KeyedSnapshot = dict[int, dict[str, dict[Any, Any]]]


class KeyedBackendBase:
    """Keyed state of one subtask: the parts every backend has alike."""

    #: Handle classes by state kind for states without TTL (set by each backend).
    HANDLES: Mapping[str, type] = {}

    def __init__(self, max_parallelism: int, key_group_range: KeyGroupRange | Iterable[int]
                 ) -> None:
        self.max_parallelism = max_parallelism
        self.key_group_range = as_key_group_range(key_group_range)
        #: The key whose state user code currently sees.
        self.current_key: Any = None
        self._kinds: dict[str, str] = {}
        self._handles: dict[str, Any] = {}
        #: State name -> TTL in ms, for states registered with TTL.
        self._ttl: dict[str, int] = {}
        #: Processing-time clock of TTL (ms); replaceable in tests.
        self.ttl_clock = processing_time_ms

    def set_current_key(self, key: Any) -> None:
        """Select the key that state handles read and write."""
        self.current_key = key

    def get_current_key(self) -> Any:
        """The key selected last."""
        return self.current_key

    def get_table(self, name: str, kind: str = "value") -> Any:
        """The table ``key -> value`` of state ``name`` (created on first use)."""
        raise NotImplementedError

    def _register_kind(self, name: str, kind: str) -> None:
        """Record that state ``name`` is of ``kind``; ValueError if it was registered as
        another kind."""
        known = self._kinds.get(name)
        if known is None:
            self._kinds[name] = kind
        elif known != kind:
            raise ValueError(f"state {name!r} is already registered as {known} state, "
                             f"not {kind} state")

    def get_state(self, descriptor: Any) -> Any:
        """A state handle for ``descriptor`` (the same handle for the same name)."""
        handle = self._handles.get(descriptor.name)
        if handle is not None:
            if handle.descriptor.kind != descriptor.kind:
                raise ValueError(f"state {descriptor.name!r} is already registered as "
                                 f"{handle.descriptor.kind} state")
            return handle
        handle = make_handle(self, descriptor, self.get_table(descriptor.name, descriptor.kind),
                             self.HANDLES)
        ttl = getattr(descriptor, "get_ttl_config", lambda: None)()
        if ttl is not None and ttl.is_enabled():
            self._ttl[descriptor.name] = ttl.ttl
        self._handles[descriptor.name] = handle
        return handle

    def _owned_groups(self, snapshots: Mapping[int, Mapping[str, Mapping[Any, Any]]]
                      | Iterable[Mapping[int, Mapping[str, Mapping[Any, Any]]]]
                      ) -> Iterator[tuple[int, Mapping[str, Mapping[Any, Any]]]]:
        """``(key group, {state name: {key: value}})`` of one snapshot or many, for the key
        groups in this backend's range."""
        if isinstance(snapshots, Mapping):
            snapshots = [snapshots]
        rng = self.key_group_range
        for snap in snapshots:
            for kg, per_state in snap.items():
                if kg in rng:
                    yield kg, per_state

    def _forget_states(self) -> None:
        """Drop the registry of states and their handles (part of ``dispose``)."""
        self._kinds.clear()
        self._handles.clear()
        self._ttl.clear()
