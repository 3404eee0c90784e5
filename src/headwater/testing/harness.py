"""Operator test harnesses (Flink's ``OneInputStreamOperatorTestHarness`` and
``KeyedOneInputStreamOperatorTestHarness``): one operator outside a task, with the
context a task gives it and a processing-time clock that moves only when told to."""

from __future__ import annotations

import heapq
import itertools
import pickle
from collections.abc import Callable, Iterable
from typing import Any

import cloudpickle

from headwater.runtime.metrics.groups import MetricGroup, Scope
from headwater.runtime.operators.base import (
    OperatorContext,
    OperatorStateSnapshot,
    StreamOperator,
    Timestamps,
)
from headwater.runtime.state.backends import create_keyed_backend_for
from headwater.runtime.state.key_groups import key_group_range_for_operator


class ManualProcessingTimeService:
    """A processing-time service whose time moves only on :meth:`advance`."""

    def __init__(self, now: int = 0) -> None:
        self.now = now
        self._heap: list[tuple[int, int, Callable[[int], Any]]] = []
        self._seq = itertools.count()
        self.cancelled: set[int] = set()

    def current_processing_time(self) -> int:
        """The current time (ms)."""
        return self.now

    def register_timer(self, timestamp: int, callback: Callable[[int], Any]) -> int:
        """Call ``callback(timestamp)`` once time reaches ``timestamp``; returns a handle."""
        handle = next(self._seq)
        heapq.heappush(self._heap, (timestamp, handle, callback))
        return handle

    def cancel(self, handle: int) -> None:
        """Forget the timer with ``handle``."""
        self.cancelled.add(handle)

    def pending(self) -> list[int]:
        """Times of the timers not yet fired, in order."""
        return sorted(t for t, h, _ in self._heap if h not in self.cancelled)

    def advance(self, to: int) -> None:
        """Move time to ``to`` and run every due timer in time order."""
        while self._heap and self._heap[0][0] <= to:
            ts, handle, callback = heapq.heappop(self._heap)
            if handle in self.cancelled:
                continue
            self.now = max(self.now, ts)
            callback(ts)
        self.now = to


class OneInputStreamOperatorTestHarness:
    """Runs one operator like a task does: the operator is shipped (cloudpickled), set up
    with a real :class:`OperatorContext` (metric group, accumulators, keyed state backend
    for keyed operators, a :class:`ManualProcessingTimeService`), restored and opened::

        harness = OneInputStreamOperatorTestHarness(MapOperator(lambda x: x * 2))
        assert harness.process_batch([1, 2]) == ([2, 4], None)
        harness.close()

    What the operator emits outside its return values is recorded: ``watermarks``,
    ``watermark_statuses`` (True: idle), ``side_outputs`` / ``side_output_timestamps`` (by tag id) and ``timer_output`` /
    ``timer_output_timestamps`` (records of processing-time timers).

    ``state_backend`` is a ``state.backend`` name ("hashmap" or "rocksdb");
    ``operator_state`` and ``keyed_state`` (one keyed snapshot or a list of them) restore
    snapshots taken with :meth:`snapshot`.
    With ``open=False`` call :meth:`open` yourself (e.g. to check failures of ``open``);
    with ``ship=False`` the given operator object itself is used instead of a shipped copy
    (so closures over test objects see the calls).
    """

    def __init__(self, operator: StreamOperator, *, parallelism: int = 1,
                 subtask_index: int = 0, max_parallelism: int = 128,
                 processing_time: int = 0, state_backend: str = "hashmap",
                 accumulators: dict[str, Any] | None = None,
                 operator_state: OperatorStateSnapshot | None = None,
                 keyed_state: Any = None, open: bool = True, ship: bool = True) -> None:
        self.processing_time_service = ManualProcessingTimeService(processing_time)
        self.watermarks: list[int] = []
        self.watermark_statuses: list[bool] = []
        self.side_outputs: dict[str, list] = {}
        self.side_output_timestamps: dict[str, list] = {}
        self.timer_output: list = []
        self.timer_output_timestamps: list = []
        self.accumulators: dict[str, Any] = {} if accumulators is None else accumulators
        ids = ("0" * 32, "0" * 32, subtask_index, "operator")
        self.metric_group = MetricGroup(None, Scope.OPERATOR, ids)
        self.keyed_state_backend: Any = None
        if self._needs_keyed_backend(operator):
            self.keyed_state_backend = create_keyed_backend_for(
                {"state.backend": state_backend}, max_parallelism,
                key_group_range_for_operator(max_parallelism, parallelism, subtask_index))
        self.context = OperatorContext(
            job_id="0" * 32, vertex_id="0" * 32, operator_id="0" * 32, task_name="Test Task",
            operator_name="operator", subtask_index=subtask_index, parallelism=parallelism,
            max_parallelism=max_parallelism, attempt_number=0,
            keyed_state_backend=self.keyed_state_backend, accumulators=self.accumulators,
            processing_time_service=self.processing_time_service,
            emit_watermark=self.watermarks.append, emit_side_output=self._side_output,
            emit_watermark_status=self.watermark_statuses.append,
            emit_records=self._timer_records, metric_group=self.metric_group)
        self.operator: Any = pickle.loads(cloudpickle.dumps(operator)) if ship else operator
        self.operator.setup(self.context)
        self.operator.initialize_state(operator_state)  # the task's order: restore, open
        if keyed_state is not None:
            if self.keyed_state_backend is None:
                raise ValueError("keyed_state given for an operator without keyed state")
            self.keyed_state_backend.restore(keyed_state)
        self.opened = False
        if open:
            self.open()

    def _needs_keyed_backend(self, operator: StreamOperator) -> bool:
        return bool(getattr(operator, "keyed", False))

    def _side_output(self, tag: str, values: list, timestamps: Timestamps) -> None:
        self.side_outputs.setdefault(tag, []).extend(values)
        self.side_output_timestamps.setdefault(tag, []).extend(
            timestamps or [None] * len(values))

    def _timer_records(self, values: list, timestamps: Timestamps) -> None:
        self.timer_output.extend(values)
        self.timer_output_timestamps.extend(timestamps or [None] * len(values))

    def open(self) -> None:
        """Open the operator (done by the constructor unless ``open=False``)."""
        self.operator.open()
        self.opened = True

    def process_batch(self, values: Iterable[Any], timestamps: Iterable[int] | None = None
                      ) -> tuple[list, Timestamps]:
        """Give the operator a batch; returns what it emits (values, timestamps)."""
        return self.operator.process_batch(
            list(values), None if timestamps is None else list(timestamps))

    def process_element(self, value: Any, timestamp: int | None = None) -> list:
        """Give the operator one record; returns the values it emits."""
        return self.process_batch([value], None if timestamp is None else [timestamp])[0]

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """Event time advanced to ``watermark``; returns what timers emit."""
        return self.operator.process_watermark(watermark)

    def set_processing_time(self, time: int) -> None:
        """Move processing time to ``time`` (ms), firing due timers; their records land
        in ``timer_output``."""
        self.processing_time_service.advance(time)

    def end_input(self) -> tuple[list, Timestamps]:
        """Signal the end of a bounded input; returns the final output."""
        return self.operator.end_input()

    def snapshot(self, checkpoint_id: int = 1) -> tuple[OperatorStateSnapshot | None, Any]:
        """(operator state, keyed state) as a checkpoint would take them; pass them to a
        new harness as ``operator_state`` and ``keyed_state`` to restore."""
        keyed = (self.keyed_state_backend.snapshot()
                 if self.keyed_state_backend is not None else None)
        return self.operator.snapshot_state(checkpoint_id), keyed

    def close(self) -> None:
        """Close the operator and dispose of the keyed state backend."""
        try:
            self.operator.close()
        finally:
            if self.keyed_state_backend is not None:
                self.keyed_state_backend.dispose()

    def __enter__(self) -> OneInputStreamOperatorTestHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class KeyedOneInputStreamOperatorTestHarness(OneInputStreamOperatorTestHarness):
    """The harness for keyed operators (they carry their key selector): always gives the
    operator a keyed state backend, also when it is not marked ``keyed``::

        harness = KeyedOneInputStreamOperatorTestHarness(
            KeyedProcessOperator(MyTimeouts(), key_selector), processing_time=1000)
        harness.process_element(("a", 1), timestamp=5)
        harness.process_watermark(100)
        harness.set_processing_time(2000)
    """

    def _needs_keyed_backend(self, operator: StreamOperator) -> bool:
        return True
