"""Keyed operators: reduce, the sum/min/max aggregations, and KeyedProcessFunction.

They run after a HASH exchange, hold the stream's key selector, and keep per-key state in
the task's keyed state backend (:class:`~headwater.runtime.state.heap.HeapKeyedStateBackend`).
Reduce and the aggregations use a backend table (a dict ``key -> running value``)
directly, so a record costs one key selector call, one dict lookup and the user's
function. Like Flink, they emit the running result for every input record::

    stream.key_by(lambda r: r[0]).reduce(lambda a, b: (a[0], a[1] + b[1]))
    stream.key_by(0).sum(1)     # ("a", 1), ("a", 2) -> ("a", 1), ("a", 3)
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Mapping
from itertools import repeat
from typing import Any

from headwater.api.functions import (
    OnTimerContext,
    ProcessContext,
    RichFunction,
    TimeDomain,
    TimerService,
)
from headwater.api.key_selectors import specialize
from headwater.clock import now_ms
from headwater.runtime.operators.base import Timestamps
from headwater.runtime.operators.side_outputs import split_side_outputs
from headwater.runtime.operators.simple import UdfOperator, not_opened
from headwater.runtime.operators.timer_service import KeyedTimerService, TimersStateMixin

_MISSING = object()


class _KeyedMixin:
    """Key selector handling and backend access shared by keyed operators."""

    keyed = True

    def _init_keyed(self, key_selector) -> None:
        if not callable(key_selector):
            raise TypeError("a keyed operator needs a callable key selector")
        self.key_selector = key_selector
        self._key_resolved = not hasattr(key_selector, "specialize")

    def _backend(self):
        backend = self.ctx.keyed_state_backend
        if backend is None:
            raise RuntimeError(f"{type(self).__name__} is keyed but its OperatorContext has "
                               "no keyed state backend")
        return backend

    def _resolve_key(self, values: list) -> None:
        self.key_selector = specialize(self.key_selector, values[0])
        self._key_resolved = True


class KeyedReduceOperator(_KeyedMixin, UdfOperator):
    """Keyed reduce: emits ``reduce(running, value)`` per record (the first record of a
    key is emitted as is)."""

    method = "reduce"
    kind = "ReduceFunction"
    #: Name of the backend table holding the running values.
    table_name = "_reduce"

    def __init__(self, function: Any, key_selector) -> None:
        super().__init__(function)
        self._init_keyed(key_selector)

    def open(self) -> None:
        """Open the function (it may use keyed state) and attach the running-value table."""
        self.backend = self._backend()
        super().open()
        self.table = self.backend.get_table(self.table_name)
        self.rich = isinstance(self.function, RichFunction)

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Reduce per key; one running result per record."""
        if not values:
            return [], timestamps
        if not self._key_resolved:
            self._resolve_key(values)
        ks, fn, table = self.key_selector, self.call, self.table
        get = table.get
        out: list = []
        append = out.append
        if self.rich:  # class-based functions may read keyed state: keep the current key
            backend = self.backend
            for v in values:
                k = ks(v)
                backend.current_key = k
                cur = get(k, _MISSING)
                if cur is not _MISSING:
                    v = fn(cur, v)
                table[k] = v
                append(v)
        else:
            for v in values:
                k = ks(v)
                cur = get(k, _MISSING)
                if cur is not _MISSING:
                    v = fn(cur, v)
                table[k] = v
                append(v)
        return out, timestamps

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        for transient in ("backend", "table"):
            state.pop(transient, None)
        return state


def _min(a, b):
    return b if b < a else a


def _max(a, b):
    return b if b > a else a


class KeyedAggregationOperator(_KeyedMixin, UdfOperator):
    """``sum``/``min``/``max``/``min_by``/``max_by`` of a field per key.

    ``position`` is a tuple/list index or a dict key / attribute name; position 0 on
    scalar records aggregates the record itself. sum/min/max emit the key's first record
    with the field replaced by the aggregate (a new tuple for tuples); min_by/max_by emit
    the whole record holding the minimum/maximum (the first one on ties).
    """

    KINDS = ("sum", "min", "max", "min_by", "max_by")
    table_name = "_aggregate"

    def __init__(self, kind: str, position: int | str, key_selector) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown aggregation {kind!r}")
        if isinstance(position, bool) or not isinstance(position, (int, str)):
            raise TypeError("position must be a field index (int) or a field name (str)")
        self.function = None
        self.call = not_opened
        self.agg_kind = kind
        self.position = position
        self._init_keyed(key_selector)

    def open(self) -> None:
        """Attach the running-value table."""
        self.backend = self._backend()
        self.table = self.backend.get_table(self.table_name)

    def close(self) -> None:
        """Nothing to release."""

    # -- field access per record shape -------------------------------------------------

    def _accessors(self, sample: Any):
        """(get field, replace field) for records shaped like ``sample``."""
        p = self.position
        if isinstance(sample, tuple) and isinstance(p, int):
            def replace(rec, x):
                return rec[:p] + (x,) + rec[p + 1:]
            return (lambda rec: rec[p]), replace
        if isinstance(sample, list) and isinstance(p, int):
            def replace_list(rec, x):
                rec = list(rec)
                rec[p] = x
                return rec
            return (lambda rec: rec[p]), replace_list
        if isinstance(sample, Mapping):
            return (lambda rec: rec[p]), (lambda rec, x: {**rec, p: x})
        if isinstance(p, str):
            def replace_attr(rec, x):
                rec = copy.copy(rec)
                setattr(rec, p, x)
                return rec
            return (lambda rec: getattr(rec, p)), replace_attr
        if p == 0:
            return (lambda rec: rec), (lambda rec, x: x)
        raise TypeError(f"cannot aggregate field {p!r} of a {type(sample).__name__}")

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Aggregate per key; one running record per record."""
        if not values:
            return [], timestamps
        if not self._key_resolved:
            self._resolve_key(values)
        kind, p = self.agg_kind, self.position
        if kind == "sum" and type(values[0]) is tuple and type(p) is int:
            return self._sum_tuples(values, p), timestamps
        ks, table = self.key_selector, self.table
        get = table.get
        field, replace = self._accessors(values[0])
        out: list = []
        append = out.append
        if kind in ("min_by", "max_by"):
            better = (lambda new, old: new < old) if kind == "min_by" else \
                (lambda new, old: new > old)
            for v in values:
                k = ks(v)
                cur = get(k, _MISSING)
                if cur is _MISSING or better(field(v), field(cur)):
                    table[k] = cur = v
                append(cur)
            return out, timestamps
        combine = {"sum": _add, "min": _min, "max": _max}[kind]
        for v in values:
            k = ks(v)
            cur = get(k, _MISSING)
            if cur is _MISSING:
                cur = v
            else:
                cur = replace(cur, combine(field(cur), field(v)))
            table[k] = cur
            append(cur)
        return out, timestamps

    def _sum_tuples(self, values: list, p: int) -> list:
        """The hot path: running sums of field ``p`` of tuple records."""
        ks, table = self.key_selector, self.table
        get = table.get
        out: list = []
        append = out.append
        if p == 1 and _is_field0(ks):
            # key_by(0).sum(1): indexing the record inline spares the key selector call
            # (~10% of this loop); otherwise the same steps as below. Pairs first:
            # unpacking a 2-tuple is cheaper than indexing it (~12% of this loop); a
            # record or running value of another length raises ValueError before anything
            # of it is stored, and the rest of the batch takes the general loop.
            try:
                for v in values:
                    k, x = v
                    cur = get(k)
                    if cur is None:
                        cur = v
                    else:
                        c0, c1 = cur
                        cur = (c0, c1 + x)
                    table[k] = cur
                    append(cur)
                return out
            except ValueError:
                values = values[len(out):]
            for v in values:
                k = v[0]
                cur = get(k)
                if cur is None:
                    cur = v
                elif len(cur) == 2:
                    cur = (cur[0], cur[1] + v[1])
                else:
                    cur = (cur[0], cur[1] + v[1], *cur[2:])
                table[k] = cur
                append(cur)
            return out
        if p == 1:
            for v in values:
                k = ks(v)
                cur = get(k)
                if cur is not None:
                    if len(cur) == 2:
                        cur = (cur[0], cur[1] + v[1])
                    else:
                        cur = (cur[0], cur[1] + v[1], *cur[2:])
                else:
                    cur = v
                table[k] = cur
                append(cur)
            return out
        q = p + 1
        for v in values:
            k = ks(v)
            cur = get(k)
            if cur is not None:
                cur = (*cur[:p], cur[p] + v[p], *cur[q:])
            else:
                cur = v
            table[k] = cur
            append(cur)
        return out

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        for transient in ("backend", "table"):
            state.pop(transient, None)
        return state


def _is_field0(selector: Any) -> bool:
    """Whether ``selector`` is ``operator.itemgetter(0)`` (what ``key_by(0)`` makes)."""
    return type(selector) is operator.itemgetter and repr(selector) == "operator.itemgetter(0)"


def _add(a, b):
    return a + b


class _KeyedTimerService(TimerService):
    """The ``ctx.timer_service()`` of a keyed process function: timers of the current
    key, in the operator's :class:`KeyedTimerService`."""

    def __init__(self, timers: KeyedTimerService, backend: Any,
                 now: Callable[[], int]) -> None:
        self._timers = timers
        self._backend = backend
        self._now = now

    def current_processing_time(self) -> int:
        """The processing time of the operator's time service (ms)."""
        return self._now()

    def current_watermark(self) -> int:
        """The operator's current watermark."""
        return self._timers.current_watermark

    def register_event_time_timer(self, timestamp: int) -> None:
        """Call ``on_timer`` once the watermark reaches ``timestamp``."""
        self._timers.register_event_time_timer(self._backend.current_key, None, int(timestamp))

    def register_processing_time_timer(self, timestamp: int) -> None:
        """Call ``on_timer`` once processing time reaches ``timestamp``."""
        self._timers.register_processing_time_timer(self._backend.current_key, None,
                                                    int(timestamp))

    def delete_event_time_timer(self, timestamp: int) -> None:
        """Forget the current key's event-time timer at ``timestamp``."""
        self._timers.delete_event_time_timer(self._backend.current_key, None, int(timestamp))

    def delete_processing_time_timer(self, timestamp: int) -> None:
        """Forget the current key's processing-time timer at ``timestamp``."""
        self._timers.delete_processing_time_timer(self._backend.current_key, None,
                                                  int(timestamp))


class KeyedProcessOperator(TimersStateMixin, _KeyedMixin, UdfOperator):
    """``KeyedProcessFunction.process_element(value, ctx)`` with the current key set on
    the backend and on ``ctx`` (``ctx.get_current_key()``), keyed state, timers
    (``on_timer``) and side outputs (``yield output_tag, value``).

    Event-time timers fire in ``process_watermark`` (their outputs carry the timer's
    time); processing-time timers fire from the task's processing-time service and their
    outputs (without timestamps, as in Flink) go down the chain through
    ``ctx.emit_records``.
    """

    method = "process_element"
    kind = "KeyedProcessFunction"

    def __init__(self, function: Any, key_selector) -> None:
        super().__init__(function)
        self._init_keyed(key_selector)

    def setup(self, ctx) -> None:
        """Attach the context and create the timer service (before any restore)."""
        super().setup(ctx)
        self.timers = KeyedTimerService(self._on_event_time, self._on_processing_time,
                                        ctx.processing_time_service,
                                        self._emit_processing_output)
        self._timer_out: list = []
        self._timer_ts: list = []

    def open(self) -> None:
        """Attach the task's keyed state backend before the function opens."""
        self.backend = self._backend()
        super().open()
        pts = self.ctx.processing_time_service
        now = pts.current_processing_time if pts is not None else now_ms
        service = _KeyedTimerService(self.timers, self.backend, now)
        self.process_ctx = ProcessContext(service)
        self.timer_ctx = OnTimerContext(service)
        self.on_timer = getattr(self.function, "on_timer", None)

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Call process_element per record with its key set."""
        if not values:
            return [], timestamps
        if not self._key_resolved:
            self._resolve_key(values)
        ks, fn, ctx, backend = self.key_selector, self.call, self.process_ctx, self.backend
        out: list = []
        extend = out.extend
        if timestamps is None:
            ctx._timestamp = None
            for v in values:
                k = ks(v)
                backend.current_key = k
                ctx._key = k
                r = fn(v, ctx)
                if r is not None:
                    extend(r)
            return split_side_outputs(out, None, self.ctx.emit_side_output)
        out_ts: list = []
        extend_ts = out_ts.extend
        for v, t in zip(values, timestamps, strict=True):
            k = ks(v)
            backend.current_key = k
            ctx._key = k
            ctx._timestamp = t
            r = fn(v, ctx)
            if r is not None:
                n = len(out)
                extend(r)
                extend_ts(repeat(t, len(out) - n))
        return split_side_outputs(out, out_ts, self.ctx.emit_side_output)

    # -- timers -------------------------------------------------------------------------

    def _fire(self, key: Any, time: int, domain: TimeDomain) -> None:
        if self.on_timer is None:
            return
        self.backend.current_key = key
        ctx = self.timer_ctx
        ctx._key = key
        ctx._timestamp = time
        ctx._time_domain = domain
        r = self.on_timer(time, ctx)
        if r is not None:
            out = self._timer_out
            n = len(out)
            out.extend(r)
            self._timer_ts.extend(repeat(time, len(out) - n))

    def _on_event_time(self, key: Any, namespace: Any, time: int) -> None:
        self._fire(key, time, TimeDomain.EVENT_TIME)

    def _on_processing_time(self, key: Any, namespace: Any, time: int) -> None:
        self._fire(key, time, TimeDomain.PROCESSING_TIME)

    def _take_timer_output(self, with_timestamps: bool) -> tuple[list, Timestamps]:
        out, out_ts = self._timer_out, self._timer_ts
        self._timer_out, self._timer_ts = [], []
        if not out:
            return [], None
        return split_side_outputs(out, out_ts if with_timestamps else None,
                                  self.ctx.emit_side_output)

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """Fire event-time timers up to ``watermark``; their outputs carry the timer
        time as timestamp."""
        self.timers.advance_watermark(watermark)
        return self._take_timer_output(True)

    def _emit_processing_output(self) -> None:
        values, _ = self._take_timer_output(False)
        if values:
            emit = self.ctx.emit_records
            if emit is None:
                raise RuntimeError("this runtime cannot emit records from timers "
                                   "(OperatorContext.emit_records is missing)")
            emit(values, None)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        for transient in ("backend", "process_ctx", "timer_ctx", "on_timer", "timers",
                          "_timer_out", "_timer_ts"):
            state.pop(transient, None)
        return state
