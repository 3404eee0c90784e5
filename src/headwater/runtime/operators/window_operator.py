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

from headwater.api.functions import RuntimeContext
from headwater.api.windowing import (
    _NO_TIMESTAMP,
    EventTimeSessionWindows,
    MergingWindowAssigner,
    ProcessingTimeSessionWindows,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TimestampedValue,
    TimeWindow,
    TriggerResult,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)
from headwater.clock import now_ms
from headwater.runtime.operators.base import StreamOperator, Timestamps
from headwater.runtime.operators.keyed import _KeyedMixin
from headwater.runtime.operators.side_outputs import split_side_outputs
from headwater.runtime.operators.timer_service import KeyedTimerService, TimersStateMixin
from headwater.runtime.operators.window_contents import MISSING, put_entry
from headwater.runtime.operators.window_functions import WindowFunctionAdapter
from headwater.runtime.operators.window_merging import process_merging
from headwater.runtime.operators.window_triggers import (
    WindowOperatorAssignerContext,
    WindowOperatorEvictorContext,
    WindowTriggerContext,
)

MAX_TIMESTAMP = 2**63 - 1
_CONTINUE = TriggerResult.CONTINUE


class WindowOperator(TimersStateMixin, _KeyedMixin, StreamOperator):
    """Keyed windows: assign, trigger, evaluate, clean up (see the module docstring)."""

    contents_table = "_window_contents"
    merging_table = "_window_merging"
    trigger_table = "_window_trigger_state"

    def __init__(self, assigner: Any, key_selector: Any, contents: Any,
                 window_function: WindowFunctionAdapter | None = None, trigger: Any = None,
                 allowed_lateness: int = 0, late_data_tag: Any = None,
                 evictor: Any = None) -> None:
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
        #: With an evictor, contents are all (value, timestamp) pairs (EvictingContents).
        self.evictor = evictor
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
        self.trigger_ctx = WindowTriggerContext(self)
        self.assigner_ctx = WindowOperatorAssignerContext(self)
        self.evictor_ctx = WindowOperatorEvictorContext(self)
        runtime_context = self.runtime_context = RuntimeContext(self.ctx)
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
        self._sessions = isinstance(assigner, (EventTimeSessionWindows,
                                               ProcessingTimeSessionWindows))
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
        if self.evictor is not None:
            r = self._emit_evicting(key, window, acc)
        else:
            r = self.window_function.evaluate(key, window, self.contents.result(acc))
        if r is not None:
            out = self._out
            n = len(out)
            out.extend(r)
            self._out_ts.extend(repeat(window.max_timestamp(), len(out) - n))

    def _emit_evicting(self, key: Any, window: Any, pairs: list) -> Any:
        """Evict, evaluate the rest, evict again; ``pairs`` (the window's stored
        ``(value, timestamp)`` list) keeps what is left."""
        elements = [TimestampedValue(v, t) for v, t in pairs]
        size = len(elements)
        ectx = self.evictor_ctx
        self.evictor.evict_before(elements, size, window, ectx)
        r = None
        if elements:
            r = self.window_function.evaluate(
                key, window, self.contents.evaluate([e.value for e in elements]))
            if r is not None:
                r = list(r)
        self.evictor.evict_after(elements, size, window, ectx)
        pairs[:] = [(e.value, e.timestamp) for e in elements]
        return r

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
            acc = win_map.get(state_window, MISSING)
            if acc is not MISSING:
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
            process_merging(self, values, timestamps)
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
            backend = self.backend
            maybe_times = timestamps if timestamps is not None else repeat(None, len(values))
            for i, (v, k, t) in enumerate(zip(values, keys, maybe_times, strict=True)):
                backend.current_key = k  # assigners may use keyed state (count windows)
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
        if not self.event_time:
            times = [self._now()] * len(values)
        elif timestamps is None:  # what the assigners raise
            raise RuntimeError(_NO_TIMESTAMP)
        else:
            times = timestamps
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
        stored = values if self.evictor is None else \
            list(zip(values, timestamps if timestamps is not None else repeat(None),
                     strict=False))
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
                    win_map[window] = contents.add_all(win_map.get(window, MISSING),
                                                       list(map(stored.__getitem__, idx)))
                    table[key] = win_map
                    self._register_cleanup_timer(key, window)
                    continue
            for j, i in enumerate(idx):
                win_map[window] = contents.add_all(win_map.get(window, MISSING), [stored[i]])
                if result is None or j > 0:
                    result = trigger.on_element(values[i], None if timestamps is None
                                                else timestamps[i], window, tctx)
                if result is not _CONTINUE:
                    self._fire(key, window, window, win_map, result)
            put_entry(table, key, win_map)
            self._register_cleanup_timer(key, window)
        if late_groups and timestamps is not None:  # late groups need event time
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
            changed = result.value[1] or self.evictor is not None
        if event_time == self.event_time and self._cleanup_time(window) == time:
            self._clear_all_state(window, state_window, win_map, mapping)
            changed = True
            if mapping is not None:
                put_entry(self.merging_sets, key, mapping)
        if changed and win_map is not None:
            put_entry(self.window_contents, key, win_map)

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
                          "trigger_state", "trigger_ctx", "assigner_ctx", "evictor_ctx", "runtime_context", "_now", "_out",
                          "_out_ts", "_aligned", "_sessions"):
            state.pop(transient, None)
        return state


