"""Operator (non-keyed) state of user functions and how operators checkpoint it.

:class:`HeapOperatorStateStore` holds the list states a ``CheckpointedFunction`` registers
and the broadcast states of a broadcast process operator; its snapshot is the operator
contract's ``{name: ("split"|"union", items)}``, and ``{name: ("broadcast", [entries])}``
for a broadcast state (one dict, the same on every subtask).
:class:`FunctionStateBinding` is what an operator around a user function delegates its
``initialize_state``/``snapshot_state``/``notify_checkpoint_*`` calls to::

    binding = FunctionStateBinding(function, ctx)
    binding.initialize(restored_state_or_None)   # before open()
    binding.snapshot(checkpoint_id)               # -> OperatorStateSnapshot or None
    binding.notify_complete(checkpoint_id)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from headwater.api.checkpointing import (
    CheckpointedFunction,
    FunctionInitializationContext,
    FunctionSnapshotContext,
    OperatorStateStore,
)
from headwater.api.state import ListState, ListStateDescriptor


class OperatorListState(ListState):
    """A non-keyed list state (all of the subtask's elements)."""

    __slots__ = ("name", "mode", "items")

    def __init__(self, name: str, mode: str, items: list | None = None) -> None:
        self.name = name
        self.mode = mode
        self.items: list = items if items is not None else []

    def get(self) -> list[Any]:
        """The elements."""
        return self.items

    def add(self, value: Any) -> None:
        """Append an element (None is not allowed, as in Flink)."""
        if value is None:
            raise ValueError("You cannot add null to a ListState.")
        self.items.append(value)

    def add_all(self, values: Iterable[Any]) -> None:
        """Append elements."""
        for v in values:
            self.add(v)

    def update(self, values: Iterable[Any]) -> None:
        """Replace the elements."""
        self.items = []
        self.add_all(values)

    def clear(self) -> None:
        """Remove all elements."""
        self.items = []


class HeapOperatorStateStore(OperatorStateStore):
    """Operator list states of one operator of one subtask."""

    def __init__(self, restored: dict[str, tuple[str, Any]] | None = None) -> None:
        self._restored = dict(restored or {})
        self.states: dict[str, OperatorListState] = {}
        #: Broadcast states: name -> entries.
        self.broadcast_states: dict[str, dict[Any, Any]] = {}

    def _get(self, descriptor: Any, mode: str) -> OperatorListState:
        name = descriptor if isinstance(descriptor, str) else descriptor.name
        state = self.states.get(name)
        if state is not None:
            if state.mode != mode:
                raise ValueError(f"operator state {name!r} is already registered with "
                                 f"mode {state.mode!r}")
            return state
        items: list = []
        if name in self._restored:
            old_mode, old_items = self._restored.pop(name)
            if old_mode != mode:
                raise ValueError(f"operator state {name!r} was checkpointed as "
                                 f"{old_mode!r} state, now asked for as {mode!r} state")
            items = list(old_items)
        state = self.states[name] = OperatorListState(name, mode, items)
        return state

    def get_list_state(self, state_descriptor: ListStateDescriptor) -> OperatorListState:
        """A list state redistributed by even split when rescaling."""
        return self._get(state_descriptor, "split")

    def get_union_list_state(self, state_descriptor: ListStateDescriptor
                             ) -> OperatorListState:
        """A list state every subtask gets completely when rescaling."""
        return self._get(state_descriptor, "union")

    def get_broadcast_entries(self, name: str) -> dict[Any, Any]:
        """The entries of broadcast state ``name`` (restored, else empty), the live dict."""
        entries = self.broadcast_states.get(name)
        if entries is not None:
            return entries
        if name in self.states:
            raise ValueError(f"operator state {name!r} is already registered as list state")
        entries = {}
        if name in self._restored:
            old_mode, old_items = self._restored.pop(name)
            if old_mode != "broadcast":
                raise ValueError(f"operator state {name!r} was checkpointed as "
                                 f"{old_mode!r} state, now asked for as broadcast state")
            for copy in old_items:
                entries.update(copy)
        self.broadcast_states[name] = entries
        return entries

    def get_registered_state_names(self) -> set[str]:
        """Names of the states registered so far."""
        return set(self.states) | set(self.broadcast_states)

    def snapshot(self) -> dict[str, tuple[str, list]]:
        """``{name: (mode, items)}`` of every registered state (copies of the lists), plus
        restored states nobody asked for, so they survive the next checkpoint."""
        out: dict[str, tuple[str, list]] = {
            name: (mode, list(items)) for name, (mode, items) in self._restored.items()}
        for name, state in self.states.items():
            out[name] = (state.mode, list(state.items))
        for name, entries in self.broadcast_states.items():
            out[name] = ("broadcast", [dict(entries)])
        return out


class FunctionStateBinding:
    """Connects a user function's CheckpointedFunction/CheckpointListener methods to the
    operator contract."""

    def __init__(self, function: Any, ctx: Any = None) -> None:
        self.function = function
        self.ctx = ctx
        self.store: HeapOperatorStateStore | None = None
        self.initialized = False

    @property
    def checkpointed(self) -> bool:
        """Whether the function keeps operator state."""
        return isinstance(self.function, CheckpointedFunction)

    def initialize(self, state: dict[str, tuple[str, Any]] | None) -> None:
        """Fill the store from ``state`` (None: fresh start) and call the function's
        ``initialize_state``."""
        self.initialized = True
        if not self.checkpointed:
            return
        self.store = HeapOperatorStateStore(state)
        keyed = getattr(self.ctx, "keyed_state_backend", None) if self.ctx else None
        self.function.initialize_state(
            FunctionInitializationContext(self.store, state is not None, keyed))

    def snapshot(self, checkpoint_id: int, timestamp: int | None = None
                 ) -> dict[str, tuple[str, Any]] | None:
        """The function's operator state for a checkpoint (None if it has none)."""
        if not self.checkpointed:
            return None
        if self.store is None:
            self.initialize(None)
        self.function.snapshot_state(FunctionSnapshotContext(checkpoint_id, timestamp))
        store = self.store
        if store is None:
            raise RuntimeError("initialize() created no operator state store")
        return store.snapshot()

    def notify_complete(self, checkpoint_id: int) -> None:
        """Forward to the function's ``notify_checkpoint_complete``, if it has one."""
        notify = getattr(self.function, "notify_checkpoint_complete", None)
        if callable(notify):
            notify(checkpoint_id)

    def notify_aborted(self, checkpoint_id: int) -> None:
        """Forward to the function's ``notify_checkpoint_aborted``, if it has one."""
        notify = getattr(self.function, "notify_checkpoint_aborted", None)
        if callable(notify):
            notify(checkpoint_id)
