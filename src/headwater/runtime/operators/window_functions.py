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
