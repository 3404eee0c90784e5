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

import time
from collections.abc import Iterable
from typing import Any

from headwater.api.state import StateDescriptor


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
        """A keyed state handle (ValueState for a ValueStateDescriptor...)."""
        return self._backend().get_state(state_descriptor)

    get_list_state = get_state
    get_map_state = get_state
    get_reducing_state = get_state

    def add_accumulator(self, name: str, accumulator) -> None:
        """Register an accumulator under ``name`` (unique within the subtask)."""
        accs = self._ctx.accumulators
        if name in accs:
            raise ValueError(f"The accumulator '{name}' already exists and cannot be added.")
        accs[name] = accumulator

    def get_accumulator(self, name: str):
        """A registered accumulator (KeyError if unknown)."""
        return self._ctx.accumulators[name]


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


class TimerService:
    """Time queries of a process function. Registering timers is not supported yet."""

    def __init__(self) -> None:
        self.watermark = -(2**63)

    def current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        return time.time_ns() // 1_000_000

    def current_watermark(self) -> int:
        """The operator's current event-time watermark."""
        return self.watermark

    def register_processing_time_timer(self, timestamp: int) -> None:
        """Not implemented yet (timers arrive with a later issue)."""
        raise NotImplementedError("timers are not supported yet")

    def register_event_time_timer(self, timestamp: int) -> None:
        """Not implemented yet (timers arrive with a later issue)."""
        raise NotImplementedError("timers are not supported yet")

    def delete_processing_time_timer(self, timestamp: int) -> None:
        """Not implemented yet (timers arrive with a later issue)."""
        raise NotImplementedError("timers are not supported yet")

    def delete_event_time_timer(self, timestamp: int) -> None:
        """Not implemented yet (timers arrive with a later issue)."""
        raise NotImplementedError("timers are not supported yet")


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
        """Time queries (timers are a later issue)."""
        return self._timer_service

    def get_current_key(self) -> Any:
        """The key of the current record (keyed streams only)."""
        return self._key


class ProcessFunction(RichFunction):
    """Low-level per-record processing: ``process_element(value, ctx)`` yields outputs.

    Returning a list (or None for nothing) works too. ``ctx.timestamp()`` is the record's
    event time.
    """

    Context = ProcessContext

    def process_element(self, value: Any, ctx: ProcessContext) -> Iterable[Any] | None:
        """Outputs for one record."""
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: ProcessContext) -> Iterable[Any] | None:
        """Called when a timer fires (timers are a later issue)."""
        return None


class KeyedProcessFunction(ProcessFunction):
    """Like ProcessFunction, on a keyed stream: ``ctx.get_current_key()`` and keyed state."""


class SourceContext:
    """The ``ctx`` given to ``SourceFunction.run``: emit records with ``collect``."""

    def __init__(self, output, lock=None) -> None:
        self._output = output
        # Direct delegation: no extra Python frame per record.
        self.collect = output.collect
        self.collect_with_timestamp = output.collect_with_timestamp
        self._lock = lock

    def collect(self, value: Any) -> None:  # noqa: F811 - replaced per instance
        """Emit one record."""
        self._output.collect(value)

    def collect_with_timestamp(self, value: Any, timestamp: int) -> None:  # noqa: F811
        """Emit one record with an event timestamp (ms)."""
        self._output.collect_with_timestamp(value, timestamp)

    def emit_watermark(self, watermark: Any) -> None:
        """Not implemented yet (watermarks arrive with the event-time issue)."""
        raise NotImplementedError("watermarks from sources are not supported yet")

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
