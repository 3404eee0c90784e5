"""Stateless one-input operators: map, flat_map, filter, process, and sinks.

Each works on a whole batch; the per-record cost is the user's call. Timestamps, when a
batch has them, follow their records (one output per input keeps the input's timestamp;
flat_map and process give every output the timestamp of the record that produced it)::

    >>> op = MapOperator(lambda x: x * 2)
    >>> op.setup(ctx); op.open()                                 # doctest: +SKIP
    >>> op.process_batch([1, 2, 3], None)                        # doctest: +SKIP
    ([2, 4, 6], None)
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from itertools import chain, compress, repeat
from typing import Any

from headwater.api.functions import (
    ProcessContext,
    RichFunction,
    RuntimeContext,
    SinkContext,
    resolve_function,
)
from headwater.runtime.operators.base import OperatorStateSnapshot, StreamOperator, Timestamps
from headwater.runtime.operators.side_outputs import split_side_outputs
from headwater.runtime.state.operator_state import FunctionStateBinding

_from_iterable = chain.from_iterable


def not_opened(*args: Any) -> Any:
    """The per-record call of an operator that was not opened yet."""
    raise RuntimeError("the operator is not open")


class UdfOperator(StreamOperator):
    """An operator around one user function: opens and closes it with the task.

    Subclasses name the function method they call per record (``method``) and a
    description for error messages (``kind``). A function that is a
    ``CheckpointedFunction`` gets its operator state restored before ``open`` and
    snapshot at checkpoints; ``notify_checkpoint_complete``/``_aborted`` are forwarded.
    """

    method = ""
    kind = "function"

    def __init__(self, function: Any) -> None:
        resolve_function(function, self.method, self.kind)  # fail early, at graph build
        self.function = function
        self.call: Callable[..., Any] = not_opened

    @property
    def runtime_context(self) -> RuntimeContext:
        """The function's RuntimeContext (created at open)."""
        return self._runtime_context

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Restore the function's operator state (CheckpointedFunction) before ``open``."""
        self._fn_state = FunctionStateBinding(getattr(self, "function", None),
                                             getattr(self, "ctx", None))
        self._fn_state.initialize(state)

    def _function_state(self) -> FunctionStateBinding:
        binding = getattr(self, "_fn_state", None)
        if binding is None:
            self.initialize_state(None)
            binding = self._fn_state
        return binding

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot | None:
        """The function's operator state (None unless it is a CheckpointedFunction)."""
        return self._function_state().snapshot(checkpoint_id)

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Tell the function (if it listens) that a checkpoint is complete."""
        self._function_state().notify_complete(checkpoint_id)

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        """Tell the function (if it listens) that a checkpoint was aborted."""
        self._function_state().notify_aborted(checkpoint_id)

    def open(self) -> None:
        """Open the user function and bind its per-record method."""
        self._function_state()  # initialize_state(None) unless the task restored state
        self._runtime_context = RuntimeContext(self.ctx)
        if isinstance(self.function, RichFunction):
            self.function.open(self._runtime_context)
        self.call = resolve_function(self.function, self.method, self.kind)

    def close(self) -> None:
        """Close the user function."""
        if isinstance(self.function, RichFunction):
            self.function.close()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for transient in ("call", "ctx", "_runtime_context", "_fn_state"):
            state.pop(transient, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.call = not_opened


class MapOperator(UdfOperator):
    """One output per input: ``fn(value)`` or ``MapFunction.map``."""

    method = "map"
    kind = "MapFunction"

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Map every record."""
        return list(map(self.call, values)), timestamps


class FlatMapOperator(UdfOperator):
    """Zero or more outputs per input: the iterable ``fn(value)`` returns or yields."""

    method = "flat_map"
    kind = "FlatMapFunction"

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Flatten the outputs of every record."""
        fn = self.call
        if timestamps is None:
            return list(_from_iterable(map(fn, values))), None
        out: list = []
        out_ts: list = []
        extend, extend_ts = out.extend, out_ts.extend
        for v, t in zip(values, timestamps, strict=True):
            n = len(out)
            extend(fn(v))
            extend_ts(repeat(t, len(out) - n))
        return out, out_ts


class FilterOperator(UdfOperator):
    """Keeps records for which ``fn(value)`` is true."""

    method = "filter"
    kind = "FilterFunction"

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Keep the records that pass."""
        if timestamps is None:
            return list(filter(self.call, values)), None
        keep = list(map(self.call, values))
        return list(compress(values, keep)), list(compress(timestamps, keep))


class ProcessOperator(UdfOperator):
    """``ProcessFunction.process_element(value, ctx)``: yields (or returns) outputs;
    ``yield output_tag, value`` goes to a side output. Timers need a keyed stream."""

    method = "process_element"
    kind = "ProcessFunction"

    def open(self) -> None:
        """Open the function and create its context."""
        super().open()
        self.process_ctx = ProcessContext()

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Call process_element per record."""
        fn = self.call
        ctx = self.process_ctx
        out: list = []
        extend = out.extend
        if timestamps is None:
            ctx._timestamp = None
            for v in values:
                r = fn(v, ctx)
                if r is not None:
                    extend(r)
            return split_side_outputs(out, None, self.ctx.emit_side_output)
        out_ts: list = []
        extend_ts = out_ts.extend
        for v, t in zip(values, timestamps, strict=True):
            ctx._timestamp = t
            r = fn(v, ctx)
            if r is not None:
                n = len(out)
                extend(r)
                extend_ts(repeat(t, len(out) - n))
        return split_side_outputs(out, out_ts, self.ctx.emit_side_output)

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """Remember the watermark for ``ctx.timer_service().current_watermark()``."""
        self.process_ctx.timer_service().watermark = watermark
        return [], None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("process_ctx", None)
        return state


class SinkOperator(UdfOperator):
    """Consumes records: ``SinkFunction.invoke(value, context)`` or ``fn(value)``."""

    method = "invoke"
    kind = "SinkFunction"

    def open(self) -> None:
        """Open the function and decide how to call it."""
        super().open()
        self.sink_ctx = SinkContext()
        self.with_context = isinstance(self.function, RichFunction)

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Invoke the sink per record; emits nothing."""
        fn = self.call
        if not self.with_context:
            deque(map(fn, values), 0)
        elif timestamps is None:
            ctx = self.sink_ctx
            ctx._timestamp = None
            deque(map(fn, values, repeat(ctx)), 0)
        else:
            ctx = self.sink_ctx
            for v, t in zip(values, timestamps, strict=True):
                ctx._timestamp = t
                fn(v, ctx)
        return [], None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("sink_ctx", None)
        return state


class PrintSinkOperator(StreamOperator):
    """Prints each record on its own line to stdout (or stderr), like Flink's print():
    prefixed "i> " with the 1-based subtask index when parallelism > 1, and with
    "identifier:" when a sink identifier is given."""

    def __init__(self, sink_identifier: str | None = None, to_stderr: bool = False,
                 formatter: Callable[[Any], str] | None = None) -> None:
        self.sink_identifier = sink_identifier
        self.to_stderr = to_stderr
        self.prefix = ""
        #: record -> text (a declared type's Flink format); None: ``str``.
        self.formatter = formatter

    def open(self) -> None:
        """Compute the line prefix."""
        ctx = self.ctx
        prefix = f"{self.sink_identifier}" if self.sink_identifier else ""
        if ctx.parallelism > 1:
            prefix = f"{prefix}:{ctx.subtask_index + 1}" if prefix else f"{ctx.subtask_index + 1}"
        self.prefix = f"{prefix}> " if prefix else ""

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Print the batch in one write."""
        stream = sys.stderr if self.to_stderr else sys.stdout
        prefix = self.prefix
        if self.formatter is not None:
            values = list(map(self.formatter, values))
        stream.write("".join([f"{prefix}{v}\n" for v in values]))
        stream.flush()
        return [], None
