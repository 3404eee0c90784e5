"""Keyed operators in BATCH mode: each key's records together, one final result per key.

In a BATCH job a keyed operator does not see its input as it arrives. Its input is
gathered, grouped by key, and at the end of input (the final watermark) fed to the
operator key by key (Flink's sorted inputs and ``BatchExecutionKeyedStateBackend``):

- :class:`GroupedKeyedInput` (process functions, windows): the operator gets all the
  records of one key, then event time jumps to the end for that key (its event-time and
  processing-time timers fire, so every window fires once), then the next key starts
  from the beginning of time.
- :class:`BatchKeyedAggregation` (``reduce``, ``sum``, ``min``, ``max``...): records are
  folded into one running value per key as they arrive; only the final values are emitted.

Both stay within a memory budget (``taskmanager.memory.managed.size`` divided by the
slots): past it, what they hold is spilled to files under ``taskmanager.tmp.dirs``,
partitioned by key hash into buckets, and each bucket is read back on its own at the end.
The files are deleted as soon as they are read, and when the task ends in any way.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from headwater.config import parse_memory_size, tmp_dirs
from headwater.runtime.network.events import MAX_WATERMARK
from headwater.runtime.operators.base import OperatorStateSnapshot, StreamOperator, Timestamps
from headwater.runtime.operators.timer_service import MIN_WATERMARK

log = logging.getLogger(__name__)

#: Key-hash buckets a spill is partitioned into; each is read back on its own.
SPILL_BUCKETS = 32
#: Records a grouped operator is fed at once (bounds what one call may emit).
_EMIT_CHUNK = 4096
#: Records between two checks of the memory estimate.
_CHECK_EVERY = 2048


def memory_budget(config: Any) -> int:
    """Bytes one keyed operator may hold: the TaskManager's managed memory divided by its
    slots."""
    managed = parse_memory_size(config.get("taskmanager.memory.managed.size") or "128m")
    slots = int(config.get("taskmanager.numberOfTaskSlots") or 1)
    return max(1, managed // max(1, slots))


def spill_root(config: Any) -> str:
    """Where spill files go: the first of ``taskmanager.tmp.dirs``, else the system temp
    directory."""
    return (tmp_dirs(config) or [tempfile.gettempdir()])[0]


def estimate_size(sample: list) -> int:
    """Approximate bytes one record like those in ``sample`` takes in memory (the record,
    its direct fields and a list slot)."""
    if not sample:
        return 64
    total = 0
    for value in sample:
        size = sys.getsizeof(value) + 8
        if isinstance(value, tuple | list):
            size += sum(sys.getsizeof(x) for x in value)
        elif isinstance(value, dict):
            size += sum(sys.getsizeof(k) + sys.getsizeof(x) for k, x in value.items())
        total += size
    return total // len(sample)


class SpillFiles:
    """Key-hash bucket files of one operator: chunks appended by :meth:`spill`, read
    back one bucket at a time by :meth:`buckets`."""

    def __init__(self, root: str, name: str) -> None:
        os.makedirs(root, exist_ok=True)
        self.directory = tempfile.mkdtemp(prefix=f"headwater-spill-{name}-", dir=root)
        self.bytes = 0
        self.spills = 0

    def spill(self, items: Iterator[tuple[Any, Any]]) -> None:
        """Write ``(key, payload)`` items, partitioned by key hash."""
        buckets: list[list] = [[] for _ in range(SPILL_BUCKETS)]
        for key, payload in items:
            buckets[hash(key) % SPILL_BUCKETS].append((key, payload))
        for b, chunk in enumerate(buckets):
            if chunk:
                with open(os.path.join(self.directory, f"bucket-{b}"), "ab") as f:
                    data = pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)
                    f.write(data)
                    self.bytes += len(data)
        self.spills += 1

    def buckets(self) -> Iterator[list[tuple[Any, Any]]]:
        """Each bucket's items in the order they were spilled; a bucket's file is deleted
        once read."""
        for b in range(SPILL_BUCKETS):
            path = os.path.join(self.directory, f"bucket-{b}")
            if not os.path.exists(path):
                continue
            items: list = []
            with open(path, "rb") as f:
                while True:
                    try:
                        items.extend(pickle.load(f))
                    except EOFError:
                        break
            os.remove(path)
            yield items

    def delete(self) -> None:
        """Remove every file (idempotent)."""
        shutil.rmtree(self.directory, ignore_errors=True)


class _BatchKeyedBase(StreamOperator):
    """Wraps a keyed operator for BATCH: setup, open, close and spilling shared."""

    keyed = True

    def __init__(self, inner: StreamOperator, budget: int, spill_dir: str) -> None:
        self.inner = inner
        self.budget = budget
        self.spill_dir = spill_dir
        self._spill: SpillFiles | None = None
        self._drained = False

    def setup(self, ctx: Any) -> None:
        """The wrapped operator gets the task's context; so does this one."""
        self.ctx = ctx
        self.inner.setup(ctx)
        group = ctx.metric_group
        if group is not None:
            group.gauge("spilledBytes", lambda: self._spill.bytes if self._spill else 0)

    def open(self) -> None:
        """Open the wrapped operator."""
        self.inner.open()

    def close(self) -> None:
        """Close the wrapped operator and delete every spill file."""
        try:
            self.inner.close()
        finally:
            if self._spill is not None:
                self._spill.delete()

    def _spill_files(self) -> SpillFiles:
        if self._spill is None:
            self._spill = SpillFiles(self.spill_dir, self.ctx.operator_id[:8])
            log.info("%s: spilling keyed input to %s (memory budget %d bytes)",
                     self.ctx.operator_name, self._spill.directory, self.budget)
        return self._spill

    def _emit(self, values: list, timestamps: Timestamps) -> None:
        if values:
            self.ctx.emit_records(values, timestamps)

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """Event time has no meaning before the end: only the final watermark counts, and
        it releases the results (before it travels on)."""
        if watermark >= MAX_WATERMARK and not self._drained:
            self._drained = True
            self._drain()
        return [], None

    def end_input(self) -> tuple[list, Timestamps]:
        """Release the results if the final watermark did not, then end the operator."""
        if not self._drained:
            self._drained = True
            self._drain()
        return self.inner.end_input()

    def _drain(self) -> None:
        raise NotImplementedError

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot | None:
        """BATCH jobs take no checkpoints."""
        return None

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Nothing to restore: a BATCH task starts from its inputs."""


class GroupedKeyedInput(_BatchKeyedBase):
    """Feeds a keyed process function or window operator one key at a time."""

    def __init__(self, inner: StreamOperator, budget: int, spill_dir: str) -> None:
        super().__init__(inner, budget, spill_dir)
        self._values: dict[Any, list] = {}
        self._timestamps: dict[Any, list] = {}
        self._held = 0
        self._next_check = _CHECK_EVERY
        self._record_size = 0

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Hold the records, grouped by key."""
        if not values:
            return [], None
        inner = self.inner
        if not inner._key_resolved:  # type: ignore[attr-defined]
            inner._resolve_key(values)  # type: ignore[attr-defined]
        ks = inner.key_selector  # type: ignore[attr-defined]
        groups = self._values
        if timestamps is None:
            for v in values:
                k = ks(v)
                group = groups.get(k)
                if group is None:
                    groups[k] = [v]
                else:
                    group.append(v)
        else:
            stamps = self._timestamps
            for v, t in zip(values, timestamps, strict=True):
                k = ks(v)
                group = groups.get(k)
                if group is None:
                    groups[k] = [v]
                    stamps[k] = [t]
                else:
                    group.append(v)
                    stamps[k].append(t)
        self._held += len(values)
        if self._held >= self._next_check:
            if not self._record_size:
                self._record_size = estimate_size(values[:64])
            if self._held * self._record_size + len(groups) * 200 > self.budget:
                self._spill_held()
            self._next_check = self._held + _CHECK_EVERY
        return [], None

    def _spill_held(self) -> None:
        stamps = self._timestamps
        self._spill_files().spill((k, (vs, stamps.get(k))) for k, vs in self._values.items())
        self._values, self._timestamps = {}, {}
        self._held = 0
        self._next_check = _CHECK_EVERY

    def _drain(self) -> None:
        if self._spill is None:
            values, stamps = self._values, self._timestamps
            self._values, self._timestamps = {}, {}
            for k, vs in values.items():
                self._run_key(vs, stamps.get(k))
            return
        self._spill_held()
        for items in self._spill.buckets():
            merged: dict[Any, tuple[list, list | None]] = {}
            for k, (vs, ts) in items:
                have = merged.get(k)
                if have is None:
                    merged[k] = (vs, ts)
                else:
                    have[0].extend(vs)
                    if have[1] is not None and ts is not None:
                        have[1].extend(ts)
            del items
            for vs, ts in merged.values():
                self._run_key(vs, ts)

    def _run_key(self, values: list, timestamps: list | None) -> None:
        inner = self.inner
        for start in range(0, len(values), _EMIT_CHUNK):
            out, out_ts = inner.process_batch(
                values[start:start + _EMIT_CHUNK],
                None if timestamps is None else timestamps[start:start + _EMIT_CHUNK])
            self._emit(out, out_ts)
        # The end of this key: all of its timers fire, then time starts over.
        out, out_ts = inner.process_watermark(MAX_WATERMARK)
        self._emit(out, out_ts)
        timers = getattr(inner, "timers", None)
        if timers is not None:
            timers.fire_processing_timers(MAX_WATERMARK)
            timers.current_watermark = MIN_WATERMARK


class BatchKeyedAggregation(_BatchKeyedBase):
    """``reduce``/``sum``/``min``/``max``/``min_by``/``max_by`` emitting only each key's
    final value (Flink's ``BatchGroupedReduceOperator``)."""

    def __init__(self, inner: StreamOperator, budget: int, spill_dir: str) -> None:
        super().__init__(inner, budget, spill_dir)
        self._next_check = _CHECK_EVERY
        self._entry_size = 0

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Fold the records into the running values; nothing is emitted yet."""
        if values:
            self.inner.process_batch(values, None)
            table = self.inner.table  # type: ignore[attr-defined]
            if len(table) >= self._next_check:
                if not self._entry_size:
                    sample = list(table.values())[:64]
                    self._entry_size = estimate_size(sample) + 100  # key and dict slot
                if len(table) * self._entry_size > self.budget:
                    self._spill_files().spill(iter(table.items()))
                    table.clear()
                self._next_check = len(table) + _CHECK_EVERY
        return [], None

    def _drain(self) -> None:
        table = self.inner.table  # type: ignore[attr-defined]
        if self._spill is None:
            self._emit_values(list(table.values()))
            table.clear()
            return
        self._spill.spill(iter(table.items()))
        table.clear()
        for items in self._spill.buckets():
            # Partial results of the same key fold like records (reduce is associative).
            self.inner.process_batch([partial for _, partial in items], None)
            del items
            self._emit_values(list(table.values()))
            table.clear()

    def _emit_values(self, values: list) -> None:
        for start in range(0, len(values), _EMIT_CHUNK):
            self._emit(values[start:start + _EMIT_CHUNK], None)


class LocalCombineOperator(StreamOperator):
    """BATCH: folds the records per key before they cross the exchange to a keyed
    ``reduce``/aggregation, so that each producer sends one partial value per key instead
    of every record (a combiner; the keyed operator folds the partial values: reduce is
    associative). It holds at most ``max_keys`` partial values and sends them on when it
    reaches that, and at the end of input."""

    def __init__(self, inner: StreamOperator) -> None:
        self.inner = inner
        self.max_keys = 100_000

    def setup(self, ctx: Any) -> None:
        """The folded operator gets a keyed state backend of its own (one table)."""
        import dataclasses

        from headwater.runtime.state.heap import HeapKeyedStateBackend
        from headwater.runtime.state.key_groups import KeyGroupRange

        self.ctx = ctx
        backend = HeapKeyedStateBackend(ctx.max_parallelism,
                                        KeyGroupRange(0, ctx.max_parallelism - 1))
        self.inner.setup(dataclasses.replace(ctx, keyed_state_backend=backend))

    def open(self) -> None:
        """Open the folded operator."""
        self.inner.open()

    def close(self) -> None:
        """Close the folded operator."""
        self.inner.close()

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Fold; send the partial values on only when there are too many."""
        if not values:
            return [], None
        self.inner.process_batch(values, None)
        if len(self.inner.table) >= self.max_keys:  # type: ignore[attr-defined]
            return self._take()
        return [], None

    def _take(self) -> tuple[list, Timestamps]:
        table = self.inner.table  # type: ignore[attr-defined]
        partials = list(table.values())
        table.clear()
        return partials, None

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """The final watermark: send every partial value (before it travels on)."""
        return self._take() if watermark >= MAX_WATERMARK else ([], None)

    def end_input(self) -> tuple[list, Timestamps]:
        """Send what is left."""
        return self._take()


def combinable(operator: Any) -> bool:
    """Whether a keyed operator's records may be folded before the exchange: reduce and
    the aggregations, unless the reduce function is a RichFunction (it may use keyed
    state, which only the keyed operator has)."""
    from headwater.api.functions import RichFunction
    from headwater.runtime.operators.keyed import KeyedAggregationOperator, KeyedReduceOperator

    if isinstance(operator, KeyedAggregationOperator):
        return True
    return isinstance(operator, KeyedReduceOperator) and not isinstance(operator.function,
                                                                        RichFunction)


def batch_variant(operator: StreamOperator, config: Any, head: bool = True) -> StreamOperator:
    """The BATCH form of an operator of a chain: a keyed head gets its input grouped by
    key, a combiner its memory limit, a columnar running aggregation emits its final rows
    only; others stay as they are."""
    from headwater.runtime.operators.keyed import (
        KeyedAggregationOperator,
        KeyedProcessOperator,
        KeyedReduceOperator,
    )
    from headwater.runtime.operators.window_operator import WindowOperator

    budget, spill_dir = memory_budget(config), spill_root(config)
    columnar = sys.modules.get("headwater.runtime.operators.columnar")  # loaded if used
    if columnar is not None and type(operator) is columnar.ColumnarAggregateOperator:
        aggregate: Any = operator
        if aggregate.emit == "running" and aggregate.stage != "local":
            aggregate.emit = "final"  # one row per key at the end, not one per batch
        return operator
    if isinstance(operator, LocalCombineOperator):
        operator.max_keys = max(1000, budget // 512)
        return operator
    if not head:
        return operator
    if isinstance(operator, KeyedReduceOperator | KeyedAggregationOperator):
        return BatchKeyedAggregation(operator, budget, spill_dir)
    if isinstance(operator, KeyedProcessOperator | WindowOperator):
        return GroupedKeyedInput(operator, budget, spill_dir)
    return operator
