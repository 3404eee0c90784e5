"""Keyed state as the user sees it: descriptors and the state interfaces.

A descriptor names a piece of keyed state; ``runtime_context.get_state(descriptor)`` in a
function's ``open`` returns a handle whose methods read and write the value of the key
being processed::

    class Count(KeyedProcessFunction):
        def open(self, runtime_context):
            self.count = runtime_context.get_state(ValueStateDescriptor("count"))

        def process_element(self, value, ctx):
            n = (self.count.value() or 0) + 1
            self.count.update(n)
            yield ctx.get_current_key(), n

Kinds: ValueState, ListState, MapState, ReducingState (a ReduceFunction combines values)
and AggregatingState (an AggregateFunction's accumulator). Any descriptor can let its
entries expire: ``descriptor.enable_time_to_live(StateTtlConfig...)`` (see
:mod:`headwater.api.state_ttl`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from headwater.api.state_ttl import StateTtlConfig

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
IN = TypeVar("IN")
OUT = TypeVar("OUT")

__all__ = [
    "AggregatingState", "AggregatingStateDescriptor", "ListState", "ListStateDescriptor",
    "MapState", "MapStateDescriptor", "ReducingState", "ReducingStateDescriptor", "State",
    "StateDescriptor", "StateTtlConfig", "ValueState", "ValueStateDescriptor",
]


@dataclasses.dataclass(frozen=True)
class StateDescriptor:
    """Base of all descriptors: a state name unique within an operator."""

    name: str
    #: The declared type of the values (a TypeInformation; None: any Python object).
    #: Values written are converted to it (see ``headwater.api.typed_state``).
    type_info: Any = None

    #: The kind of state, used by backends to check that a name is used consistently.
    kind = "state"

    def enable_time_to_live(self, ttl_config: StateTtlConfig) -> None:
        """Let entries of this state expire (see :class:`StateTtlConfig`)."""
        if not isinstance(ttl_config, StateTtlConfig):
            raise TypeError("enable_time_to_live expects a StateTtlConfig")
        object.__setattr__(self, "ttl_config", ttl_config)

    def get_ttl_config(self) -> StateTtlConfig | None:
        """The TTL configuration, or None when entries never expire."""
        return self.__dict__.get("ttl_config")


@dataclasses.dataclass(frozen=True)
class ValueStateDescriptor(StateDescriptor):
    """Describes a :class:`ValueState` (one value per key)."""

    #: Returned by ``value()`` when the key has no value (Flink's deprecated default).
    default_value: Any = None

    kind = "value"


@dataclasses.dataclass(frozen=True)
class ListStateDescriptor(StateDescriptor):
    """Describes a :class:`ListState` (a list of values per key)."""

    kind = "list"


@dataclasses.dataclass(frozen=True)
class MapStateDescriptor(StateDescriptor):
    """Describes a :class:`MapState` (a dict per key); ``type_info`` is the key type,
    ``value_type_info`` the value type (both optional)."""

    value_type_info: Any = None

    kind = "map"


@dataclasses.dataclass(frozen=True)
class ReducingStateDescriptor(StateDescriptor):
    """Describes a :class:`ReducingState`: values added are combined with ``reduce_function``."""

    reduce_function: Callable[[Any, Any], Any] | None = None

    kind = "reducing"

    def __init__(self, name: str, reduce_function: Any, type_info: Any = None) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "type_info", type_info)
        fn = getattr(reduce_function, "reduce", reduce_function)
        if not callable(fn):
            raise TypeError("reduce_function must be a ReduceFunction or a callable")
        object.__setattr__(self, "reduce_function", fn)

    def get_reduce_function(self) -> Any:
        """The reduce function."""
        return self.reduce_function


@dataclasses.dataclass(frozen=True)
class AggregatingStateDescriptor(StateDescriptor):
    """Describes an :class:`AggregatingState`: values are added into an accumulator of an
    ``AggregateFunction`` (``create_accumulator``/``add``/``get_result``/``merge``)."""

    agg_function: Any = None

    kind = "aggregating"

    def __init__(self, name: str, agg_function: Any, state_type_info: Any = None) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "type_info", state_type_info)
        for method in ("create_accumulator", "add", "get_result"):
            if not callable(getattr(agg_function, method, None)):
                raise TypeError(f"agg_function must be an AggregateFunction (no {method}())")
        object.__setattr__(self, "agg_function", agg_function)

    def get_agg_function(self) -> Any:
        """The AggregateFunction."""
        return self.agg_function


class State:
    """Keyed state of the current key."""

    def clear(self) -> None:
        """Remove the current key's value."""
        raise NotImplementedError


class ValueState(State, Generic[T]):
    """One value per key."""

    def value(self) -> Any:
        """The current key's value (the descriptor's default if none)."""
        raise NotImplementedError

    def update(self, value: Any) -> None:
        """Set the current key's value."""
        raise NotImplementedError


class ListState(State, Generic[T]):
    """A list of values per key."""

    def get(self) -> Iterable[Any]:
        """The current key's values (empty if none)."""
        raise NotImplementedError

    def add(self, value: Any) -> None:
        """Append a value."""
        raise NotImplementedError

    def add_all(self, values: Iterable[Any]) -> None:
        """Append many values."""
        raise NotImplementedError

    def update(self, values: Iterable[Any]) -> None:
        """Replace the values."""
        raise NotImplementedError


class MapState(State, Generic[K, V]):
    """A dict per key."""

    def get(self, key: Any) -> Any:
        """The value of ``key`` in the current key's map (None if absent)."""
        raise NotImplementedError

    def put(self, key: Any, value: Any) -> None:
        """Set one entry."""
        raise NotImplementedError

    def put_all(self, entries: dict) -> None:
        """Set many entries."""
        raise NotImplementedError

    def remove(self, key: Any) -> None:
        """Delete one entry."""
        raise NotImplementedError

    def contains(self, key: Any) -> bool:
        """Whether the entry exists."""
        raise NotImplementedError

    def items(self) -> Iterable[tuple[Any, Any]]:
        """All entries."""
        raise NotImplementedError

    def keys(self) -> Iterable[Any]:
        """All entry keys."""
        raise NotImplementedError

    def values(self) -> Iterable[Any]:
        """All entry values."""
        raise NotImplementedError

    def is_empty(self) -> bool:
        """Whether the current key's map is empty."""
        raise NotImplementedError


class ReducingState(State, Generic[T]):
    """A single value per key, combined from everything added."""

    def get(self) -> Any:
        """The combined value (None if nothing was added)."""
        raise NotImplementedError

    def add(self, value: Any) -> None:
        """Combine a value into the state."""
        raise NotImplementedError


class AggregatingState(State, Generic[IN, OUT]):
    """A single aggregate per key: values are added into an accumulator, ``get`` returns
    the AggregateFunction's result."""

    def get(self) -> Any:
        """The aggregate (None if nothing was added)."""
        raise NotImplementedError

    def add(self, value: Any) -> None:
        """Add a value into the accumulator."""
        raise NotImplementedError
