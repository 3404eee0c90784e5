"""User function interfaces (PyFlink's names) and the runtime context they see.

Every operator takes either a plain callable or an instance of one of these classes.
Class-based functions get ``open(runtime_context)`` before the first record and
``close()`` at the end, and may use keyed state and accumulators through the
:class:`RuntimeContext`::

    class Tokenizer(FlatMapFunction):
        def open(self, runtime_context):
            self.lines = runtime_context.get_index_of_this_subtask()

        def flat_map(self, value):
            yield from value.split()

    stream.flat_map(Tokenizer())            # a function class
    stream.flat_map(lambda line: line.split())  # or any callable
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from headwater.api.state import StateDescriptor

IN = TypeVar("IN")
OUT = TypeVar("OUT")
KEY = TypeVar("KEY")
W = TypeVar("W")
T = TypeVar("T")


class RuntimeContext:
    """What a running function can ask about its subtask (Flink's RuntimeContext)."""

    def __init__(self, operator_context) -> None:
        self._ctx = operator_context

    def get_task_name(self) -> str:
        """The vertex name, e.g. "Source: lines -> split"."""
        return self._ctx.task_name

    def get_task_name_with_subtasks(self) -> str:
        """Name plus subtask, e.g. "Map (1/2)"."""
        return f"{self._ctx.task_name} ({self._ctx.subtask_index + 1}/{self._ctx.parallelism})"

    def get_index_of_this_subtask(self) -> int:
        """0-based subtask index."""
        return self._ctx.subtask_index

    def get_number_of_parallel_subtasks(self) -> int:
        """Parallelism of the operator."""
        return self._ctx.parallelism

    def get_max_number_of_parallel_subtasks(self) -> int:
        """Max parallelism (number of key groups)."""
        return self._ctx.max_parallelism

    def get_attempt_number(self) -> int:
        """0 for the first deployment, +1 per restart."""
        return self._ctx.attempt_number

    def get_job_id(self) -> str:
        """The job's id (32 hex)."""
        return self._ctx.job_id

    def get_operator_id(self) -> str:
        """The operator's id (32 hex)."""
        return self._ctx.operator_id

    def _backend(self):
        backend = self._ctx.keyed_state_backend
        if backend is None:
            raise RuntimeError("Keyed state can only be used on a 'keyed stream', i.e., "
                               "after a 'key_by()' operation.")
        return backend

    def get_state(self, state_descriptor: StateDescriptor):
        """A keyed state handle (ValueState for a ValueStateDescriptor...); values
        written are converted to the descriptor's type when it declares one."""
        handle = self._backend().get_state(state_descriptor)
        if state_descriptor.type_info is None and \
                getattr(state_descriptor, "value_type_info", None) is None:
            return handle
        from headwater.api.typed_state import typed_state

        return typed_state(handle, state_descriptor)

    get_list_state = get_state
    get_map_state = get_state
    get_reducing_state = get_state
    get_aggregating_state = get_state

    def add_accumulator(self, name: str, accumulator) -> None:
        """Register an accumulator under ``name`` (unique within the subtask)."""
        accs = self._ctx.accumulators
        if name in accs:
            raise ValueError(f"The accumulator '{name}' already exists and cannot be added.")
        accs[name] = accumulator

    def get_accumulator(self, name: str):
        """A registered accumulator (KeyError if unknown)."""
        return self._ctx.accumulators[name]

    def get_job_parameter(self, key: str, default_value: str | None = None) -> str | None:
        """A global job parameter (``env.get_config().set_global_job_parameters``)."""
        return getattr(self._ctx, "job_parameters", {}).get(key, default_value)

    def get_metrics_group(self):
        """This operator's metric group: ``counter``, ``gauge``, ``meter``, ``histogram``
        and ``add_group``; what is registered there shows in the REST API's metrics."""
        return self._ctx.metric_group


class RichFunction:
    """Base of all function classes: lifecycle hooks around the records."""

    def open(self, runtime_context: RuntimeContext) -> None:
        """Called once per subtask before the first record."""

    def close(self) -> None:
        """Called once per subtask at the end (also after failure or cancel)."""


#: PyFlink's name of the base class.
Function = RichFunction


class MapFunction(RichFunction):
    """One output per input: implement ``map(value)``."""

    def map(self, value: Any) -> Any:
        """Transform one record."""
        raise NotImplementedError


class FlatMapFunction(RichFunction):
    """Any number of outputs per input: ``flat_map(value)`` returns or yields them."""

    def flat_map(self, value: Any) -> Iterable[Any]:
        """The records produced for one input."""
        raise NotImplementedError


class FilterFunction(RichFunction):
    """Keep a record when ``filter(value)`` is true."""

    def filter(self, value: Any) -> bool:
        """Whether to keep the record."""
        raise NotImplementedError


class ReduceFunction(RichFunction):
    """Combine two values of a key into one: ``reduce(a, b)``."""

    def reduce(self, value1: Any, value2: Any) -> Any:
        """The combination of the running value and a new one."""
        raise NotImplementedError


class KeySelector(RichFunction):
    """Extract the key of a record: ``get_key(value)``."""

    def get_key(self, value: Any) -> Any:
        """The record's key."""
        raise NotImplementedError


class TimeDomain(enum.Enum):
    """Which clock a timer belongs to (``ctx.time_domain()`` in ``on_timer``)."""

    EVENT_TIME = 0
    PROCESSING_TIME = 1


class TimerService:
    """Time queries and timers of a process function.

    On keyed streams the operator provides a service whose timers belong to the current
    key; here (non-keyed streams) registering a timer fails, as in Flink.
    """

    def __init__(self) -> None:
        self.watermark = -(2**63)

    def current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        return time.time_ns() // 1_000_000

    def current_watermark(self) -> int:
        """The operator's current event-time watermark."""
        return self.watermark

    def _no_timers(self) -> None:
        raise RuntimeError("Setting timers is only supported on a keyed streams.")

    def register_processing_time_timer(self, timestamp: int) -> None:
        """Call ``on_timer`` when processing time reaches ``timestamp`` (keyed only)."""
        self._no_timers()

    def register_event_time_timer(self, timestamp: int) -> None:
        """Call ``on_timer`` when the watermark reaches ``timestamp`` (keyed only)."""
        self._no_timers()

    def delete_processing_time_timer(self, timestamp: int) -> None:
        """Forget a processing-time timer of the current key (keyed only)."""
        self._no_timers()

    def delete_event_time_timer(self, timestamp: int) -> None:
        """Forget an event-time timer of the current key (keyed only)."""
        self._no_timers()


class ProcessContext:
    """The ``ctx`` of ``process_element``: the record's timestamp and the timer service."""

    __slots__ = ("_timestamp", "_timer_service", "_key")

    def __init__(self, timer_service: TimerService | None = None) -> None:
        self._timestamp: int | None = None
        self._timer_service = timer_service or TimerService()
        self._key: Any = None

    def timestamp(self) -> int | None:
        """Event timestamp of the current record (None when it has none)."""
        return self._timestamp

    def timer_service(self) -> TimerService:
        """Time queries and (on keyed streams) timers of the current key."""
        return self._timer_service

    def get_current_key(self) -> Any:
        """The key of the current record (keyed streams only)."""
        return self._key


class OnTimerContext(ProcessContext):
    """The ``ctx`` of ``on_timer``: ``timestamp()`` is the timer's time,
    ``get_current_key()`` its key, ``time_domain()`` its clock."""

    __slots__ = ("_time_domain",)

    def __init__(self, timer_service: TimerService | None = None) -> None:
        super().__init__(timer_service)
        self._time_domain = TimeDomain.EVENT_TIME

    def time_domain(self) -> TimeDomain:
        """EVENT_TIME or PROCESSING_TIME."""
        return self._time_domain


#: The module's OnTimerContext (inside ProcessFunction the name is its class attribute).
_OnTimerContext = OnTimerContext


class ProcessFunction(RichFunction):
    """Low-level per-record processing: ``process_element(value, ctx)`` yields outputs.

    Returning a list (or None for nothing) works too. ``ctx.timestamp()`` is the record's
    event time; ``yield output_tag, value`` sends ``value`` to a side output. On keyed
    streams ``ctx.timer_service()`` registers timers, and ``on_timer(timestamp, ctx)``
    yields what they produce::

        class Timeout(KeyedProcessFunction):
            def process_element(self, value, ctx):
                ctx.timer_service().register_event_time_timer(ctx.timestamp() + 1000)
                yield value

            def on_timer(self, timestamp, ctx):
                yield ("timeout", ctx.get_current_key(), timestamp)
    """

    Context = ProcessContext
    OnTimerContext = OnTimerContext

    def process_element(self, value: Any, ctx: ProcessContext) -> Iterable[Any] | None:
        """Outputs for one record."""
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: _OnTimerContext) -> Iterable[Any] | None:
        """Outputs when a timer of ``ctx.get_current_key()`` fires at ``timestamp``."""
        return None


class KeyedProcessFunction(ProcessFunction):
    """Like ProcessFunction, on a keyed stream: ``ctx.get_current_key()``, keyed state
    and timers."""


class AggregateFunction(RichFunction):
    """Incremental aggregation of a window (or any group): an accumulator is created,
    values are added, accumulators merge (session windows), and ``get_result`` reads it::

        class Average(AggregateFunction):
            def create_accumulator(self):
                return (0, 0)

            def add(self, value, accumulator):
                return accumulator[0] + value[1], accumulator[1] + 1

            def get_result(self, accumulator):
                return accumulator[0] / accumulator[1]

            def merge(self, a, b):
                return a[0] + b[0], a[1] + b[1]
    """

    def create_accumulator(self) -> Any:
        """A new, empty accumulator."""
        raise NotImplementedError

    def add(self, value: Any, accumulator: Any) -> Any:
        """The accumulator with ``value`` added (may be the same object)."""
        raise NotImplementedError

    def get_result(self, accumulator: Any) -> Any:
        """The aggregate of an accumulator."""
        raise NotImplementedError

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        """Two accumulators combined."""
        raise NotImplementedError


class WindowFunction(RichFunction, Generic[IN, OUT, KEY, W]):
    """Evaluates a fired window: ``apply(key, window, inputs)`` yields the results."""

    def apply(self, key: Any, window: Any, inputs: Iterable[Any]) -> Iterable[Any]:
        """Results for the window's contents."""
        raise NotImplementedError


class ProcessWindowContext(Generic[W]):
    """The ``context`` of ``ProcessWindowFunction.process`` (``ProcessAllWindowFunction``
    too: its ``global_state`` is the operator's, not a key's)."""

    def window(self) -> Any:
        """The window being evaluated."""
        raise NotImplementedError

    def current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        raise NotImplementedError

    def current_watermark(self) -> int:
        """The operator's current watermark."""
        raise NotImplementedError

    def global_state(self) -> Any:
        """Keyed state of the current key across windows (``get_state(descriptor)``)."""
        raise NotImplementedError

    def window_state(self) -> Any:
        """State of the current key and window (``get_state(descriptor)``); clear it in
        ``clear(context)``."""
        raise NotImplementedError


class ProcessWindowFunction(RichFunction, Generic[IN, OUT, KEY, W]):
    """Evaluates a fired window with context: ``process(key, context, elements)`` yields
    the results; ``context.window()`` is the window. ``clear(context)`` runs when the
    window's state is removed."""

    Context = ProcessWindowContext

    def process(self, key: Any, context: ProcessWindowContext, elements: Iterable[Any]
                ) -> Iterable[Any]:
        """Results for the window's contents."""
        raise NotImplementedError

    def clear(self, context: ProcessWindowContext) -> None:
        """The window is purged for good."""


class AllWindowFunction(RichFunction, Generic[IN, OUT, W]):
    """Evaluates a fired window of ``window_all``: ``apply(window, inputs)`` yields the
    results."""

    def apply(self, window: Any, inputs: Iterable[Any]) -> Iterable[Any]:
        """Results for the window's contents."""
        raise NotImplementedError


class ProcessAllWindowFunction(RichFunction, Generic[IN, OUT, W]):
    """Evaluates a fired window of ``window_all`` with context: ``process(context,
    elements)`` yields the results."""

    Context = ProcessWindowContext

    def process(self, context: ProcessWindowContext, elements: Iterable[Any]
                ) -> Iterable[Any]:
        """Results for the window's contents."""
        raise NotImplementedError

    def clear(self, context: ProcessWindowContext) -> None:
        """The window is purged for good."""


class Partitioner(RichFunction):
    """Chooses the downstream subtask of a key: ``partition(key, num_partitions)``
    (for ``partition_custom``)."""

    def partition(self, key: Any, num_partitions: int) -> int:
        """A subtask index in ``[0, num_partitions)``."""
        raise NotImplementedError


class SourceContext:
    """The ``ctx`` given to ``SourceFunction.run``: emit records with ``collect``."""

    #: ``collect(value)``: emit one record.
    collect: Callable[[Any], None]
    #: ``collect_with_timestamp(value, timestamp)``: emit one record with an event
    #: timestamp (ms).
    collect_with_timestamp: Callable[[Any, int], None]

    def __init__(self, output, lock=None) -> None:
        self._output = output
        # Direct delegation: no extra Python frame per record.
        self.collect = output.collect
        self.collect_with_timestamp = output.collect_with_timestamp
        self._lock = lock

    def emit_watermark(self, watermark: Any) -> None:
        """Event time of this source reached ``watermark`` (an int of ms, or an object
        with a ``timestamp``)."""
        self._output.emit_watermark(int(getattr(watermark, "timestamp", watermark)))

    def get_checkpoint_lock(self):
        """The lock to hold while changing state that checkpoints read."""
        return self._lock

    def mark_as_temporarily_idle(self) -> None:
        """Accepted for compatibility; does nothing yet."""


class SourceFunction(RichFunction):
    """A source: ``run(ctx)`` emits with ``ctx.collect`` until done or ``cancel()`` is
    called (from another thread): set a flag there and return from ``run``."""

    def run(self, ctx: SourceContext) -> None:
        """Produce records."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Ask ``run`` to return."""


class SinkContext:
    """The ``context`` of ``SinkFunction.invoke``."""

    __slots__ = ("_timestamp", "_timer_service")

    def __init__(self, timer_service: TimerService | None = None) -> None:
        self._timestamp: int | None = None
        self._timer_service = timer_service or TimerService()

    def timestamp(self) -> int | None:
        """Event timestamp of the current record, or None."""
        return self._timestamp

    def current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        return self._timer_service.current_processing_time()

    def current_watermark(self) -> int:
        """The current watermark."""
        return self._timer_service.current_watermark()


class SinkFunction(RichFunction):
    """A sink: ``invoke(value, context)`` per record."""

    Context = SinkContext

    def invoke(self, value: Any, context: SinkContext) -> None:
        """Consume one record."""
        raise NotImplementedError


def resolve_function(fn: Any, method: str, kind: str):
    """The per-record callable of ``fn``: its ``method`` for function classes, else ``fn``.

    Raises TypeError when ``fn`` is neither.
    """
    if isinstance(fn, RichFunction):
        bound = getattr(fn, method, None)
        if bound is not None and callable(bound):
            return bound
    if callable(fn):
        return fn
    raise TypeError(f"expected a {kind} or a callable, got {type(fn).__name__}")
