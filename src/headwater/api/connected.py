"""Connected streams and broadcast state (PyFlink's ``ConnectedStreams``,
``BroadcastStream``, ``BroadcastConnectedStream`` and their co-functions).

``a.connect(b)`` joins two streams of possibly different types into one operator that
sees both, and whose function can share state between them::

    class Enrich(KeyedCoProcessFunction):
        def open(self, runtime_context):
            self.name = runtime_context.get_state(ValueStateDescriptor("name"))

        def process_element1(self, user, ctx):        # from a
            self.name.update(user[1])

        def process_element2(self, order, ctx):       # from b
            yield order[0], self.name.value(), order[1]

    a.connect(b).key_by(lambda u: u[0], lambda o: o[0]).process(Enrich())

``stream.broadcast(descriptor)`` makes a :class:`BroadcastStream`: every record reaches
every parallel instance of the operator it is connected to, whose
``process_broadcast_element`` writes the broadcast state (``ctx.get_broadcast_state``, a
dict-like state per :class:`MapStateDescriptor`, the same on every subtask) while
``process_element`` of the other side reads it::

    rules = MapStateDescriptor("rules", Types.STRING(), Types.INT())
    events.key_by(0).connect(rule_stream.broadcast(rules)).process(ApplyRules())

How it runs. The runtime has one-input tasks only; a two-input operator is still faithful
to Flink's two-input operator because of how its input is built:

* every edge into it carries Flink's ``typeNumber`` (1 or 2), and the upstream record
  writer wraps each record as ``(0, value)`` or ``(1, value)`` after choosing its channel,
  so each side keeps its own partitioning (forward, rebalance, hash by that side's key
  selector, broadcast) and the co-operator dispatches on the tag (``map1``/``map2``,
  ``process_element1``/``process_element2``, ``process_broadcast_element``);
* the task's input gate holds the channels of both edges, and its watermark valve
  (``StatusWatermarkValve``) keeps one watermark per channel and forwards the minimum
  over all channels that are neither idle nor ended: the minimum over both inputs, which
  is what Flink's two-input operator computes (the minimum of the two inputs' minimums);
* the barrier aligner likewise tracks every channel, so a checkpoint is taken once both
  inputs delivered the barrier (aligned, exactly once);
* both keyed sides are hash partitioned into the same key groups of the co-operator's
  max parallelism, so a key's records of either side meet its state and timers in one
  subtask, and rescaling moves them together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from headwater.api.functions import (
    ProcessContext,
    RichFunction,
    TimeDomain,
    TimerService,
)
from headwater.api.state import MapStateDescriptor, State, StateDescriptor
from headwater.api.transformations import Partitioning, StreamInput, Transformation
from headwater.api.typeinfo import check_type_info

if TYPE_CHECKING:
    from headwater.api.datastream import DataStream
    from headwater.api.environment import StreamExecutionEnvironment


# -- broadcast state ------------------------------------------------------------------------


class ReadOnlyBroadcastState(State):
    """The broadcast state as ``process_element`` and ``on_timer`` see it: reads only."""

    __slots__ = ("_name", "_entries")

    def __init__(self, name: str, entries: dict[Any, Any]) -> None:
        self._name = name
        self._entries = entries

    def get(self, key: Any) -> Any:
        """The value of ``key`` (None if absent)."""
        return self._entries.get(key)

    def contains(self, key: Any) -> bool:
        """Whether ``key`` has a value."""
        return key in self._entries

    def items(self) -> Iterable[tuple[Any, Any]]:
        """All entries."""
        return list(self._entries.items())

    def keys(self) -> Iterable[Any]:
        """All keys."""
        return list(self._entries)

    def values(self) -> Iterable[Any]:
        """All values."""
        return list(self._entries.values())

    def is_empty(self) -> bool:
        """Whether there are no entries."""
        return not self._entries

    def __getitem__(self, key: Any) -> Any:
        return self._entries.get(key)

    def __contains__(self, key: Any) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def _read_only(self, *args: Any) -> Any:
        raise RuntimeError(
            f"The broadcast state {self._name!r} is read-only here: only "
            "process_broadcast_element may modify broadcast state (process_element and "
            "on_timer get a read-only view, as in Flink)")

    put = put_all = remove = clear = __setitem__ = __delitem__ = _read_only


class BroadcastState(ReadOnlyBroadcastState):
    """The broadcast state in ``process_broadcast_element``: reads and writes. Every
    subtask gets the same broadcast records, so it stays the same everywhere as long as
    the function's changes depend only on them."""

    __slots__ = ()

    def put(self, key: Any, value: Any) -> None:
        """Set one entry."""
        self._entries[key] = value

    def put_all(self, entries: dict) -> None:
        """Set many entries."""
        self._entries.update(entries)

    def remove(self, key: Any) -> None:
        """Delete one entry (no error when absent)."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Delete every entry."""
        self._entries.clear()

    def __setitem__(self, key: Any, value: Any) -> None:
        self._entries[key] = value

    def __delitem__(self, key: Any) -> None:
        self._entries.pop(key, None)


# -- contexts of broadcast functions --------------------------------------------------------


class _BroadcastContextBase:
    """Timestamp, time queries, side outputs and the broadcast states."""

    def __init__(self, states: Callable[[Any], dict[Any, Any]], timer_service: TimerService,
                 writable: bool) -> None:
        self._states = states
        self._timer_service = timer_service
        self._writable = writable
        self._timestamp: int | None = None
        self._key: Any = None
        self._out: list | None = None

    def timestamp(self) -> int | None:
        """Event timestamp of the current record (None when it has none)."""
        return self._timestamp

    def current_processing_time(self) -> int:
        """The operator's processing time (ms)."""
        return self._timer_service.current_processing_time()

    def current_watermark(self) -> int:
        """The operator's current watermark."""
        return self._timer_service.current_watermark()

    def get_broadcast_state(self, state_descriptor: MapStateDescriptor) -> Any:
        """The broadcast state of ``state_descriptor`` (one of those given to
        ``broadcast(...)``)."""
        if not isinstance(state_descriptor, MapStateDescriptor):
            raise TypeError("broadcast state is described by a MapStateDescriptor")
        entries = self._states(state_descriptor)
        cls = BroadcastState if self._writable else ReadOnlyBroadcastState
        return cls(state_descriptor.name, entries)

    def output(self, output_tag: Any, value: Any) -> None:
        """Send ``value`` to the side output ``output_tag``."""
        if self._out is None:
            raise RuntimeError("ctx.output() can only be called while processing")
        self._out.append((output_tag, value))


class BroadcastReadOnlyContext(_BroadcastContextBase):
    """``ctx`` of ``process_element``: broadcast state read-only; on a keyed stream also
    ``get_current_key()`` and ``timer_service()``."""

    def get_current_key(self) -> Any:
        """The key of the current record (keyed streams only)."""
        return self._key

    def timer_service(self) -> TimerService:
        """Timers of the current key (keyed streams only)."""
        return self._timer_service


class BroadcastOnTimerContext(BroadcastReadOnlyContext):
    """``ctx`` of ``on_timer``: like the read-only context, plus ``time_domain()``."""

    def __init__(self, states: Callable[[Any], dict[Any, Any]],
                 timer_service: TimerService) -> None:
        super().__init__(states, timer_service, writable=False)
        self._time_domain = TimeDomain.EVENT_TIME

    def time_domain(self) -> TimeDomain:
        """EVENT_TIME or PROCESSING_TIME."""
        return self._time_domain


class BroadcastContext(_BroadcastContextBase):
    """``ctx`` of ``process_broadcast_element``: writable broadcast state; on a keyed
    stream ``apply_to_keyed_state``."""

    def __init__(self, states: Callable[[Any], dict[Any, Any]], timer_service: TimerService,
                 apply_to_keyed_state: Callable[[StateDescriptor, Callable], None] | None = None
                 ) -> None:
        super().__init__(states, timer_service, writable=True)
        self._apply = apply_to_keyed_state

    def apply_to_keyed_state(self, state_descriptor: StateDescriptor,
                             function: Callable[[Any, Any], None]) -> None:
        """Call ``function(key, state)`` for every key that has state of
        ``state_descriptor`` in this subtask (keyed streams only)."""
        if self._apply is None:
            raise RuntimeError("apply_to_keyed_state needs a keyed stream "
                               "(a KeyedBroadcastProcessFunction)")
        self._apply(state_descriptor, function)


class CoProcessContext(ProcessContext):
    """``ctx`` of ``process_element1``/``process_element2``: the record's timestamp, the
    timer service, on keyed streams ``get_current_key()``, and ``output(tag, value)``."""

    __slots__ = ("_out",)

    def __init__(self, timer_service: TimerService | None = None) -> None:
        super().__init__(timer_service)
        self._out: list | None = None

    def output(self, output_tag: Any, value: Any) -> None:
        """Send ``value`` to the side output ``output_tag``."""
        if self._out is None:
            raise RuntimeError("ctx.output() can only be called while processing")
        self._out.append((output_tag, value))


class CoOnTimerContext(CoProcessContext):
    """``ctx`` of a KeyedCoProcessFunction's ``on_timer``: also ``time_domain()``."""

    __slots__ = ("_time_domain",)

    def __init__(self, timer_service: TimerService | None = None) -> None:
        super().__init__(timer_service)
        self._time_domain = TimeDomain.EVENT_TIME

    def time_domain(self) -> TimeDomain:
        """EVENT_TIME or PROCESSING_TIME."""
        return self._time_domain


# -- co-functions ---------------------------------------------------------------------------


class CoMapFunction(RichFunction):
    """A map over two connected streams: ``map1`` for the first, ``map2`` for the second;
    one instance serves both, so they can share state."""

    def map1(self, value: Any) -> Any:
        """The output for a record of the first stream."""
        raise NotImplementedError

    def map2(self, value: Any) -> Any:
        """The output for a record of the second stream."""
        raise NotImplementedError


class CoFlatMapFunction(RichFunction):
    """A flat map over two connected streams: ``flat_map1``/``flat_map2`` return or
    yield any number of outputs."""

    def flat_map1(self, value: Any) -> Iterable[Any] | None:
        """Outputs for a record of the first stream."""
        raise NotImplementedError

    def flat_map2(self, value: Any) -> Iterable[Any] | None:
        """Outputs for a record of the second stream."""
        raise NotImplementedError


class CoProcessFunction(RichFunction):
    """Per-record processing of two connected streams: ``process_element1(value, ctx)``
    and ``process_element2(value, ctx)`` yield outputs (``yield output_tag, value`` or
    ``ctx.output(output_tag, value)`` for side outputs); ``ctx.timestamp()`` is the
    record's event time."""

    Context = CoProcessContext
    OnTimerContext = CoOnTimerContext

    def process_element1(self, value: Any, ctx: CoProcessContext) -> Iterable[Any] | None:
        """Outputs for a record of the first stream."""
        raise NotImplementedError

    def process_element2(self, value: Any, ctx: CoProcessContext) -> Iterable[Any] | None:
        """Outputs for a record of the second stream."""
        raise NotImplementedError


class KeyedCoProcessFunction(CoProcessFunction):
    """Like CoProcessFunction, on keyed connected streams: keyed state shared by both
    sides, ``ctx.get_current_key()``, timers (``ctx.timer_service()``) and
    ``on_timer(timestamp, ctx)``."""

    def on_timer(self, timestamp: int, ctx: CoOnTimerContext) -> Iterable[Any] | None:
        """Outputs when a timer of ``ctx.get_current_key()`` fires at ``timestamp``."""
        return None


class BaseBroadcastProcessFunction(RichFunction):
    """What (Keyed)BroadcastProcessFunction share: ``process_element`` sees the broadcast
    state read-only, ``process_broadcast_element`` may change it."""

    ReadOnlyContext = BroadcastReadOnlyContext
    Context = BroadcastContext

    def process_element(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        """Outputs for a record of the non-broadcast stream (``ctx`` is a ReadOnlyContext)."""
        raise NotImplementedError

    def process_broadcast_element(self, value: Any, ctx: Any) -> Iterable[Any] | None:
        """Outputs for a record of the broadcast stream (``ctx`` is a Context)."""
        raise NotImplementedError


class BroadcastProcessFunction(BaseBroadcastProcessFunction):
    """Connects a non-keyed stream with a broadcast stream::

        class Threshold(BroadcastProcessFunction):
            def process_element(self, value, ctx):
                limit = ctx.get_broadcast_state(LIMITS).get("max")
                if limit is None or value <= limit:
                    yield value

            def process_broadcast_element(self, value, ctx):
                ctx.get_broadcast_state(LIMITS).put("max", value)
    """


class KeyedBroadcastProcessFunction(BaseBroadcastProcessFunction):
    """Connects a keyed stream with a broadcast stream: ``process_element`` has keyed
    state, ``ctx.get_current_key()`` and timers (``on_timer``);
    ``process_broadcast_element`` may visit every key's state with
    ``ctx.apply_to_keyed_state(descriptor, fn)``."""

    OnTimerContext = BroadcastOnTimerContext

    def on_timer(self, timestamp: int, ctx: Any) -> Iterable[Any] | None:
        """Outputs when a timer of ``ctx.get_current_key()`` fires at ``timestamp``."""
        return None



# -- transformations ------------------------------------------------------------------------


#: Co-function kind -> (function class, method of input 1, method of input 2).
CO_METHODS: dict[str, tuple[type, str, str]] = {
    "map": (CoMapFunction, "map1", "map2"),
    "flat_map": (CoFlatMapFunction, "flat_map1", "flat_map2"),
    "process": (CoProcessFunction, "process_element1", "process_element2"),
}


@dataclasses.dataclass(eq=False, kw_only=True)
class CoTransformation(Transformation):
    """``map``/``flat_map``/``process`` on ConnectedStreams: one two-input operator."""

    function: Any
    #: "map", "flat_map" or "process" (CO_METHODS)
    co_kind: str
    #: The key selectors of input 1 and 2 when both inputs are keyed, else None.
    key_selectors: tuple[Any, Any] | None = None

    def __post_init__(self) -> None:
        cls, m1, m2 = CO_METHODS[self.co_kind]
        if not isinstance(self.function, cls):
            raise TypeError(f"The input function must be a {cls.__name__}, got "
                            f"{type(self.function).__name__}")
        for m in (m1, m2):
            if not callable(getattr(self.function, m, None)):
                raise TypeError(f"a {cls.__name__} needs {m}()")


@dataclasses.dataclass(eq=False, kw_only=True)
class BroadcastProcessTransformation(Transformation):
    """``process`` on a BroadcastConnectedStream; input 1 is the non-broadcast stream,
    input 2 the broadcast stream."""

    function: Any
    descriptors: list[MapStateDescriptor]
    #: The non-broadcast stream's key selector (KeyedBroadcastProcessFunction), or None.
    key_selector: Any = None


# -- streams --------------------------------------------------------------------------------


def _inputs_of(stream: DataStream, type_number: int) -> list[StreamInput]:
    return [dataclasses.replace(i, type_number=type_number) for i in stream._inputs]


class ConnectedStreams:
    """Two streams connected into one operator (``first.connect(second)``)::

        first.connect(second).map(MyCoMapFunction())
        first.connect(second).key_by(key1, key2).process(MyKeyedCoProcessFunction())
    """

    def __init__(self, stream1: DataStream, stream2: DataStream) -> None:
        if stream1._env is not stream2._env:
            raise ValueError("cannot connect streams of different environments")
        self.stream1 = stream1
        self.stream2 = stream2

    def get_execution_environment(self) -> StreamExecutionEnvironment:
        """The environment of both streams."""
        return self.stream1._env

    def _is_keyed_stream(self) -> bool:
        from headwater.api.datastream import KeyedStream

        return isinstance(self.stream1, KeyedStream) and isinstance(self.stream2, KeyedStream)

    def key_by(self, key_selector1: Any, key_selector2: Any,
               key_type: Any = None) -> ConnectedStreams:
        """Key both inputs (records of either side with equal keys meet in the same
        keyed state): a callable, KeySelector, tuple index or field name per side."""
        return ConnectedStreams(self.stream1.key_by(key_selector1, key_type),
                                self.stream2.key_by(key_selector2, key_type))

    def _co(self, co_kind: str, name: str, func: Any, output_type: Any = None) -> DataStream:
        from headwater.api.datastream import DataStream, KeyedStream

        selectors = None
        if self._is_keyed_stream():
            s1, s2 = self.stream1, self.stream2
            assert isinstance(s1, KeyedStream) and isinstance(s2, KeyedStream)
            selectors = (s1.get_key_selector(), s2.get_key_selector())
        env = self.stream1._env
        node = env._add_transformation(
            CoTransformation, name, "",
            _inputs_of(self.stream1, 1) + _inputs_of(self.stream2, 2),
            function=func, co_kind=co_kind, key_selectors=selectors,
            output_type=check_type_info(output_type, "output_type"))
        return DataStream._of(env, node)

    def map(self, func: CoMapFunction, output_type: Any = None) -> DataStream:
        """One output per record of either stream (a CoMapFunction)."""
        return self._co("map", "Co-Map", func, output_type)

    def flat_map(self, func: CoFlatMapFunction, output_type: Any = None) -> DataStream:
        """Any number of outputs per record of either stream (a CoFlatMapFunction)."""
        return self._co("flat_map", "Co-Flat Map", func, output_type)

    def process(self, func: CoProcessFunction, output_type: Any = None) -> DataStream:
        """A CoProcessFunction, or on keyed inputs a KeyedCoProcessFunction (keyed state,
        timers, ``on_timer``)."""
        keyed = self._is_keyed_stream()
        if isinstance(func, KeyedCoProcessFunction) and not keyed:
            raise TypeError("a KeyedCoProcessFunction needs keyed connected streams: call "
                            "key_by(key_selector1, key_selector2) first")
        return self._co("process", "Keyed Co-Process" if keyed else "Co-Process", func,
                        output_type)

    co_map = map
    co_flat_map = flat_map
    co_process = process


class BroadcastStream:
    """A stream whose records reach every parallel instance of the operator it is
    connected to, with the broadcast states its descriptors name
    (``stream.broadcast(descriptor, ...)``)."""

    def __init__(self, stream: DataStream, descriptors: list[MapStateDescriptor]) -> None:
        for d in descriptors:
            if not isinstance(d, MapStateDescriptor):
                raise TypeError("broadcast state is described by MapStateDescriptors, got "
                                f"{type(d).__name__}")
        names = [d.name for d in descriptors]
        if len(set(names)) != len(names):
            raise ValueError(f"broadcast state names must be unique, got {names}")
        self._stream = stream
        self.broadcast_state_descriptors = list(descriptors)

    def get_execution_environment(self) -> StreamExecutionEnvironment:
        """The environment the stream belongs to."""
        return self._stream._env


class BroadcastConnectedStream:
    """A (keyed or non-keyed) stream connected with a BroadcastStream
    (``stream.connect(broadcast_stream)``); ``process`` applies a
    (Keyed)BroadcastProcessFunction."""

    def __init__(self, non_broadcast_stream: DataStream,
                 broadcast_stream: BroadcastStream) -> None:
        if non_broadcast_stream._env is not broadcast_stream._stream._env:
            raise ValueError("cannot connect streams of different environments")
        self.non_broadcast_stream = non_broadcast_stream
        self.broadcast_stream = broadcast_stream
        self.broadcast_state_descriptors = broadcast_stream.broadcast_state_descriptors

    def get_execution_environment(self) -> StreamExecutionEnvironment:
        """The environment of both streams."""
        return self.non_broadcast_stream._env

    def process(self, func: BaseBroadcastProcessFunction, output_type: Any = None
                ) -> DataStream:
        """Apply a BroadcastProcessFunction (non-keyed stream) or a
        KeyedBroadcastProcessFunction (keyed stream)."""
        from headwater.api.datastream import DataStream, KeyedStream

        stream = self.non_broadcast_stream
        keyed = isinstance(stream, KeyedStream)
        if keyed and not isinstance(func, KeyedBroadcastProcessFunction):
            raise TypeError("The input function must be a KeyedBroadcastProcessFunction on "
                            "a keyed stream")
        if not keyed and not isinstance(func, BroadcastProcessFunction):
            raise TypeError("The input function must be a BroadcastProcessFunction on a "
                            "non-keyed stream (a KeyedBroadcastProcessFunction needs "
                            "key_by() first)")
        env = stream._env
        broadcast_inputs = [dataclasses.replace(i, partitioning=Partitioning.BROADCAST,
                                                key_selector=None, type_number=2)
                            for i in self.broadcast_stream._stream._inputs]
        node = env._add_transformation(
            BroadcastProcessTransformation,
            "Co-Process-Broadcast-Keyed" if keyed else "Co-Process-Broadcast", "",
            _inputs_of(stream, 1) + broadcast_inputs, function=func,
            descriptors=list(self.broadcast_state_descriptors),
            key_selector=stream.get_key_selector() if isinstance(stream, KeyedStream)
            else None, output_type=check_type_info(output_type, "output_type"))
        return DataStream._of(env, node)

    co_process = process

