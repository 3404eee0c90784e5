"""The window operator (Flink's WindowOperator): keyed windows, triggers, lateness.

Per key, window contents live in the keyed state backend table ``_window_contents``
(``key -> {state window: contents}``), merging (session) windows in ``_window_merging``
(``key -> {window: state window}``) and trigger state in ``_window_trigger_state``
(``key -> {(window, state name): value}``), so snapshots split them by key group like
any keyed state. Timers are ``(key, window, time)`` in a :class:`KeyedTimerService`.

Contents depend on the window function: a running value for ``reduce``, an accumulator
for ``aggregate``, the list of records for ``process``/``apply``.

A batch is grouped by (key, window) first; with the built-in time triggers (whose
``on_element`` does not look at the record) the trigger runs once per group and the
records are added in one go, so a record costs a key selector call, the window
arithmetic and the user's reduce/add::

    op = WindowOperator(TumblingEventTimeWindows.of(10), key_selector=lambda r: r[0],
                        contents=ReduceContents(lambda a, b: (a[0], a[1] + b[1])))
    op.process_batch([("a", 1), ("a", 2)], [3, 7])     # -> ([], [])
    op.process_watermark(9)                            # -> ([("a", 3)], [9])

Late records (every window already past ``max_timestamp + allowed_lateness``) go to the
late-data side output when one is set, else they are dropped and counted in
``num_late_records_dropped`` (Flink's ``numLateRecordsDropped``).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

from headwater.api.functions import (
    ProcessWindowContext,
    ProcessWindowFunction,
    RichFunction,
    RuntimeContext,
    WindowFunction,
    resolve_function,
)
from headwater.api.windowing import (
    EventTimeSessionWindows,
    MergingWindowAssigner,
    ProcessingTimeSessionWindows,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TimeWindow,
    TriggerContext,
    TriggerResult,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WindowAssignerContext,
)
from headwater.clock import now_ms
from headwater.runtime.operators.base import StreamOperator, Timestamps
from headwater.runtime.operators.keyed import _KeyedMixin
from headwater.runtime.operators.side_outputs import split_side_outputs
from headwater.runtime.operators.timer_service import KeyedTimerService, TimersStateMixin

MAX_TIMESTAMP = 2**63 - 1
_MISSING = object()
_CONTINUE = TriggerResult.CONTINUE


# -- window contents ----------------------------------------------------------------------


class ReduceContents:
    """Contents = the running ``reduce`` of the window's records."""

    def __init__(self, reduce_function: Any) -> None:
        resolve_function(reduce_function, "reduce", "ReduceFunction")
        self.function = reduce_function

    def open(self, runtime_context: RuntimeContext) -> None:
        """Open the function and bind ``reduce``."""
        if isinstance(self.function, RichFunction):
            self.function.open(runtime_context)
        self.reduce = resolve_function(self.function, "reduce", "ReduceFunction")

    def close(self) -> None:
        """Close the function."""
        if isinstance(self.function, RichFunction):
            self.function.close()

    def add_all(self, acc: Any, values: list) -> Any:
        """``acc`` (or _MISSING) with ``values`` reduced in."""
        reduce = self.reduce
        it = iter(values)
        if acc is _MISSING:
            acc = next(it)
        for v in it:
            acc = reduce(acc, v)
        return acc

    def merge(self, a: Any, b: Any) -> Any:
        """Two windows' contents combined."""
        return self.reduce(a, b)

    def result(self, acc: Any) -> list:
        """What the window function sees."""
        return [acc]

    def __getstate__(self):
        return {"function": self.function}


class AggregateContents:
    """Contents = an AggregateFunction's accumulator."""

    def __init__(self, aggregate_function: Any) -> None:
        for method in ("create_accumulator", "add", "get_result"):
            if not callable(getattr(aggregate_function, method, None)):
                raise TypeError(f"an AggregateFunction needs {method}()")
        self.function = aggregate_function

    def open(self, runtime_context: RuntimeContext) -> None:
        """Open the function."""
        if isinstance(self.function, RichFunction):
            self.function.open(runtime_context)

    def close(self) -> None:
        """Close the function."""
        if isinstance(self.function, RichFunction):
            self.function.close()

    def add_all(self, acc: Any, values: list) -> Any:
        """The accumulator with ``values`` added."""
        fn = self.function
        if acc is _MISSING:
            acc = fn.create_accumulator()
        add = fn.add
        for v in values:
            acc = add(v, acc)
        return acc

    def merge(self, a: Any, b: Any) -> Any:
        """Two accumulators combined."""
        return self.function.merge(a, b)

    def result(self, acc: Any) -> list:
        """``[get_result(acc)]``."""
        return [self.function.get_result(acc)]


class ListContents:
    """Contents = the window's records."""

    def open(self, runtime_context: RuntimeContext) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to close."""

    def add_all(self, acc: Any, values: list) -> list:
        """The list with ``values`` appended."""
        if acc is _MISSING:
            return list(values)
        acc.extend(values)
        return acc

    def merge(self, a: list, b: list) -> list:
        """Both lists."""
        return a + b

    def result(self, acc: list) -> list:
        """The records."""
        return acc


def _put(table: Any, key: Any, entry: dict) -> None:
    """Write a per-key dict back to its state table (dropped when empty). Tables of
    backends that serialize (RocksDB) hand out copies, so every change is written back."""
    if entry:
        table[key] = entry
    else:
        table.pop(key, None)


# -- window functions ---------------------------------------------------------------------


class _ProcessWindowContext(ProcessWindowContext):
    """The context a ProcessWindowFunction sees."""

    def __init__(self, op: WindowOperator) -> None:
        self._op = op
        self._window: Any = None

    def window(self) -> Any:
        """The window being evaluated."""
        return self._window

    def current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        return self._op._now()

    def current_watermark(self) -> int:
        """The operator's watermark."""
        return self._op.timers.current_watermark

    def global_state(self) -> Any:
        """Keyed state of the current key (``get_state(descriptor)``)."""
        return self._op.backend

    def window_state(self) -> Any:
        """Per-window state is not supported yet."""
        raise NotImplementedError("per-window state is not supported yet; use global_state()")


class WindowFunctionAdapter:
    """Calls the user's window function in one shape: ``evaluate(key, window, inputs)``.

    ``kind`` is "pass" (reduce/aggregate without window function: emit the result),
    "apply" (WindowFunction or callable ``(key, window, inputs)``) or "process"
    (ProcessWindowFunction or callable ``(key, context, elements)``).
    """

    def __init__(self, function: Any = None, kind: str | None = None) -> None:
        if function is None:
            kind = "pass"
        elif kind is None:
            if isinstance(function, ProcessWindowFunction):
                kind = "process"
            elif isinstance(function, WindowFunction) or callable(function):
                kind = "apply"
            else:
                raise TypeError("expected a WindowFunction, a ProcessWindowFunction or a "
                                f"callable, got {type(function).__name__}")
        if kind == "process" and not isinstance(function, ProcessWindowFunction) \
                and not callable(function):
            raise TypeError("expected a ProcessWindowFunction or a callable")
        self.function = function
        self.kind = kind

    def open(self, runtime_context: RuntimeContext, op: WindowOperator) -> None:
        """Open the function and bind its method."""
        fn = self.function
        if isinstance(fn, RichFunction):
            fn.open(runtime_context)
        self.context = _ProcessWindowContext(op)
        if self.kind == "process":
            self.call = fn.process if isinstance(fn, ProcessWindowFunction) else fn
        elif self.kind == "apply":
            self.call = fn.apply if isinstance(fn, WindowFunction) else fn
        else:
            self.call = None

    def close(self) -> None:
        """Close the function."""
        if isinstance(self.function, RichFunction):
            self.function.close()

    def evaluate(self, key: Any, window: Any, inputs: list):
        """The outputs for a fired window (an iterable, or None)."""
        if self.kind == "pass":
            return inputs
        if self.kind == "apply":
            return self.call(key, window, inputs)
        ctx = self.context
        ctx._window = window
        return self.call(key, ctx, inputs)

    def clear(self, window: Any) -> None:
        """The window is gone for good: ProcessWindowFunction.clear(context)."""
        if self.kind == "process" and isinstance(self.function, ProcessWindowFunction):
            self.context._window = window
            self.function.clear(self.context)

    def __getstate__(self):
        return {"function": self.function, "kind": self.kind}


# -- trigger context ----------------------------------------------------------------------


class _WindowScopedState:
    """Trigger state of one (key, window) and name, over the trigger-state table."""

    def __init__(self, ctx: _TriggerContext, descriptor: Any) -> None:
        self.ctx = ctx
        self.name = descriptor.name
        self.default = getattr(descriptor, "default_value", None)
        self.reduce_function = getattr(descriptor, "reduce_function", None)

    def _map(self, create: bool = False) -> dict | None:
        m = self.ctx.op.trigger_state.get(self.ctx.key)
        if m is None and create:
            m = {}
        return m

    def _store(self, m: dict) -> None:
        _put(self.ctx.op.trigger_state, self.ctx.key, m)

    def _get(self, window: Any = None) -> Any:
        m = self._map()
        if m is None:
            return None
        return m.get((self.ctx.window if window is None else window, self.name))

    def value(self) -> Any:
        """ValueState: the value (or the descriptor's default)."""
        v = self._get()
        return self.default if v is None else v

    def get(self) -> Any:
        """ReducingState/ListState: the value."""
        return self._get()

    def update(self, value: Any) -> None:
        """ValueState: set the value."""
        if value is None:
            self.clear()
        else:
            m = self._map(True)
            m[(self.ctx.window, self.name)] = value
            self._store(m)

    def add(self, value: Any) -> None:
        """ReducingState: combine a value in (ListState: append)."""
        m = self._map(True)
        k = (self.ctx.window, self.name)
        cur = m.get(k)
        if self.reduce_function is not None:
            m[k] = value if cur is None else self.reduce_function(cur, value)
        elif cur is None:
            m[k] = [value]
        else:
            cur.append(value)
        self._store(m)

    def clear(self) -> None:
        """Remove the value."""
        m = self._map()
        if m is not None and m.pop((self.ctx.window, self.name), _MISSING) is not _MISSING:
            self._store(m)


class _TriggerContext(TriggerContext):
    """TriggerContext (and OnMergeContext) of the window operator: the current key and
    window are set by the operator before each trigger call."""

    def __init__(self, op: WindowOperator) -> None:
        self.op = op
        self.key: Any = None
        self.window: Any = None
        self.merged_windows: list = []
        self._states: dict[str, _WindowScopedState] = {}

    def get_current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        return self.op._now()

    def get_current_watermark(self) -> int:
        """The operator's watermark."""
        return self.op.timers.current_watermark

    def register_processing_time_timer(self, time: int) -> None:
        """A processing-time timer for the current key and window."""
        self.op.timers.register_processing_time_timer(self.key, self.window, time)

    def register_event_time_timer(self, time: int) -> None:
        """An event-time timer for the current key and window."""
        self.op.timers.register_event_time_timer(self.key, self.window, time)

    def delete_processing_time_timer(self, time: int) -> None:
        """Forget a processing-time timer of the current key and window."""
        self.op.timers.delete_processing_time_timer(self.key, self.window, time)

    def delete_event_time_timer(self, time: int) -> None:
        """Forget an event-time timer of the current key and window."""
        self.op.timers.delete_event_time_timer(self.key, self.window, time)

    def get_partitioned_state(self, state_descriptor: Any) -> _WindowScopedState:
        """State scoped to the current key and window."""
        state = self._states.get(state_descriptor.name)
        if state is None:
            state = self._states[state_descriptor.name] = \
                _WindowScopedState(self, state_descriptor)
        return state

    def merge_partitioned_state(self, state_descriptor: Any) -> None:
        """Fold the state of ``merged_windows`` into the current window."""
        state = self.get_partitioned_state(state_descriptor)
        m = state._map()
        if m is None:
            return
        merged = _MISSING
        for w in self.merged_windows:
            v = m.pop((w, state.name), None)
            if v is None:
                continue
            if merged is _MISSING:
                merged = v
            elif state.reduce_function is not None:
                merged = state.reduce_function(merged, v)
            elif isinstance(merged, list):
                merged = merged + v
            else:
                raise TypeError(f"state {state.name!r} cannot be merged")
        if merged is not _MISSING:
            cur = m.get((self.window, state.name))
            if cur is not None:
                merged = state.reduce_function(cur, merged) if state.reduce_function \
                    else cur + merged
            m[(self.window, state.name)] = merged
        state._store(m)


class _AssignerContext(WindowAssignerContext):
    def __init__(self, op: WindowOperator) -> None:
        self.op = op

    def get_current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        return self.op._now()


class _MergeCallback:
    """Collects ``merge(to_be_merged, result)`` calls of a merging assigner."""

    def __init__(self) -> None:
        self.results: list[tuple[Any, list]] = []

    def merge(self, to_be_merged: list, merge_result: Any) -> None:
        self.results.append((merge_result, list(to_be_merged)))


# -- the operator -------------------------------------------------------------------------


class WindowOperator(TimersStateMixin, _KeyedMixin, StreamOperator):
    """Keyed windows: assign, trigger, evaluate, clean up (see the module docstring)."""

    contents_table = "_window_contents"
    merging_table = "_window_merging"
    trigger_table = "_window_trigger_state"

    def __init__(self, assigner: Any, key_selector: Any, contents: Any,
                 window_function: WindowFunctionAdapter | None = None, trigger: Any = None,
                 allowed_lateness: int = 0, late_data_tag: Any = None) -> None:
        self._init_keyed(key_selector)
        if allowed_lateness < 0:
            raise ValueError("The allowed lateness cannot be negative.")
        self.assigner = assigner
        self.trigger = trigger if trigger is not None else assigner.get_default_trigger()
        self.merging = isinstance(assigner, MergingWindowAssigner)
        if self.merging and not self.trigger.can_merge():
            raise ValueError(f"A merging window assigner cannot be used with a trigger "
                             f"that does not support merging: {self.trigger!r}")
        self.event_time = assigner.is_event_time()
        # Flink ignores allowed lateness for processing-time windows.
        self.allowed_lateness = int(allowed_lateness) if self.event_time else 0
        self.late_data_tag = late_data_tag
        self.contents = contents
        self.window_function = window_function or WindowFunctionAdapter()
        #: Flink's numLateRecordsDropped.
        self.num_late_records_dropped = 0

    # -- lifecycle ----------------------------------------------------------------------

    def setup(self, ctx) -> None:
        """Attach the context and create the timer service (before any restore)."""
        super().setup(ctx)
        self.timers = KeyedTimerService(self._on_event_time, self._on_processing_time,
                                        ctx.processing_time_service,
                                        self._emit_processing_output)
        self._out: list = []
        self._out_ts: list = []

    def open(self) -> None:
        """Attach the state tables and open the functions."""
        self.backend = self._backend()
        self.window_contents = self.backend.get_table(self.contents_table)
        self.merging_sets = self.backend.get_table(self.merging_table)
        self.trigger_state = self.backend.get_table(self.trigger_table)
        self.trigger_ctx = _TriggerContext(self)
        self.assigner_ctx = _AssignerContext(self)
        runtime_context = RuntimeContext(self.ctx)
        self.contents.open(runtime_context)
        self.window_function.open(runtime_context, self)
        pts = self.ctx.processing_time_service
        self._now = pts.current_processing_time if pts is not None else now_ms
        assigner = self.assigner
        self._tumbling = isinstance(assigner, (TumblingEventTimeWindows,
                                               TumblingProcessingTimeWindows))
        #: (size, slide, offset) for the built-in tumbling/sliding assigners, else None.
        self._aligned = None
        if self._tumbling:
            self._aligned = (assigner.size, assigner.size, assigner.offset)
        elif type(assigner) in (SlidingEventTimeWindows, SlidingProcessingTimeWindows):
            self._aligned = (assigner.size, assigner.slide, assigner.offset)
        self._sessions = type(assigner) in (EventTimeSessionWindows,
                                            ProcessingTimeSessionWindows)
        group = getattr(self.ctx, "metric_group", None)
        if group is not None and hasattr(group, "gauge"):
            group.gauge("numLateRecordsDropped", lambda: self.num_late_records_dropped)

    def close(self) -> None:
        """Close the functions."""
        self.contents.close()
        self.window_function.close()

    # -- helpers ------------------------------------------------------------------------

    def _cleanup_time(self, window: Any) -> int:
        if self.event_time:
            return min(window.max_timestamp() + self.allowed_lateness, MAX_TIMESTAMP)
        return window.max_timestamp()

    def _is_window_late(self, window: Any) -> bool:
        return self.event_time and \
            self._cleanup_time(window) <= self.timers.current_watermark

    def _register_cleanup_timer(self, key: Any, window: Any) -> None:
        t = self._cleanup_time(window)
        if t == MAX_TIMESTAMP:
            return
        if self.event_time:
            self.timers.register_event_time_timer(key, window, t)
        else:
            self.timers.register_processing_time_timer(key, window, t)

    def _delete_cleanup_timer(self, key: Any, window: Any) -> None:
        t = self._cleanup_time(window)
        if t == MAX_TIMESTAMP:
            return
        if self.event_time:
            self.timers.delete_event_time_timer(key, window, t)
        else:
            self.timers.delete_processing_time_timer(key, window, t)

    def _emit(self, key: Any, window: Any, acc: Any) -> None:
        """Evaluate a fired window into the pending output."""
        r = self.window_function.evaluate(key, window, self.contents.result(acc))
        if r is not None:
            out = self._out
            n = len(out)
            out.extend(r)
            self._out_ts.extend(repeat(window.max_timestamp(), len(out) - n))

    def _take_output(self) -> tuple[list, Timestamps]:
        out, out_ts = self._out, self._out_ts
        self._out, self._out_ts = [], []
        if not out:
            return [], None
        return split_side_outputs(out, out_ts, self.ctx.emit_side_output)

    def _emit_processing_output(self) -> None:
        """After processing-time timers fired: push their results down the chain."""
        values, timestamps = self._take_output()
        if values:
            emit = self.ctx.emit_records
            if emit is None:
                raise RuntimeError("this runtime cannot emit records from timers "
                                   "(OperatorContext.emit_records is missing)")
            emit(values, timestamps)

    def _late(self, values: list, timestamps: list | None) -> None:
        """Records too late for every window: side output or dropped."""
        tag = self.late_data_tag
        if tag is not None and self.ctx.emit_side_output is not None:
            self.ctx.emit_side_output(tag.tag_id, values, timestamps)
        else:
            self.num_late_records_dropped += len(values)

    def _fire(self, key: Any, window: Any, state_window: Any, win_map: dict | None,
              result: TriggerResult) -> dict | None:
        """Act on a trigger result on ``win_map`` (the caller writes it back)."""
        if win_map is None:
            return None
        if result.value[0]:  # fire
            acc = win_map.get(state_window, _MISSING)
            if acc is not _MISSING:
                self._emit(key, window, acc)
        if result.value[1]:  # purge
            win_map.pop(state_window, None)
        return win_map

    # -- records ------------------------------------------------------------------------

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Assign the batch's records to windows and run the trigger."""
        if not values:
            return [], None
        if not self._key_resolved:
            self._resolve_key(values)
        if self.event_time and timestamps is None:
            self.assigner.assign_windows(values[0], None, self.assigner_ctx)  # raises
        if self.merging:
            self._process_merging(values, timestamps)
        else:
            self._process_grouped(values, timestamps)
        return self._take_output()

    def _group(self, values: list, timestamps: Timestamps) -> dict:
        """(key, window) -> record indices, in first-seen order."""
        keys = list(map(self.key_selector, values))
        groups: dict[tuple, list[int]] = {}
        get = groups.get
        if self._aligned is None:  # any assigner: ask it per record
            assign, actx = self.assigner.assign_windows, self.assigner_ctx
            times = timestamps if timestamps is not None else repeat(None, len(values))
            for i, (v, k, t) in enumerate(zip(values, keys, times, strict=True)):
                for w in assign(v, t, actx):
                    g = (k, w)
                    idx = get(g)
                    if idx is None:
                        groups[g] = [i]
                    else:
                        idx.append(i)
            return groups
        # tumbling and sliding windows: arithmetic on window starts
        size, slide, offset = self._aligned
        times = timestamps if self.event_time else [self._now()] * len(values)
        if slide == size:
            starts = [t - (t - offset) % size for t in times] if offset else \
                [t - t % size for t in times]
            for i, g in enumerate(zip(keys, starts, strict=True)):
                idx = get(g)
                if idx is None:
                    groups[g] = [i]
                else:
                    idx.append(i)
        else:
            for i, (k, t) in enumerate(zip(keys, times, strict=True)):
                for start in range(t - (t - offset) % slide, t - size, -slide):
                    g = (k, start)
                    idx = get(g)
                    if idx is None:
                        groups[g] = [i]
                    else:
                        idx.append(i)
        windows: dict[int, TimeWindow] = {}
        out: dict[tuple, list[int]] = {}
        for (k, start), idx in groups.items():
            w = windows.get(start)
            if w is None:
                w = windows[start] = TimeWindow(start, start + size)
            out[(k, w)] = idx
        return out

    def _process_grouped(self, values: list, timestamps: Timestamps) -> None:
        groups = self._group(values, timestamps)
        trigger, tctx, backend = self.trigger, self.trigger_ctx, self.backend
        contents, table = self.contents, self.window_contents
        agnostic = trigger.element_agnostic
        wm = self.timers.current_watermark
        lateness, event_time = self.allowed_lateness, self.event_time
        late_groups: list[list[int]] = []
        for (key, window), idx in groups.items():
            if event_time and window.max_timestamp() + lateness <= wm:
                late_groups.append(idx)
                continue
            backend.current_key = key
            tctx.key, tctx.window = key, window
            win_map = table.get(key)
            if win_map is None:
                win_map = {}
            result = None
            if agnostic:
                i0 = idx[0]
                result = trigger.on_element(values[i0], None if timestamps is None
                                            else timestamps[i0], window, tctx)
                if result is _CONTINUE:
                    win_map[window] = contents.add_all(win_map.get(window, _MISSING),
                                                       list(map(values.__getitem__, idx)))
                    table[key] = win_map
                    self._register_cleanup_timer(key, window)
                    continue
            for j, i in enumerate(idx):
                win_map[window] = contents.add_all(win_map.get(window, _MISSING), [values[i]])
                if result is None or j > 0:
                    result = trigger.on_element(values[i], None if timestamps is None
                                                else timestamps[i], window, tctx)
                if result is not _CONTINUE:
                    self._fire(key, window, window, win_map, result)
            _put(table, key, win_map)
            self._register_cleanup_timer(key, window)
        if late_groups:
            self._late_records(values, timestamps, groups, late_groups, wm)

    def _late_records(self, values: list, timestamps: list, groups: dict,
                      late_groups: list[list[int]], wm: int) -> None:
        """Records whose windows were all late, and that are late themselves."""
        candidates = set().union(*late_groups)
        if not self._tumbling:  # a record may also be in windows that were on time
            lateness = self.allowed_lateness
            for (_, window), idx in groups.items():
                if window.max_timestamp() + lateness > wm:
                    candidates.difference_update(idx)
        lateness = self.allowed_lateness
        late = sorted(i for i in candidates if timestamps[i] + lateness <= wm)
        if late:
            self._late([values[i] for i in late], [timestamps[i] for i in late])

    # -- merging windows ----------------------------------------------------------------

    def _process_merging(self, values: list, timestamps: Timestamps) -> None:
        ks, assign, actx = self.key_selector, self.assigner.assign_windows, self.assigner_ctx
        trigger, tctx, backend = self.trigger, self.trigger_ctx, self.backend
        contents, table = self.contents, self.window_contents
        late_idx: list[int] = []
        times = timestamps if timestamps is not None else repeat(None, len(values))
        for i, (v, t) in enumerate(zip(values, times, strict=True)):
            key = ks(v)
            backend.current_key = key
            tctx.key = key
            mapping = self.merging_sets.get(key)
            if mapping is None:
                mapping = {}
            skipped = True
            for w in assign(v, t, actx):
                actual = self._add_window(key, mapping, w)
                if self._is_window_late(actual):
                    del mapping[actual]
                    continue
                skipped = False
                state_window = mapping[actual]
                win_map = table.get(key)  # after the merge, which wrote it back
                if win_map is None:
                    win_map = {}
                win_map[state_window] = contents.add_all(win_map.get(state_window, _MISSING),
                                                         [v])
                tctx.window = actual
                result = trigger.on_element(v, t, actual, tctx)
                if result is not _CONTINUE:
                    self._fire(key, actual, state_window, win_map, result)
                _put(table, key, win_map)
                self._register_cleanup_timer(key, actual)
            _put(self.merging_sets, key, mapping)
            if skipped and self.event_time and t + self.allowed_lateness <= \
                    self.timers.current_watermark:
                late_idx.append(i)
        if late_idx:
            self._late([values[i] for i in late_idx], [timestamps[i] for i in late_idx])

    def _add_window(self, key: Any, mapping: dict, new_window: Any) -> Any:
        """Flink's MergingWindowSet.addWindow: the window ``new_window`` ends up in."""
        if self._sessions:
            # The windows of a merging set never touch each other, so only those touching
            # the new one merge (what TimeWindow.merge_windows finds, without the sort).
            s, e = new_window
            hits = [w for w in mapping if w[0] <= e and w[1] >= s]
            if hits:
                hits.append(new_window)
                hits.sort()
                results = [(TimeWindow(hits[0][0], max(w[1] for w in hits)), hits)]
            else:
                results = []
        else:
            callback = _MergeCallback()
            self.assigner.merge_windows([*mapping, new_window], callback)
            results = callback.results
        result_window = new_window
        merged_new_window = False
        for merge_result, merged_windows in results:
            if new_window in merged_windows:
                merged_windows.remove(new_window)
                merged_new_window = True
                result_window = merge_result
            merged_state_window = mapping[merged_windows[0]]
            merged_state_windows = []
            for m in merged_windows:
                sw = mapping.pop(m, None)
                if sw is not None:
                    merged_state_windows.append(sw)
            mapping[merge_result] = merged_state_window
            merged_state_windows.remove(merged_state_window)
            if not (merge_result in merged_windows and len(merged_windows) == 1):
                self._merge(key, merge_result, merged_windows, merged_state_window,
                            merged_state_windows)
        if not results or (result_window == new_window and not merged_new_window):
            mapping[result_window] = result_window
        return result_window

    def _merge(self, key: Any, merge_result: Any, merged_windows: list, state_window: Any,
               merged_state_windows: list) -> None:
        """Windows merged: move trigger timers and state, combine the contents."""
        if self.event_time and merge_result.max_timestamp() + self.allowed_lateness <= \
                self.timers.current_watermark:
            raise RuntimeError(
                "The end timestamp of an event-time window cannot become earlier than the "
                f"current watermark by merging. Current watermark: "
                f"{self.timers.current_watermark} window: {merge_result!r}")
        if not self.event_time and merge_result.max_timestamp() <= self._now():
            raise RuntimeError(
                "The end timestamp of a processing-time window cannot become earlier than "
                f"the current processing time by merging. Current processing time: "
                f"{self._now()} window: {merge_result!r}")
        tctx = self.trigger_ctx
        tctx.key, tctx.window, tctx.merged_windows = key, merge_result, merged_windows
        self.trigger.on_merge(merge_result, tctx)
        for m in merged_windows:
            tctx.window = m
            self.trigger.clear(m, tctx)
            self._delete_cleanup_timer(key, m)
        tctx.merged_windows = []
        win_map = self.window_contents.get(key)
        if win_map is None:
            return
        target = win_map.get(state_window, _MISSING)
        for sw in merged_state_windows:
            src = win_map.pop(sw, _MISSING)
            if src is _MISSING:
                continue
            target = src if target is _MISSING else self.contents.merge(target, src)
        if target is not _MISSING:
            win_map[state_window] = target
        _put(self.window_contents, key, win_map)

    # -- timers -------------------------------------------------------------------------

    def _on_timer(self, key: Any, window: Any, time: int, event_time: bool) -> None:
        backend, tctx = self.backend, self.trigger_ctx
        backend.current_key = key
        tctx.key, tctx.window = key, window
        mapping = None
        state_window = window
        if self.merging:
            mapping = self.merging_sets.get(key)
            state_window = None if mapping is None else mapping.get(window)
            if state_window is None:
                return  # a timer of a window that was merged away
        if event_time:
            result = self.trigger.on_event_time(time, window, tctx)
        else:
            result = self.trigger.on_processing_time(time, window, tctx)
        win_map = self.window_contents.get(key)
        changed = False
        if result is not _CONTINUE:
            self._fire(key, window, state_window, win_map, result)
            changed = result.value[1]
        if event_time == self.event_time and self._cleanup_time(window) == time:
            self._clear_all_state(window, state_window, win_map, mapping)
            changed = True
            if mapping is not None:
                _put(self.merging_sets, key, mapping)
        if changed and win_map is not None:
            _put(self.window_contents, key, win_map)

    def _clear_all_state(self, window: Any, state_window: Any, win_map: dict | None,
                         mapping: dict | None) -> None:
        """The window is gone for good (the caller writes the dicts back)."""
        if win_map is not None:
            win_map.pop(state_window, None)
        self.trigger_ctx.window = window
        self.trigger.clear(window, self.trigger_ctx)
        self.window_function.clear(window)
        if mapping is not None:
            mapping.pop(window, None)

    def _on_event_time(self, key: Any, window: Any, time: int) -> None:
        self._on_timer(key, window, time, True)

    def _on_processing_time(self, key: Any, window: Any, time: int) -> None:
        self._on_timer(key, window, time, False)

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """Fire the event-time timers up to ``watermark``; return the windows' results."""
        self.timers.advance_watermark(watermark)
        return self._take_output()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for transient in ("ctx", "timers", "backend", "window_contents", "merging_sets",
                          "trigger_state", "trigger_ctx", "assigner_ctx", "_now", "_out",
                          "_out_ts", "_aligned", "_sessions"):
            state.pop(transient, None)
        return state


