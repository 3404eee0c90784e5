"""Evaluating fired windows: :class:`WindowFunctionAdapter` calls the user's window
function (``ProcessWindowFunction``, ``WindowFunction`` or none) with the window's result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.api.functions import (
    ProcessWindowContext,
    ProcessWindowFunction,
    RichFunction,
    RuntimeContext,
    WindowFunction,
)
from headwater.api.state import MapStateDescriptor, StateDescriptor

if TYPE_CHECKING:
    from headwater.runtime.operators.window_operator import WindowOperator


class OperatorProcessWindowContext(ProcessWindowContext):
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
        """Keyed state of the current key and window (``get_state(descriptor)``...)."""
        return WindowStateStore(self._op.backend, self._window)


class WindowStateStore:
    """State scoped to one key and one window: each descriptor's state is a keyed map
    ``window -> value`` (clear it in ``ProcessWindowFunction.clear``)."""

    def __init__(self, backend: Any, window: Any) -> None:
        self._backend = backend
        self._window = window

    def get_state(self, state_descriptor: StateDescriptor) -> Any:
        """The handle of ``state_descriptor`` for the current key and window."""
        by_window = self._backend.get_state(
            MapStateDescriptor(f"_window_state:{state_descriptor.name}"))
        return _WindowScopedState(by_window, self._window, state_descriptor)

    get_list_state = get_state
    get_map_state = get_state
    get_reducing_state = get_state
    get_aggregating_state = get_state


class _WindowScopedState:
    """A Value/List/Map/Reducing/Aggregating state handle over ``window -> value``."""

    def __init__(self, by_window: Any, window: Any, descriptor: StateDescriptor) -> None:
        self._map = by_window
        self._window = window
        self._descriptor: Any = descriptor

    def _get(self, default: Any = None) -> Any:
        value = self._map.get(self._window)
        return default if value is None else value

    def _put(self, value: Any) -> None:
        self._map.put(self._window, value)

    def clear(self) -> None:
        """Remove the window's value."""
        if self._map.contains(self._window):
            self._map.remove(self._window)

    # ValueState
    def value(self) -> Any:
        """The value (ValueState)."""
        return self._get(getattr(self._descriptor, "default_value", None))

    def update(self, value: Any) -> None:
        """Set the value (ValueState) or the list (ListState)."""
        self._put(list(value) if self._descriptor.kind == "list" else value)

    # ListState, ReducingState, AggregatingState
    def get(self, key: Any = None) -> Any:
        """The list / reduced value / aggregate; MapState: the value of ``key``."""
        kind = self._descriptor.kind
        if kind == "list":
            return list(self._get([]))
        if kind == "map":
            return self._get({}).get(key)
        if kind == "aggregating":
            acc = self._get()
            return None if acc is None else self._descriptor.agg_function.get_result(acc)
        return self._get()

    def add(self, value: Any) -> None:
        """Append (list), reduce in (reducing) or aggregate in (aggregating)."""
        kind = self._descriptor.kind
        if kind == "list":
            self._put([*self._get([]), value])
        elif kind == "reducing":
            current = self._get()
            self._put(value if current is None else
                      self._descriptor.reduce_function(current, value))
        elif kind == "aggregating":
            fn = self._descriptor.agg_function
            acc = self._get()
            self._put(fn.add(value, fn.create_accumulator() if acc is None else acc))
        else:
            raise TypeError(f"add() is not supported by {kind} state")

    def add_all(self, values: Any) -> None:
        """Append all (ListState)."""
        self._put([*self._get([]), *values])

    # MapState
    def put(self, key: Any, value: Any) -> None:
        """Set ``key`` (MapState)."""
        self._put({**self._get({}), key: value})

    def put_all(self, entries: dict) -> None:
        """Set all (MapState)."""
        self._put({**self._get({}), **entries})

    def remove(self, key: Any) -> None:
        """Remove ``key`` (MapState)."""
        entries = dict(self._get({}))
        entries.pop(key, None)
        self._put(entries)

    def contains(self, key: Any) -> bool:
        """Whether ``key`` is set (MapState)."""
        return key in self._get({})

    def items(self) -> Any:
        """The entries (MapState)."""
        return list(self._get({}).items())

    def keys(self) -> Any:
        """The keys (MapState)."""
        return list(self._get({}))

    def values(self) -> Any:
        """The values (MapState)."""
        return list(self._get({}).values())

    def is_empty(self) -> bool:
        """Whether the map is empty (MapState)."""
        return not self._get({})


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
        self.context = OperatorProcessWindowContext(op)
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
