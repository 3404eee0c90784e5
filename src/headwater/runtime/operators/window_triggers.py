"""What triggers and assigners of a :class:`WindowOperator` see: the trigger context
(timers and window-scoped trigger state, kept in the ``_window_trigger_state`` table as
``key -> {(window, state name): value}``), the assigner context and the callback that
collects merges of a merging assigner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.api.windowing import EvictorContext, TriggerContext, WindowAssignerContext
from headwater.runtime.operators.window_contents import MISSING, put_entry

if TYPE_CHECKING:
    from headwater.runtime.operators.window_operator import WindowOperator


class WindowScopedState:
    """Trigger state of one (key, window) and name, over the trigger-state table."""

    def __init__(self, ctx: WindowTriggerContext, descriptor: Any) -> None:
        self.ctx = ctx
        self.name = descriptor.name
        self.default = getattr(descriptor, "default_value", None)
        self.reduce_function = getattr(descriptor, "reduce_function", None)

    def _map(self) -> dict | None:
        return self.ctx.op.trigger_state.get(self.ctx.key)

    def _map_to_change(self) -> dict:
        m = self._map()
        return {} if m is None else m

    def _store(self, m: dict) -> None:
        put_entry(self.ctx.op.trigger_state, self.ctx.key, m)

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
            m = self._map_to_change()
            m[(self.ctx.window, self.name)] = value
            self._store(m)

    def add(self, value: Any) -> None:
        """ReducingState: combine a value in (ListState: append)."""
        m = self._map_to_change()
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
        if m is not None and m.pop((self.ctx.window, self.name), MISSING) is not MISSING:
            self._store(m)


class WindowTriggerContext(TriggerContext):
    """TriggerContext (and OnMergeContext) of the window operator: the current key and
    window are set by the operator before each trigger call."""

    def __init__(self, op: WindowOperator) -> None:
        self.op = op
        self.key: Any = None
        self.window: Any = None
        self.merged_windows: list = []
        self._states: dict[str, WindowScopedState] = {}

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

    def get_partitioned_state(self, state_descriptor: Any) -> WindowScopedState:
        """State scoped to the current key and window."""
        state = self._states.get(state_descriptor.name)
        if state is None:
            state = self._states[state_descriptor.name] = \
                WindowScopedState(self, state_descriptor)
        return state

    def merge_partitioned_state(self, state_descriptor: Any) -> None:
        """Fold the state of ``merged_windows`` into the current window."""
        state = self.get_partitioned_state(state_descriptor)
        m = state._map()
        if m is None:
            return
        merged = MISSING
        for w in self.merged_windows:
            v = m.pop((w, state.name), None)
            if v is None:
                continue
            if merged is MISSING:
                merged = v
            elif state.reduce_function is not None:
                merged = state.reduce_function(merged, v)
            elif isinstance(merged, list):
                merged = merged + v
            else:
                raise TypeError(f"state {state.name!r} cannot be merged")
        if merged is not MISSING:
            cur = m.get((self.window, state.name))
            if cur is not None:
                merged = state.reduce_function(cur, merged) if state.reduce_function \
                    else cur + merged
            m[(self.window, state.name)] = merged
        state._store(m)


class WindowOperatorAssignerContext(WindowAssignerContext):
    def __init__(self, op: WindowOperator) -> None:
        self.op = op

    def get_current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        return self.op._now()

    def get_runtime_context(self) -> Any:
        """The operator's RuntimeContext (its keyed state is the record's key's)."""
        return self.op.runtime_context


class WindowOperatorEvictorContext(EvictorContext):
    """The clocks an evictor may read."""

    def __init__(self, op: WindowOperator) -> None:
        self.op = op

    def get_current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        return self.op._now()

    def get_current_watermark(self) -> int:
        """The operator's watermark."""
        return self.op.timers.current_watermark


class MergeCallback:
    """Collects ``merge(to_be_merged, result)`` calls of a merging assigner."""

    def __init__(self) -> None:
        self.results: list[tuple[Any, list]] = []

    def merge(self, to_be_merged: list, merge_result: Any) -> None:
        self.results.append((merge_result, list(to_be_merged)))


# -- the operator -------------------------------------------------------------------------
