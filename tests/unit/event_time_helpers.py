"""Drive operators like a task does, with a manual processing-time clock."""

from __future__ import annotations

import heapq
import itertools
import pickle

import cloudpickle

from headwater.runtime.operators.base import OperatorContext
from headwater.runtime.state.heap import create_keyed_backend


class ManualClock:
    """A ProcessingTimeService whose time only moves when a test says so."""

    def __init__(self, now: int = 0) -> None:
        self.now = now
        self._heap: list = []
        self._seq = itertools.count()
        self.cancelled: set[int] = set()

    def current_processing_time(self) -> int:
        return self.now

    def register_timer(self, timestamp: int, callback) -> int:
        handle = next(self._seq)
        heapq.heappush(self._heap, (timestamp, handle, callback))
        return handle

    def cancel(self, handle: int) -> None:
        self.cancelled.add(handle)

    def pending(self) -> list[int]:
        return sorted(t for t, h, _ in self._heap if h not in self.cancelled)

    def advance(self, to: int) -> None:
        """Move time to ``to`` and run every due callback in time order."""
        while self._heap and self._heap[0][0] <= to:
            ts, handle, callback = heapq.heappop(self._heap)
            if handle in self.cancelled:
                continue
            self.now = max(self.now, ts)
            callback(ts)
        self.now = to


class Harness:
    """One operator with the context a task would give it; records what it emits outside
    its return values (watermarks, side outputs, timer records)."""

    def __init__(self, op, keyed: bool = True, now: int = 0, max_parallelism: int = 128,
                 parallelism: int = 1, subtask: int = 0, state=None, keyed_state=None,
                 backend: str = "heap") -> None:
        self.clock = ManualClock(now)
        self.watermarks: list[int] = []
        self.side: dict[str, list] = {}
        self.side_ts: dict[str, list] = {}
        self.emitted: list = []
        self.emitted_ts: list = []
        ctx = OperatorContext(
            job_id="a" * 32, vertex_id="b" * 32, operator_id="c" * 32, task_name="T",
            operator_name="op", subtask_index=subtask, parallelism=parallelism,
            max_parallelism=max_parallelism, attempt_number=0,
            processing_time_service=self.clock, emit_watermark=self.watermarks.append,
            emit_side_output=self._side, emit_records=self._records)
        if keyed and backend == "heap":
            ctx.keyed_state_backend = create_keyed_backend(ctx)
        elif keyed:
            from headwater.runtime.state.key_groups import key_group_range_for_operator
            from headwater.runtime.state.rocksdb import RocksDBKeyedStateBackend

            ctx.keyed_state_backend = RocksDBKeyedStateBackend(
                max_parallelism,
                key_group_range_for_operator(max_parallelism, parallelism, subtask))
        self.op = pickle.loads(cloudpickle.dumps(op))  # shipped like the task ships it
        self.op.setup(ctx)
        self.op.initialize_state(state)  # the task's order: setup, restore, open
        if keyed_state is not None:
            ctx.keyed_state_backend.restore(keyed_state)
        self.op.open()

    def _side(self, tag: str, values: list, timestamps) -> None:
        self.side.setdefault(tag, []).extend(values)
        self.side_ts.setdefault(tag, []).extend(timestamps or [None] * len(values))

    def _records(self, values: list, timestamps) -> None:
        self.emitted.extend(values)
        self.emitted_ts.extend(timestamps or [None] * len(values))

    def batch(self, values: list, timestamps=None):
        return self.op.process_batch(list(values), None if timestamps is None
                                     else list(timestamps))

    def watermark(self, wm: int):
        return self.op.process_watermark(wm)

    def advance(self, to: int) -> None:
        self.clock.advance(to)
