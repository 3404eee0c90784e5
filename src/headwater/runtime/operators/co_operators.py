"""Two-input operators: co-map, co-flat-map, co-process (keyed or not) and broadcast
process operators (see :mod:`headwater.api.connected` for why they run as one-input
operators over tagged records).

Every input record is ``(side, value)``: side 0 is the first input (the non-broadcast
stream of a broadcast connection), side 1 the second (the broadcast stream). The record
writers of the upstream tasks tag them, so each operator here dispatches per record::

    >>> op = CoOperator(MyCoMap(), "map")
    >>> op.setup(ctx); op.open()                                 # doctest: +SKIP
    >>> op.process_batch([(0, 1), (1, "a")], None)               # doctest: +SKIP
    ([map1(1), map2("a")], None)

Keyed variants set the current key from the side's own key selector before each call,
so both sides share keyed state and timers. Broadcast operators keep one dict per
broadcast state descriptor, checkpointed as operator state of mode "broadcast".
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

from headwater.api.connected import (
    CO_METHODS,
    BroadcastContext,
    BroadcastOnTimerContext,
    BroadcastReadOnlyContext,
    CoOnTimerContext,
    CoProcessContext,
)
from headwater.api.functions import TimeDomain, TimerService
from headwater.api.key_selectors import specialize
from headwater.api.state import MapStateDescriptor, StateDescriptor
from headwater.runtime.operators.base import OperatorStateSnapshot, Timestamps
from headwater.runtime.operators.keyed import KeyedProcessOperator
from headwater.runtime.operators.side_outputs import split_side_outputs
from headwater.runtime.operators.simple import UdfOperator
from headwater.runtime.state.operator_state import HeapOperatorStateStore


def _specialized(selectors: list[Any], side: int, value: Any) -> Any:
    ks = selectors[side]
    if hasattr(ks, "specialize"):
        ks = selectors[side] = specialize(ks, value)
    return ks


class _CoDispatch:
    """The per-record loop of co-map/co-flat-map/co-process, keyed or not."""

    co_kind: str
    calls: tuple[Any, Any]
    process_ctx: Any
    ctx: Any
    #: Keyed operators: [key selector 1, key selector 2] and the keyed backend.
    key_selectors: list[Any] | None = None
    backend: Any = None

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Call the side's method for every ``(side, value)`` record."""
        out: list = []
        out_ts: list | None = None if timestamps is None else []
        calls, kind, ctx = self.calls, self.co_kind, self.process_ctx
        selectors, backend = self.key_selectors, self.backend
        ctx._out = out
        try:
            for i, (side, v) in enumerate(values):
                n = len(out)
                if selectors is not None:
                    k = _specialized(selectors, side, v)(v)
                    backend.current_key = k
                    ctx._key = k
                if kind == "map":
                    out.append(calls[side](v))
                elif kind == "flat_map":
                    r = calls[side](v)
                    if r is not None:
                        out.extend(r)
                else:
                    ctx._timestamp = None if timestamps is None else timestamps[i]
                    r = calls[side](v, ctx)
                    if r is not None:
                        out.extend(r)
                if out_ts is not None and timestamps is not None:
                    out_ts.extend(repeat(timestamps[i], len(out) - n))
        finally:
            ctx._out = None
        if kind != "process":
            return out, out_ts
        return split_side_outputs(out, out_ts, self.ctx.emit_side_output)


class CoOperator(_CoDispatch, UdfOperator):
    """Co-map, co-flat-map or co-process over non-keyed inputs (``co_kind`` "map",
    "flat_map" or "process"); timers need keyed inputs, as in Flink."""

    def __init__(self, function: Any, co_kind: str) -> None:
        cls, self.method, self.method2 = CO_METHODS[co_kind]
        self.kind = cls.__name__
        self.co_kind = co_kind
        super().__init__(function)

    def open(self) -> None:
        """Open the function and bind both methods."""
        super().open()
        self.calls = (self.call, getattr(self.function, self.method2))
        self.process_ctx = CoProcessContext()

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """Remember the watermark for ``ctx.timer_service().current_watermark()``."""
        self.process_ctx.timer_service().watermark = watermark
        return [], None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        for transient in ("calls", "process_ctx"):
            state.pop(transient, None)
        return state


class _KeyedTimersOutput:
    """Event- and processing-time timers whose ``on_timer`` may also ``ctx.output``."""

    on_timer: Any
    timer_ctx: Any
    backend: Any
    _timer_out: list
    _timer_ts: list

    def _fire(self, key: Any, time: int, domain: TimeDomain) -> None:
        if self.on_timer is None:
            return
        self.backend.current_key = key
        ctx = self.timer_ctx
        ctx._key = key
        ctx._timestamp = time
        ctx._time_domain = domain
        out = self._timer_out
        n = len(out)
        ctx._out = out
        try:
            r = self.on_timer(time, ctx)
            if r is not None:
                out.extend(r)
        finally:
            ctx._out = None
        self._timer_ts.extend(repeat(time, len(out) - n))


class KeyedCoOperator(_KeyedTimersOutput, _CoDispatch, KeyedProcessOperator):
    """Co-map, co-flat-map or co-process over keyed inputs: each side's key selector
    sets the current key, so keyed state and timers (``on_timer`` of a
    KeyedCoProcessFunction) are shared by both sides."""

    def __init__(self, function: Any, co_kind: str, key_selectors: tuple[Any, Any]) -> None:
        cls, self.method, self.method2 = CO_METHODS[co_kind]
        self.kind = cls.__name__
        self.co_kind = co_kind
        super().__init__(function, key_selectors[0])
        if not callable(key_selectors[1]):
            raise TypeError("a keyed operator needs a callable key selector")
        self.key_selectors = list(key_selectors)

    def open(self) -> None:
        """Open the function, bind both methods and create the contexts."""
        super().open()
        self.calls = (self.call, getattr(self.function, self.method2))
        service = self.process_ctx.timer_service()
        self.process_ctx = CoProcessContext(service)
        self.timer_ctx = CoOnTimerContext(service)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("calls", None)
        return state


class _BroadcastStateMixin:
    """The broadcast states of a broadcast process operator: one dict per descriptor,
    restored and snapshot through a :class:`HeapOperatorStateStore` (mode
    "broadcast")."""

    descriptors: list[MapStateDescriptor]
    broadcast_store: HeapOperatorStateStore

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Take the broadcast states out of ``state``, restore the rest as usual."""
        state = dict(state or {})
        restored = {name: state.pop(name) for name, (mode, _) in list(state.items())
                    if mode == "broadcast"}
        self.broadcast_store = HeapOperatorStateStore(restored)
        for d in self.descriptors:
            self.broadcast_store.get_broadcast_entries(d.name)
        super().initialize_state(state or None)  # type: ignore[misc]

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot | None:
        """The operator state of the base class plus every broadcast state."""
        state = super().snapshot_state(checkpoint_id)  # type: ignore[misc]
        store = getattr(self, "broadcast_store", None)
        if store is None:
            return state
        return {**(state or {}), **store.snapshot()}

    def _broadcast_entries(self, descriptor: MapStateDescriptor) -> dict[Any, Any]:
        if not any(d.name == descriptor.name for d in self.descriptors):
            names = [d.name for d in self.descriptors]
            raise ValueError(f"no broadcast state {descriptor.name!r}: the BroadcastStream "
                             f"was created with {names}")
        return self.broadcast_store.get_broadcast_entries(descriptor.name)


def _processing_time_service(pts: Any) -> TimerService:
    service = TimerService()
    if pts is not None:
        service.current_processing_time = pts.current_processing_time  # type: ignore[method-assign]
    return service


def _call_broadcast(fn: Any, ctx: Any, values: list, timestamps: Timestamps, i: int,
                    v: Any, out: list, out_ts: list | None) -> None:
    n = len(out)
    ctx._timestamp = None if timestamps is None else timestamps[i]
    r = fn(v, ctx)
    if r is not None:
        out.extend(r)
    if out_ts is not None and timestamps is not None:
        out_ts.extend(repeat(timestamps[i], len(out) - n))


class BroadcastProcessOperator(_BroadcastStateMixin, UdfOperator):
    """A BroadcastProcessFunction: side 0 records go to ``process_element`` with the
    broadcast states read-only, side 1 (broadcast) records to
    ``process_broadcast_element``, which may change them."""

    method = "process_element"
    kind = "BroadcastProcessFunction"

    def __init__(self, function: Any, descriptors: list[MapStateDescriptor]) -> None:
        super().__init__(function)
        self.descriptors = list(descriptors)

    def open(self) -> None:
        """Open the function and create its contexts."""
        super().open()
        self.process_broadcast = self.function.process_broadcast_element
        self.time = _processing_time_service(self.ctx.processing_time_service)
        self.read_only_ctx = BroadcastReadOnlyContext(self._broadcast_entries, self.time,
                                                      writable=False)
        self.broadcast_ctx = BroadcastContext(self._broadcast_entries, self.time)

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Dispatch every ``(side, value)`` record."""
        out: list = []
        out_ts: list | None = None if timestamps is None else []
        ro, bc = self.read_only_ctx, self.broadcast_ctx
        ro._out = bc._out = out
        try:
            for i, (side, v) in enumerate(values):
                if side == 0:
                    _call_broadcast(self.call, ro, values, timestamps, i, v, out, out_ts)
                else:
                    _call_broadcast(self.process_broadcast, bc, values, timestamps, i, v,
                                    out, out_ts)
        finally:
            ro._out = bc._out = None
        return split_side_outputs(out, out_ts, self.ctx.emit_side_output)

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """Remember the watermark for ``ctx.current_watermark()``."""
        self.time.watermark = watermark
        return [], None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        for transient in ("process_broadcast", "time", "read_only_ctx", "broadcast_ctx",
                          "broadcast_store"):
            state.pop(transient, None)
        return state


class KeyedBroadcastProcessOperator(_KeyedTimersOutput, _BroadcastStateMixin,
                                    KeyedProcessOperator):
    """A KeyedBroadcastProcessFunction: side 0 records (hash partitioned by
    ``key_selector``) go to ``process_element`` with their key set (keyed state, timers,
    read-only broadcast states); side 1 (broadcast) records go to
    ``process_broadcast_element`` without a key, which may change the broadcast states
    and visit every key's state with ``ctx.apply_to_keyed_state``."""

    method = "process_element"
    kind = "KeyedBroadcastProcessFunction"

    def __init__(self, function: Any, descriptors: list[MapStateDescriptor],
                 key_selector: Any) -> None:
        super().__init__(function, key_selector)
        self.descriptors = list(descriptors)

    def open(self) -> None:
        """Open the function and create its contexts."""
        super().open()
        self.process_broadcast = self.function.process_broadcast_element
        service = self.process_ctx.timer_service()
        self.read_only_ctx = BroadcastReadOnlyContext(self._broadcast_entries, service,
                                                      writable=False)
        self.broadcast_ctx = BroadcastContext(self._broadcast_entries, service,
                                              self._apply_to_keyed_state)
        self.timer_ctx = BroadcastOnTimerContext(self._broadcast_entries, service)

    def _apply_to_keyed_state(self, descriptor: StateDescriptor, function: Any) -> None:
        backend = self.backend
        state = backend.get_state(descriptor)
        previous = backend.current_key
        try:
            for key in list(backend.keys(descriptor.name)):
                backend.current_key = key
                function(key, state)
        finally:
            backend.current_key = previous

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Dispatch every ``(side, value)`` record; side 0 with its key set."""
        out: list = []
        out_ts: list | None = None if timestamps is None else []
        ro, bc, backend = self.read_only_ctx, self.broadcast_ctx, self.backend
        ro._out = bc._out = out
        try:
            for i, (side, v) in enumerate(values):
                if side == 0:
                    if not self._key_resolved:
                        self._resolve_key([v])
                    k = self.key_selector(v)
                    backend.current_key = k
                    ro._key = k
                    _call_broadcast(self.call, ro, values, timestamps, i, v, out, out_ts)
                else:
                    _call_broadcast(self.process_broadcast, bc, values, timestamps, i, v,
                                    out, out_ts)
        finally:
            ro._out = bc._out = None
        return split_side_outputs(out, out_ts, self.ctx.emit_side_output)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        for transient in ("process_broadcast", "read_only_ctx", "broadcast_ctx",
                          "broadcast_store"):
            state.pop(transient, None)
        return state
