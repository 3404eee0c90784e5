"""The operator contract between a chain and the task that runs it.

Records travel in batches: an operator gets a list of values (plus, when event time is
in use, a parallel list of timestamps) and returns the list it emits. A chain passes a
batch through each operator in turn, so per-record costs are the user's function calls
and nothing else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

#: A batch's optional timestamps: None, or a list as long as the values.
Timestamps = list[int] | None

#: Non-keyed operator state as operators snapshot it: state name -> (mode, items).
#: ``mode`` says how a list of items is redistributed when parallelism changes, as
#: Flink's operator list state: "split" (even-split: the items of all old subtasks are
#: dealt out among the new ones), "union" (every new subtask gets all items) or
#: "broadcast" (every subtask holds the same items, e.g. broadcast state: every new
#: subtask gets one old subtask's copy).
#: Anything else may be stored under mode "opaque": it is restored only when the
#: parallelism is unchanged.
OperatorStateSnapshot = dict[str, tuple[str, Any]]


@dataclasses.dataclass
class OperatorContext:
    """What the task gives each operator at setup: identity, state and accumulators."""

    job_id: str
    vertex_id: str
    operator_id: str
    task_name: str  # the vertex name, e.g. "Source: lines -> split"
    operator_name: str
    subtask_index: int
    parallelism: int
    max_parallelism: int
    attempt_number: int
    #: Keyed state backend of the task (None when the operator is not keyed).
    keyed_state_backend: Any = None
    #: Accumulators of this subtask, name -> accumulator object (shared by the chain).
    accumulators: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Processing-time timers of the task (``register_timer(ts, callback)``).
    processing_time_service: Any = None
    #: ``emit_watermark(ts)``: sends a watermark from this operator down the chain.
    emit_watermark: Any = None
    #: ``emit_side_output(tag_id, values, timestamps)``: records for a side output.
    emit_side_output: Any = None
    #: ``emit_watermark_status(idle)``: this subtask's output became idle (excluded from
    #: downstream watermark minimums) or active again.
    emit_watermark_status: Any = None
    #: ``emit_records(values, timestamps)``: records this operator produces outside
    #: ``process_batch`` (processing-time timers), pushed down the rest of the chain.
    emit_records: Any = None
    #: The operator's metric group (``counter``, ``gauge``, ``meter``, ``histogram``).
    metric_group: Any = None
    #: The job's global parameters (``RuntimeContext.get_job_parameter``).
    job_parameters: dict[str, str] = dataclasses.field(default_factory=dict)


class StreamOperator:
    """Base class of every operator in a chain.

    Lifecycle per subtask: ``setup(ctx)`` -> ``open()`` -> any number of
    ``process_batch``/``process_watermark`` -> ``end_input()`` (bounded input only) ->
    ``close()`` (always, also after failure or cancel).
    """

    #: True for operators whose state is partitioned by key (they need a key selector).
    keyed: bool = False

    def setup(self, ctx: OperatorContext) -> None:
        """Attach the runtime context. Called once before ``open``."""
        self.ctx = ctx

    def open(self) -> None:
        """Prepare for processing (calls the user function's ``open``)."""

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Process a batch and return what it emits (values, timestamps)."""
        raise NotImplementedError

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """Event time advanced to ``watermark`` (the minimum over the inputs); return what
        event-time timers emit. The task forwards the watermark itself afterwards.
        Default: nothing."""
        return [], None

    def end_input(self) -> tuple[list, Timestamps]:
        """All input has arrived (bounded streams); return any final output."""
        return [], None

    def close(self) -> None:
        """Release resources (calls the user function's ``close``)."""

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot | None:
        """Non-keyed operator state for a checkpoint (None when stateless).

        Called in the task thread while the stream is stopped at the barrier; the runtime
        pickles the result right away, so returning live objects is fine. Keyed state is
        snapshot by the task from the keyed state backend, not here."""
        return None

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Restore non-keyed operator state before ``open`` (also called with None on a
        fresh start). After rescaling, ``state`` is the redistributed state."""

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` is complete everywhere (commit side effects)."""

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` will never complete."""


class SourceOutput(Protocol):
    """What a source writes to; provided by the task."""

    def collect(self, value: Any) -> None:
        """Emit one record."""

    def collect_with_timestamp(self, value: Any, timestamp: int) -> None:
        """Emit one record with an event timestamp."""

    def collect_batch(self, values: list, timestamps: Timestamps = None) -> None:
        """Emit many records at once (the fast path for built-in sources)."""

    def emit_watermark(self, timestamp: int) -> None:
        """Event time of this source reached ``timestamp``."""

    def mark_idle(self) -> None:
        """This source produces nothing for now: exclude it from watermark minimums."""

    def mark_active(self) -> None:
        """This source (marked idle before) produces records again."""

    @property
    def cancelled(self) -> bool:
        """True once the task is being cancelled: the source should return."""


class SourceOperator(StreamOperator):
    """Head of a source vertex: ``run`` produces records until exhausted or cancelled."""

    def run(self, output: SourceOutput) -> None:
        """Produce records into ``output``; return when the source is exhausted."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Ask ``run`` to return soon (called from another thread)."""

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        raise TypeError("a source operator has no input")
