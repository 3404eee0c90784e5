"""Merging windows (sessions) of the :class:`WindowOperator`: every key's windows are
kept in the ``_window_merging`` table (``key -> {window: state window}``); a new window
that overlaps others merges with them, their contents and trigger state merge into one
state window, and their timers are replaced by the merged window's."""

from __future__ import annotations

from itertools import repeat
from typing import TYPE_CHECKING, Any

from headwater.api.windowing import TimeWindow, TriggerResult
from headwater.runtime.operators.base import Timestamps
from headwater.runtime.operators.window_contents import MISSING, put_entry
from headwater.runtime.operators.window_triggers import MergeCallback

if TYPE_CHECKING:
    from headwater.runtime.operators.window_operator import WindowOperator

_CONTINUE = TriggerResult.CONTINUE


def process_merging(op: WindowOperator, values: list, timestamps: Timestamps) -> None:
    """A batch through ``op``'s merging windows: assign, merge, trigger, late records."""
    ks, assign, actx = op.key_selector, op.assigner.assign_windows, op.assigner_ctx
    trigger, tctx, backend = op.trigger, op.trigger_ctx, op.backend
    contents, table = op.contents, op.window_contents
    late_idx: list[int] = []
    times = timestamps if timestamps is not None else repeat(None, len(values))
    for i, (v, t) in enumerate(zip(values, times, strict=True)):
        key = ks(v)
        backend.current_key = key
        tctx.key = key
        mapping = op.merging_sets.get(key)
        if mapping is None:
            mapping = {}
        skipped = True
        for w in assign(v, t, actx):
            actual = add_window(op, key, mapping, w)
            if op._is_window_late(actual):
                del mapping[actual]
                continue
            skipped = False
            state_window = mapping[actual]
            win_map = table.get(key)  # after the merge, which wrote it back
            if win_map is None:
                win_map = {}
            win_map[state_window] = contents.add_all(win_map.get(state_window, MISSING),
                                                     [v] if op.evictor is None else [(v, t)])
            tctx.window = actual
            result = trigger.on_element(v, t, actual, tctx)
            if result is not _CONTINUE:
                op._fire(key, actual, state_window, win_map, result)
            put_entry(table, key, win_map)
            op._register_cleanup_timer(key, actual)
        put_entry(op.merging_sets, key, mapping)
        if skipped and op.event_time and t is not None and t + op.allowed_lateness <= \
                op.timers.current_watermark:
            late_idx.append(i)
    if late_idx and timestamps is not None:
        op._late([values[i] for i in late_idx], [timestamps[i] for i in late_idx])


def add_window(op: WindowOperator, key: Any, mapping: dict, new_window: Any) -> Any:
    """Flink's MergingWindowSet.addWindow: the window ``new_window`` ends up in."""
    if op._sessions:
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
        callback = MergeCallback()
        op.assigner.merge_windows([*mapping, new_window], callback)
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
            merge_windows(op, key, merge_result, merged_windows, merged_state_window,
                          merged_state_windows)
    if not results or (result_window == new_window and not merged_new_window):
        mapping[result_window] = result_window
    return result_window


def merge_windows(op: WindowOperator, key: Any, merge_result: Any, merged_windows: list,
                  state_window: Any, merged_state_windows: list) -> None:
    """Windows merged: move trigger timers and state, combine the contents."""
    if op.event_time and merge_result.max_timestamp() + op.allowed_lateness <= \
            op.timers.current_watermark:
        raise RuntimeError(
            "The end timestamp of an event-time window cannot become earlier than the "
            f"current watermark by merging. Current watermark: "
            f"{op.timers.current_watermark} window: {merge_result!r}")
    if not op.event_time and merge_result.max_timestamp() <= op._now():
        raise RuntimeError(
            "The end timestamp of a processing-time window cannot become earlier than "
            f"the current processing time by merging. Current processing time: "
            f"{op._now()} window: {merge_result!r}")
    tctx = op.trigger_ctx
    tctx.key, tctx.window, tctx.merged_windows = key, merge_result, merged_windows
    op.trigger.on_merge(merge_result, tctx)
    for m in merged_windows:
        tctx.window = m
        op.trigger.clear(m, tctx)
        op._delete_cleanup_timer(key, m)
    tctx.merged_windows = []
    win_map = op.window_contents.get(key)
    if win_map is None:
        return
    target = win_map.get(state_window, MISSING)
    for sw in merged_state_windows:
        src = win_map.pop(sw, MISSING)
        if src is MISSING:
            continue
        target = src if target is MISSING else op.contents.merge(target, src)
    if target is not MISSING:
        win_map[state_window] = target
    put_entry(op.window_contents, key, win_map)
