"""User functions whose outputs are converted to a declared ``output_type``.

When a transformation declares an output type, the job is built with the user function
wrapped in one of these classes (see :func:`with_output_type`); the wrapper opens and
closes the user's function, calls it, and converts every main output with the type's
converter (side outputs, ``yield tag, value``, pass unchanged). Streams without a
declared type are built with the user's function itself, so they pay nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headwater.api.checkpointing import CheckpointedFunction
from headwater.api.connected import (
    BroadcastProcessFunction,
    CoFlatMapFunction,
    CoMapFunction,
    CoProcessFunction,
    KeyedBroadcastProcessFunction,
    KeyedCoProcessFunction,
)
from headwater.api.functions import (
    FlatMapFunction,
    KeyedProcessFunction,
    MapFunction,
    ProcessFunction,
    ProcessWindowFunction,
    RichFunction,
    RuntimeContext,
    WindowFunction,
    resolve_function,
)
from headwater.api.side_outputs import OutputTag


def _convert_all(convert: Callable[[Any], Any], outputs: Any) -> Any:
    if outputs is None:
        return None
    out = []
    for x in outputs:
        if type(x) is tuple and len(x) == 2 and isinstance(x[0], OutputTag):
            out.append(x)
        else:
            out.append(convert(x))
    return out


class _Converting(RichFunction):
    """Base of the wrappers: lifecycle and attribute access go to the user's function."""

    _method = ""
    _kind = "function"

    _call: Any

    def __init__(self, inner: Any, convert: Callable[[Any], Any]) -> None:
        self.inner = inner
        self.convert = convert

    def open(self, runtime_context: RuntimeContext) -> None:
        """Open the user's function and bind its method."""
        if isinstance(self.inner, RichFunction):
            self.inner.open(runtime_context)
        self._call = resolve_function(self.inner, self._method, self._kind) \
            if self.inner is not None else None

    def close(self) -> None:
        """Close the user's function."""
        if isinstance(self.inner, RichFunction):
            self.inner.close()

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    def __getstate__(self) -> dict:
        return {"inner": self.inner, "convert": self.convert}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


class ConvertingMapFunction(_Converting, MapFunction):
    """``map`` with converted outputs."""

    _method, _kind = "map", "MapFunction"

    def map(self, value: Any) -> Any:
        """The converted output."""
        return self.convert(self._call(value))


class ConvertingFlatMapFunction(_Converting, FlatMapFunction):
    """``flat_map`` with converted outputs."""

    _method, _kind = "flat_map", "FlatMapFunction"

    def flat_map(self, value: Any) -> Any:
        """The converted outputs."""
        return _convert_all(self.convert, self._call(value))


class _ConvertingProcess(_Converting):
    _method, _kind = "process_element", "ProcessFunction"

    def process_element(self, value: Any, ctx: Any) -> Any:
        """The converted outputs."""
        return _convert_all(self.convert, self._call(value, ctx))

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        """The converted outputs of the user's ``on_timer``."""
        on_timer = getattr(self.inner, "on_timer", None)
        return None if on_timer is None else _convert_all(self.convert,
                                                          on_timer(timestamp, ctx))


class ConvertingProcessFunction(_ConvertingProcess, ProcessFunction):
    """A ProcessFunction with converted outputs."""


class ConvertingKeyedProcessFunction(_ConvertingProcess, KeyedProcessFunction):
    """A KeyedProcessFunction with converted outputs."""

    _kind = "KeyedProcessFunction"


class ConvertingProcessWindowFunction(_Converting, ProcessWindowFunction):
    """A ProcessWindowFunction with converted outputs."""

    _method, _kind = "process", "ProcessWindowFunction"

    def process(self, key: Any, context: Any, elements: Any) -> Any:
        """The converted outputs."""
        return _convert_all(self.convert, self._call(key, context, elements))

    def clear(self, context: Any) -> None:
        """The user's ``clear``."""
        clear = getattr(self.inner, "clear", None)
        if clear is not None:
            clear(context)


class ConvertingWindowFunction(_Converting, WindowFunction):
    """A WindowFunction (or, without one, the window's result) with converted outputs."""

    _method, _kind = "apply", "WindowFunction"

    def apply(self, key: Any, window: Any, inputs: Any) -> Any:
        """The converted outputs."""
        if self._call is None:
            return _convert_all(self.convert, inputs)
        return _convert_all(self.convert, self._call(key, window, inputs))


class _ForwardCheckpointed(CheckpointedFunction):
    """Operator state of a wrapped CheckpointedFunction stays the user's."""

    inner: Any

    def snapshot_state(self, context: Any) -> None:
        """The user's ``snapshot_state``."""
        self.inner.snapshot_state(context)

    def initialize_state(self, context: Any) -> None:
        """The user's ``initialize_state``."""
        self.inner.initialize_state(context)


class CheckpointedConvertingMapFunction(ConvertingMapFunction, _ForwardCheckpointed):
    """ConvertingMapFunction of a CheckpointedFunction."""


class CheckpointedConvertingFlatMapFunction(ConvertingFlatMapFunction, _ForwardCheckpointed):
    """ConvertingFlatMapFunction of a CheckpointedFunction."""


class CheckpointedConvertingProcessFunction(ConvertingProcessFunction, _ForwardCheckpointed):
    """ConvertingProcessFunction of a CheckpointedFunction."""


class CheckpointedConvertingKeyedProcessFunction(ConvertingKeyedProcessFunction,
                                                 _ForwardCheckpointed):
    """ConvertingKeyedProcessFunction of a CheckpointedFunction."""


_CHECKPOINTED: dict[type, type] = {
    ConvertingMapFunction: CheckpointedConvertingMapFunction,
    ConvertingFlatMapFunction: CheckpointedConvertingFlatMapFunction,
    ConvertingProcessFunction: CheckpointedConvertingProcessFunction,
    ConvertingKeyedProcessFunction: CheckpointedConvertingKeyedProcessFunction,
}


def wrap(wrapper: type, function: Any, convert: Callable[[Any], Any]) -> Any:
    """``wrapper(function, convert)``, keeping ``function``'s operator state when it is
    a CheckpointedFunction."""
    if isinstance(function, CheckpointedFunction):
        wrapper = _CHECKPOINTED.get(wrapper, wrapper)
    return wrapper(function, convert)


# -- connected streams and broadcast state ---------------------------------------------------


class _ConvertingCo(RichFunction):
    """Base of the two-input wrappers: lifecycle and attributes go to the user's
    function; each method converts what the user's method returns or yields."""

    def __init__(self, inner: Any, convert: Callable[[Any], Any]) -> None:
        self.inner = inner
        self.convert = convert

    def open(self, runtime_context: RuntimeContext) -> None:
        """Open the user's function."""
        self.inner.open(runtime_context)

    def close(self) -> None:
        """Close the user's function."""
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    def __getstate__(self) -> dict:
        return {"inner": self.inner, "convert": self.convert}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def _all(self, outputs: Any) -> Any:
        return _convert_all(self.convert, outputs)


class ConvertingCoMapFunction(_ConvertingCo, CoMapFunction):
    """A CoMapFunction with converted outputs."""

    def map1(self, value: Any) -> Any:
        """The converted output."""
        return self.convert(self.inner.map1(value))

    def map2(self, value: Any) -> Any:
        """The converted output."""
        return self.convert(self.inner.map2(value))


class ConvertingCoFlatMapFunction(_ConvertingCo, CoFlatMapFunction):
    """A CoFlatMapFunction with converted outputs."""

    def flat_map1(self, value: Any) -> Any:
        """The converted outputs."""
        return self._all(self.inner.flat_map1(value))

    def flat_map2(self, value: Any) -> Any:
        """The converted outputs."""
        return self._all(self.inner.flat_map2(value))


class _ConvertingCoProcess(_ConvertingCo):
    def process_element1(self, value: Any, ctx: Any) -> Any:
        """The converted outputs."""
        return self._all(self.inner.process_element1(value, ctx))

    def process_element2(self, value: Any, ctx: Any) -> Any:
        """The converted outputs."""
        return self._all(self.inner.process_element2(value, ctx))

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        """The converted outputs of the user's ``on_timer``."""
        return self._all(self.inner.on_timer(timestamp, ctx))


class ConvertingCoProcessFunction(_ConvertingCoProcess, CoProcessFunction):
    """A CoProcessFunction with converted outputs."""


class ConvertingKeyedCoProcessFunction(_ConvertingCoProcess, KeyedCoProcessFunction):
    """A KeyedCoProcessFunction with converted outputs."""


class _ConvertingBroadcastProcess(_ConvertingCo):
    def process_element(self, value: Any, ctx: Any) -> Any:
        """The converted outputs."""
        return self._all(self.inner.process_element(value, ctx))

    def process_broadcast_element(self, value: Any, ctx: Any) -> Any:
        """The converted outputs."""
        return self._all(self.inner.process_broadcast_element(value, ctx))

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        """The converted outputs of the user's ``on_timer``."""
        return self._all(self.inner.on_timer(timestamp, ctx))


class ConvertingBroadcastProcessFunction(_ConvertingBroadcastProcess,
                                         BroadcastProcessFunction):
    """A BroadcastProcessFunction with converted outputs."""


class ConvertingKeyedBroadcastProcessFunction(_ConvertingBroadcastProcess,
                                              KeyedBroadcastProcessFunction):
    """A KeyedBroadcastProcessFunction with converted outputs."""


def wrap_two_input(function: Any, convert: Callable[[Any], Any]) -> Any:
    """The converting wrapper of a co-function or broadcast process function."""
    for base, wrapper in ((KeyedCoProcessFunction, ConvertingKeyedCoProcessFunction),
                          (CoProcessFunction, ConvertingCoProcessFunction),
                          (CoFlatMapFunction, ConvertingCoFlatMapFunction),
                          (CoMapFunction, ConvertingCoMapFunction),
                          (KeyedBroadcastProcessFunction,
                           ConvertingKeyedBroadcastProcessFunction),
                          (BroadcastProcessFunction, ConvertingBroadcastProcessFunction)):
        if isinstance(function, base):
            return wrapper(function, convert)
    return function
