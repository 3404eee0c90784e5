"""Columnar operators: each record of a columnar stream is one ``pyarrow.RecordBatch``.

The chain hands these operators lists of batches; every operator checks that its input
batches share one schema and that user functions return batches, and names itself in
the error otherwise. :class:`ColumnarAggregateOperator` keeps keyed aggregates as one
Arrow table (a row per key), checkpointed as Arrow IPC bytes per key group; the event-time
window operators (:class:`ColumnarWindowOperator` for tumbling and sliding windows,
:class:`ColumnarSessionWindowOperator`) keep a row per key and window the same way.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.runtime.network.arrow_ipc import Batches
from headwater.runtime.operators.base import OperatorStateSnapshot, StreamOperator, Timestamps
from headwater.runtime.state import columnar as cstate
from headwater.runtime.state.key_groups import key_group_range_for_operator


class ColumnarError(TypeError):
    """A columnar operator got or produced something that is not a valid batch."""


class _Columnar(StreamOperator):
    """Common part: operator name for errors and the input schema check."""

    _schema: Any = None

    @property
    def _name(self) -> str:
        ctx = getattr(self, "ctx", None)
        return f"operator '{ctx.operator_name}'" if ctx is not None else "a columnar operator"

    def _check(self, batch: Any) -> Any:
        if type(batch) is not pa.RecordBatch:
            raise ColumnarError(f"{self._name} expects pyarrow.RecordBatch records, got "
                                f"{type(batch).__name__}")
        schema = self._schema
        if schema is None:
            self._schema = batch.schema
        elif batch.schema is not schema and not batch.schema.equals(schema):
            raise ColumnarError(f"{self._name}: schema mismatch between batches: got "
                                f"[{_describe(batch.schema)}], earlier batches had "
                                f"[{_describe(schema)}]")
        return batch


def _describe(schema: Any) -> str:
    return ", ".join(f"{f.name}: {f.type}" for f in schema)


def _as_batches(result: Any, what: str) -> list[Any]:
    """A user function's result as a list of RecordBatches (TypeError otherwise)."""
    if type(result) is pa.RecordBatch:
        return [result]
    if isinstance(result, pa.Table):
        return result.to_batches()
    if isinstance(result, list | tuple) and all(type(b) is pa.RecordBatch for b in result):
        return list(result)
    raise ColumnarError(f"{what} must return a pyarrow.RecordBatch, a pyarrow.Table or a "
                        f"list of RecordBatches, got {type(result).__name__}")


def _evaluate(batch: Any, columns: Any = None, predicate: Any = None) -> list[Any]:
    """Project and/or filter one batch with pyarrow.compute expressions."""
    import pyarrow.dataset as ds

    scanner = ds.Scanner.from_batches([batch], schema=batch.schema, columns=columns,
                                      filter=predicate, use_threads=False,
                                      batch_size=max(batch.num_rows, 1))
    return [b for b in scanner.to_batches() if b.num_rows]


class BatchFunctionOperator(_Columnar):
    """``map_batches``, ``flat_map_batches``, ``filter``, ``select`` and ``with_columns``."""

    KINDS = ("map", "flat_map", "filter", "select", "with_columns")

    def __init__(self, kind: str, function: Any) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown batch function kind {kind!r}")
        self.kind = kind
        self.function = function

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Apply the function to every batch."""
        out: list[Any] = []
        for value in values:
            batch = self._check(value)
            out.extend(self._apply(batch))
        return Batches(out), None

    def _apply(self, batch: Any) -> list[Any]:
        kind, fn = self.kind, self.function
        if kind == "map":
            return _as_batches(fn(batch), f"map_batches in {self._name}")
        if kind == "flat_map":
            out: list[Any] = []
            for item in fn(batch):
                out.extend(_as_batches(item, f"flat_map_batches in {self._name}"))
            return out
        if kind == "filter":
            if isinstance(fn, pc.Expression):
                return _evaluate(batch, predicate=fn)
            mask = fn(batch)
            if not isinstance(mask, pa.Array | pa.ChunkedArray) or mask.type != pa.bool_():
                raise ColumnarError(f"the filter function of {self._name} must return a "
                                    f"boolean pyarrow array, got {type(mask).__name__}")
            if isinstance(mask, pa.ChunkedArray):
                mask = mask.combine_chunks()
            kept = batch.filter(mask)
            return [kept] if kept.num_rows else []
        if kind == "select":
            missing = [c for c in fn if isinstance(c, str) and c not in batch.schema.names]
            if missing:
                raise ColumnarError(f"{self._name}: no column {missing[0]!r} in "
                                    f"[{_describe(batch.schema)}]")
            return [batch.select(list(fn))]
        # with_columns: name -> expression (pyarrow.compute.Expression) or batch -> array
        names = batch.schema.names
        callables = {n: e for n, e in fn.items() if not isinstance(e, pc.Expression)}
        if len(callables) < len(fn):
            exprs = {n: pc.field(n) for n in names if n not in callables}
            exprs.update({n: e for n, e in fn.items() if n not in callables})
            pieces = _evaluate(batch, columns=exprs)
            if not pieces:
                return []
            result = pieces[0] if len(pieces) == 1 else \
                pa.Table.from_batches(pieces).combine_chunks().to_batches()[0]
        else:
            result = batch.select([n for n in names if n not in callables])
        for name, f in callables.items():
            try:
                result = result.append_column(name, f(batch))
            except (TypeError, ValueError, pa.ArrowException) as exc:
                raise ColumnarError(f"with_columns({name}=...) in {self._name}: the "
                                    f"function must return an array as long as the batch "
                                    f"({exc})") from exc
        return [result]


class ToBatchesOperator(StreamOperator):
    """``DataStream.to_batches``: the records of each incoming buffer as batches of at most
    ``size`` rows (tuples by position, dicts by name; no buffering across buffers, so
    nothing to checkpoint)."""

    def __init__(self, size: int, schema: Any) -> None:
        self.size = size
        self.schema = schema

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Convert records to batches."""
        out = []
        for start in range(0, len(values), self.size):
            out.append(self._convert(values[start:start + self.size]))
        return Batches(out), None

    def _convert(self, rows: list) -> Any:
        schema = self.schema
        first = rows[0]
        try:
            if isinstance(first, dict):
                return pa.RecordBatch.from_pylist(rows, schema=schema)
            if not isinstance(first, tuple | list):
                rows = [(r,) for r in rows]
            columns = list(zip(*rows, strict=True))
            if schema is None:
                names = [f"f{i}" for i in range(len(columns))]
                return pa.RecordBatch.from_arrays([pa.array(c) for c in columns], names=names)
            return pa.RecordBatch.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
                schema=schema)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise ColumnarError(f"to_batches in operator '{self.ctx.operator_name}': "
                                f"records do not fit the schema: {exc}") from exc


class ToRecordsOperator(_Columnar):
    """``BatchStream.to_records``: every row as a tuple (or a dict)."""

    def __init__(self, as_dicts: bool) -> None:
        self.as_dicts = as_dicts

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Explode batches into rows."""
        out: list[Any] = []
        for value in values:
            batch = self._check(value)
            if self.as_dicts:
                out.extend(batch.to_pylist())
            else:
                out.extend(zip(*(c.to_pylist() for c in batch.columns), strict=True))
        return out, None


class BatchSinkOperator(_Columnar):
    """``BatchStream.add_sink`` / ``print``: a function called with every batch."""

    def __init__(self, function: Any, print_identifier: str | None = None,
                 printing: bool = False) -> None:
        self.function = function
        self.printing = printing
        self.print_identifier = print_identifier

    def open(self) -> None:
        """Call the function's ``open`` if it has one."""
        opener = getattr(self.function, "open", None)
        if callable(opener):
            opener()

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Hand every batch to the sink function (or print its rows)."""
        for value in values:
            batch = self._check(value)
            if self.printing:
                prefix = "" if self.ctx.parallelism == 1 else f"{self.ctx.subtask_index + 1}> "
                if self.print_identifier:
                    prefix = f"{self.print_identifier}:{prefix or '> '}"
                lines = [f"{prefix}{row}" for row in
                         zip(*(c.to_pylist() for c in batch.columns), strict=True)]
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()
            else:
                self.function(batch)
        return [], None

    def close(self) -> None:
        """Call the function's ``close`` if it has one."""
        closer = getattr(self.function, "close", None)
        if callable(closer):
            closer()


#: How a partial aggregate column combines with the state's: aggregation per state kind.
_COMBINE = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}
#: The state kinds each output aggregation needs.
_NEEDS = {"sum": ("sum",), "count": ("count",), "min": ("min",), "max": ("max",),
          "mean": ("sum", "count")}


class ColumnarAggregateOperator(_Columnar):
    """Keyed, vectorized aggregations of a columnar stream.

    ``outputs`` maps an output column to ``(input column or None, aggregation)``, with
    aggregations sum, count, min, max and mean. The state is one table: the key columns
    and one column per partial aggregate (``__sum_<col>``...). ``emit="running"`` sends the
    updated rows of the keys of every input batch; ``emit="final"`` sends every key once
    at end of input. Snapshots are union operator state of ``(key group, IPC bytes)``
    items: every subtask restores the key groups of its own range, so state rescales
    by key group.
    """

    def __init__(self, keys: list[str], outputs: dict[str, tuple[str | None, str]],
                 emit: str = "running", stage: str = "complete") -> None:
        if emit not in ("running", "final"):
            raise ValueError("emit must be 'running' or 'final'")
        if stage not in ("complete", "local", "global"):
            raise ValueError("stage must be 'complete', 'local' or 'global'")
        #: "complete": rows in, aggregates out; "local": rows in, one partial row per key
        #: of each pushed list of batches out (no state); "global": partial rows in,
        #: aggregates out.
        self.stage = stage
        for name, (_col, agg) in outputs.items():
            if agg not in _NEEDS:
                raise ValueError(f"unknown aggregation {agg!r} for {name!r}")
        self.keys = list(keys)
        #: The columns rows are grouped by: the keys (windows add ``window_start``).
        self.group_keys = list(keys)
        self.outputs = dict(outputs)
        self.emit = emit
        self.state: Any = None
        #: Input columns that ``_prepare`` adds (not expected in the input batches).
        self._derived: frozenset[str] = frozenset()
        #: State columns besides the partial aggregates, combined by max (window flags).
        self._flags: tuple[str, ...] = ()
        #: Final mode: partial aggregates not folded into ``state`` yet, and their rows.
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._partials: list[tuple[str | None, str, str]] = []  # (input col, kind, state col)
        for col, agg in self.outputs.values():
            for kind in _NEEDS[agg]:
                state_col = f"__{kind}_{col or '*'}"
                if all(p[2] != state_col for p in self._partials):
                    self._partials.append((col, kind, state_col))

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Restore the key groups of this subtask's range."""
        if not state or "columnar-aggregate" not in state:
            return
        ctx = self.ctx
        groups = key_group_range_for_operator(ctx.max_parallelism, ctx.parallelism,
                                              ctx.subtask_index)
        self.state = cstate.restore_key_groups(state["columnar-aggregate"][1],
                                               range(groups.start, groups.end + 1))

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot | None:
        """The state table as (key group, Arrow IPC bytes) items."""
        if self.stage == "local":
            return None
        self._merge_pending()
        items = cstate.split_by_key_group(self.state, self.keys, self.ctx.max_parallelism)
        return {"columnar-aggregate": ("union", items)}

    def _partial(self, batch: Any, *more: Any) -> Any:
        """The partial aggregates of ``batch`` and ``more`` batches of its schema."""
        names = batch.schema.names
        for needed in [*self.keys, *(p[0] for p in self._partials if p[0] is not None)]:
            if needed not in names and needed not in self._derived:
                raise ColumnarError(f"{self._name}: no column {needed!r} in "
                                    f"[{_describe(batch.schema)}]")
        aggs: list[Any] = [([], "count_all") if col is None else (col, kind)
                           for col, kind, _state_col in self._partials]
        table = self._prepare(pa.Table.from_batches([batch, *more]))
        keys = self.group_keys
        try:
            result = table.group_by(keys, use_threads=False).aggregate(aggs)
        except pa.ArrowNotImplementedError:
            if not more:
                raise
            # dictionary-encoded keys with differing dictionaries in the batches
            table = table.unify_dictionaries()
            result = table.group_by(keys, use_threads=False).aggregate(aggs)
        result = result.select([*keys, *(_agg_name(p) for p in self._partials)]) \
            .rename_columns([*keys, *(p[2] for p in self._partials)])
        for i, key in enumerate(keys):  # state keys hold plain values
            field = result.schema.field(key)
            if pa.types.is_dictionary(field.type):
                result = result.set_column(i, key, pc.cast(result.column(key),
                                                           field.type.value_type))
        return result

    def _prepare(self, table: Any) -> Any:
        """The input rows as they are grouped (windows add their start)."""
        return table

    def _merge(self, partial: Any) -> Any:
        if self.state is None:
            return partial
        both = pa.concat_tables([self.state, partial],
                                promote_options="permissive")
        keys = self.group_keys
        merged = both.group_by(keys, use_threads=False).aggregate(
            [*((p[2], _COMBINE[p[1]]) for p in self._partials),
             *((flag, "max") for flag in self._flags)])
        return merged.select([*keys, *(f"{p[2]}_{_COMBINE[p[1]]}" for p in self._partials),
                              *(f"{flag}_max" for flag in self._flags)]) \
            .rename_columns([*keys, *(p[2] for p in self._partials), *self._flags])

    def _result(self, table: Any) -> list[Any]:
        if table is None or table.num_rows == 0:
            return []
        columns = [table.column(k) for k in self.group_keys]
        names = list(self.group_keys)
        for name, (col, agg) in self.outputs.items():
            if agg == "mean":
                s = table.column(f"__sum_{col}")
                c = table.column(f"__count_{col}")
                columns.append(pc.divide(pc.cast(s, pa.float64()), c))
            else:
                columns.append(table.column(f"__{agg}_{col or '*'}"))
            names.append(name)
        return pa.Table.from_arrays(columns, names=names).combine_chunks().to_batches()

    def _partial_input(self, batch: Any) -> Any:
        """A batch of partial rows (from a local stage) as a partial table."""
        wanted = [*self.group_keys, *(p[2] for p in self._partials)]
        missing = [c for c in wanted if c not in batch.schema.names]
        if missing:
            raise ColumnarError(f"{self._name}: no column {missing[0]!r} in the partial "
                                f"aggregates [{_describe(batch.schema)}]")
        return pa.Table.from_batches([batch]).select(wanted)

    #: Rows of partial aggregates the final mode gathers before folding them into the
    #: state in one step (at least as many as the state holds).
    MERGE_ROWS = 1 << 16

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Fold every batch into the state; in running mode emit the updated keys (the
        local stage emits the partial aggregates of the whole list)."""
        if self.stage == "local":
            return Batches(self._local_partials(values)), None
        out: list[Any] = []
        # Final mode shows the state only at the end and in snapshots: partials wait and
        # are folded in together (one group-by per ~64k partial rows, not one per batch).
        # Subclasses (windows) read the state on watermarks and fold at once.
        defer = self.emit == "final" and type(self) is ColumnarAggregateOperator
        for value in values:
            batch = self._check(value)
            if batch.num_rows == 0:
                continue
            partial = self._partial_input(batch) if self.stage == "global" \
                else self._partial(batch)
            if defer:
                self._pending.append(partial)
                self._pending_rows += partial.num_rows
                state_rows = 0 if self.state is None else self.state.num_rows
                if self._pending_rows >= max(self.MERGE_ROWS, state_rows):
                    self._merge_pending()
                continue
            self.state = self._merge(partial).combine_chunks()
            if self.emit == "running":
                touched = self.state.join(partial.select(self.group_keys), self.group_keys,
                                          join_type="left semi", use_threads=False)
                out.extend(self._result(touched))
        return Batches(out), None

    def _local_partials(self, values: list) -> list[Any]:
        """The local stage: one partial row per key of all the batches of ``values``. A
        list holds what the task pushes at once (a source's batches of one emit), so its
        rows are reduced in one group-by and cross the network as one partial batch, not
        one per input batch."""
        batches = [b for b in map(self._check, values) if b.num_rows]
        if not batches:
            return []
        return self._partial(*batches).combine_chunks().to_batches()

    def _merge_pending(self) -> None:
        """Fold the partials final mode gathered into the state."""
        pending, self._pending, self._pending_rows = self._pending, [], 0
        if not pending:
            return
        if self.state is None:  # a partial holds each of its keys once
            self.state = pending.pop(0)
        if pending:
            self.state = self._merge(pending[0] if len(pending) == 1 else
                                     pa.concat_tables(pending, promote_options="permissive"))
        self.state = self.state.combine_chunks()

    def end_input(self) -> tuple[list, Timestamps]:
        """In final mode: every key's aggregate."""
        if self.emit == "final" and self.stage != "local":
            self._merge_pending()
            return Batches(self._result(self.state)), None
        return [], None


def _agg_name(partial: tuple[str | None, str, str]) -> str:
    col, kind, _ = partial
    return "count_all" if col is None else f"{col}_{kind}"


def _epoch_millis(column: Any) -> Any:
    """A time column as int64 epoch milliseconds (int columns are taken as such)."""
    if pa.types.is_timestamp(column.type):
        return pc.cast(pc.cast(column, pa.timestamp("ms")), pa.int64())
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.int64())
    raise ColumnarError(f"time column of type {column.type}: expected a timestamp or "
                        "integer epoch milliseconds")


class ColumnarWatermarkOperator(_Columnar):
    """Event time from a column: every ``interval_ms`` (and at end of input) emits the
    watermark ``max(time column) - max_out_of_orderness - 1`` when it advanced (Flink's
    bounded out-of-orderness generator, vectorized)."""

    def __init__(self, time_column: str, max_out_of_orderness: int = 0,
                 interval_ms: int = 200) -> None:
        self.time_column = time_column
        self.delay = max_out_of_orderness
        self.interval = interval_ms
        self.max_seen = -(2**63)
        self.emitted = -(2**63)

    def open(self) -> None:
        """Schedule the periodic emission."""
        self.pts = self.ctx.processing_time_service
        self._handle = None
        if self.pts is not None and self.interval > 0:
            self._handle = self.pts.register_timer(
                self.pts.current_processing_time() + self.interval, self._on_periodic)

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Note the largest timestamp of every batch; batches pass unchanged."""
        for value in values:
            batch = self._check(value)
            if self.time_column not in batch.schema.names:
                raise ColumnarError(f"{self._name}: no time column {self.time_column!r} in "
                                    f"[{_describe(batch.schema)}]")
            if batch.num_rows:
                top = pc.max(_epoch_millis(batch.column(self.time_column))).as_py()
                if top is not None and top > self.max_seen:
                    self.max_seen = top
        return values, None

    def _on_periodic(self, time: int) -> None:
        self.emit_now()
        self._handle = self.pts.register_timer(
            max(time, self.pts.current_processing_time()) + self.interval, self._on_periodic)

    def emit_now(self) -> None:
        """Emit the watermark if it advanced."""
        if self.max_seen == -(2**63):
            return
        watermark = self.max_seen - self.delay - 1
        if watermark > self.emitted and self.ctx.emit_watermark is not None:
            self.emitted = watermark
            self.ctx.emit_watermark(watermark)

    def end_input(self) -> tuple[list, Timestamps]:
        """A last emission."""
        self.emit_now()
        return [], None

    def close(self) -> None:
        """Stop the periodic timer."""
        handle = getattr(self, "_handle", None)
        if handle is not None and self.pts is not None:
            self.pts.cancel(handle)
            self._handle = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("pts", "_handle", "ctx")}


_NO_WATERMARK = -(2**63)
#: A flag column of window state: 1 once the window fired (a later on-time watermark
#: does not fire it again; late rows within the allowed lateness re-fire it).
_FIRED = "__fired"
#: The partial counting input rows whose last window a partial row is: the rows dropped
#: when that window is late (a sliding row belongs to several windows, counted once).
_ROWS = "__rows"
_LAST = "__last"


class ColumnarWindowOperator(ColumnarAggregateOperator):
    """Tumbling (``slide`` None) or sliding event-time windows of ``size`` ms over
    ``time_column``, aggregated per key.

    The state holds one row per key and window (``window_start``, ``window_end``, the
    partial aggregates and a fired flag). A watermark at or past a window's last
    millisecond (``window_end - 1``) emits its row (keys, ``window_start``,
    ``window_end``, outputs). A window's state is kept until the watermark passes
    ``window_end - 1 + allowed_lateness``; rows arriving for a fired window before that
    update it and emit it again, rows for windows past it are dropped and counted in
    ``numLateRecordsDropped`` (Flink's semantics), or sent to the side output
    ``late_tag`` as batches when it is set. The local stage pre-aggregates each batch
    per key and window.
    """

    def __init__(self, keys: list[str], outputs: dict[str, tuple[str | None, str]],
                 time_column: str, size: int, offset: int = 0,
                 stage: str = "complete", slide: int | None = None,
                 allowed_lateness: int = 0, late_tag: str | None = None) -> None:
        super().__init__(keys, outputs, "final", stage)
        if late_tag is not None and stage != "complete":
            raise ValueError("a side output of late rows needs the rows: no local stage")
        if size <= 0:
            raise ValueError("window size must be positive")
        if slide is not None and slide <= 0:
            raise ValueError("window slide must be positive")
        if allowed_lateness < 0:
            raise ValueError("allowed lateness must not be negative")
        self.time_column = time_column
        self.size = size
        self.slide = size if slide is None else slide
        self.offset = offset
        self.allowed_lateness = allowed_lateness
        #: The side output that gets late rows instead of dropping them.
        self.late_tag = late_tag
        #: The batch being folded, when late rows go to the side output (sessions).
        self._raw: Any = None
        self.group_keys = [*keys, "window_start", "window_end"]
        self._partials.append((_LAST, "sum", _ROWS))
        self._derived = frozenset({_LAST})
        self._flags = () if stage == "local" else (_FIRED,)
        self.watermark = _NO_WATERMARK
        #: Flink's numLateRecordsDropped.
        self.num_late_records_dropped = 0

    def open(self) -> None:
        """Register the ``numLateRecordsDropped`` gauge."""
        group = getattr(self.ctx, "metric_group", None)
        if self.stage != "local" and group is not None and hasattr(group, "gauge"):
            group.gauge("numLateRecordsDropped", lambda: self.num_late_records_dropped)

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Restore the key groups of this subtask's range."""
        super().initialize_state(state)
        table = self.state
        if table is not None and _FIRED not in table.schema.names:  # older snapshots
            if "window_end" not in table.schema.names:
                i = table.schema.get_field_index("window_start")
                table = table.add_column(i + 1, "window_end",
                                         pc.add(table.column("window_start"), self.size))
            table = table.append_column(_FIRED, pa.array([0] * table.num_rows, pa.int8()))
            if _ROWS not in table.schema.names:
                table = table.append_column(_ROWS, pa.array([0] * table.num_rows, pa.int64()))
            self.state = table

    def _time(self, table: Any) -> Any:
        if self.time_column not in table.schema.names:
            raise ColumnarError(f"{self._name}: no time column {self.time_column!r} in "
                                f"[{_describe(table.schema)}]")
        return _epoch_millis(table.column(self.time_column))

    def _prepare(self, table: Any) -> Any:
        ts = self._time(table)
        shifted = pc.subtract(ts, self.offset)
        last = pc.subtract(ts, _floor_mod(shifted, self.slide))
        ones = pa.array(np.ones(table.num_rows, dtype=np.int64))
        if self.slide == self.size:
            return table.append_column("window_start", last) \
                .append_column("window_end", pc.add(last, self.size)).append_column(_LAST, ones)
        pieces = []
        earliest = pc.subtract(ts, self.size)
        zeros = pa.array(np.zeros(table.num_rows, dtype=np.int64))
        for k in range(-(-self.size // self.slide)):  # Flink: start > ts - size
            start = pc.subtract(last, k * self.slide)
            piece = table.append_column("window_start", start) \
                .append_column("window_end", pc.add(start, self.size)) \
                .append_column(_LAST, ones if k == 0 else zeros)
            pieces.append(piece if k == 0 else piece.filter(pc.greater(start, earliest)))
        return pa.concat_tables(pieces)

    def _late(self, table: Any) -> Any:
        """The mask of ``table``'s windows whose state is gone (or would be)."""
        return pc.less_equal(pc.add(table.column("window_end"), self.allowed_lateness - 1),
                             self.watermark)

    def _drop(self, table: Any, late: Any) -> Any:
        """``table`` without the ``late`` rows, counting their input rows as dropped."""
        dropped = pc.sum(table.filter(late).column(_ROWS)).as_py()
        if not dropped and not pc.any(late).as_py():
            return table
        self.num_late_records_dropped += dropped or 0
        return table.filter(pc.invert(late))

    def _fired_now(self, table: Any) -> Any:
        """The mask of ``table``'s windows the current watermark has passed."""
        return pc.less_equal(pc.subtract(table.column("window_end"), 1), self.watermark)

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Fold every batch into the window state (the local stage emits each batch's
        partial aggregates); windows the watermark already passed (late rows within the
        allowed lateness) are emitted again at once."""
        if self.stage == "local":
            return super().process_batch(values, timestamps)
        out: list[Any] = []
        for value in values:
            batch = self._check(value)
            if batch.num_rows == 0:
                continue
            late_rows = self.late_tag is not None and self.watermark != _NO_WATERMARK
            if late_rows:
                batch = self._without_late_rows(batch)
                if batch.num_rows == 0:
                    continue
            self._raw = batch if late_rows else None
            partial = self._partial_input(batch) if self.stage == "global" \
                else self._partial(batch)
            out.extend(self._fold(partial))
        return Batches(out), None

    def _without_late_rows(self, batch: Any) -> Any:
        """``batch`` without the rows whose every window is late (those whose last
        window is), which go to the side output."""
        ts = self._time(batch)
        last_end = pc.add(pc.subtract(ts, _floor_mod(pc.subtract(ts, self.offset),
                                                     self.slide)), self.size)
        late = pc.less_equal(pc.add(last_end, self.allowed_lateness - 1), self.watermark)
        if not pc.any(late).as_py():
            return batch
        self._side_output(batch.filter(late))
        return batch.filter(pc.invert(late))

    def _side_output(self, rows: Any) -> None:
        emit = self.ctx.emit_side_output
        if emit is None:
            raise ColumnarError(f"{self._name}: this runtime has no side outputs")
        emit(self.late_tag, Batches([rows]), None)

    def _fold(self, partial: Any) -> list[Any]:
        """Drop the late partial rows, merge the others into the state; emit the updated
        windows already fired."""
        if self.watermark != _NO_WATERMARK:
            partial = self._drop(partial, self._late(partial))
            if partial.num_rows == 0:
                return []
        passed = self._fired_now(partial)
        partial = partial.append_column(_FIRED, pc.cast(passed, pa.int8()))
        self.state = self._merge(partial).combine_chunks()
        if not pc.any(passed).as_py():
            return []
        again = partial.filter(passed).select(self.group_keys)
        return self._result(self.state.join(again, self.group_keys, join_type="left semi",
                                            use_threads=False))

    def process_watermark(self, watermark: int) -> tuple[list, Timestamps]:
        """Emit the windows the watermark passed (once) and drop the state of windows
        past their allowed lateness."""
        self.watermark = watermark
        state = self.state
        if state is None or state.num_rows == 0 or self.stage == "local":
            return [], None
        passed = self._fired_now(state)
        due = pc.and_(passed, pc.equal(state.column(_FIRED), 0))
        fired = state.filter(due)
        if self.allowed_lateness:
            state = state.set_column(state.schema.get_field_index(_FIRED), _FIRED,
                                     pc.cast(pc.or_(passed, pc.not_equal(
                                         state.column(_FIRED), 0)), pa.int8()))
        expired = self._late(state)
        if pc.any(expired).as_py():
            state = state.filter(pc.invert(expired))
        self.state = state
        return Batches(self._result(fired)), None

    def end_input(self) -> tuple[list, Timestamps]:
        """Nothing more: bounded inputs end with the maximal watermark, which fired all."""
        return [], None


class ColumnarSessionWindowOperator(ColumnarWindowOperator):
    """Event-time session windows per key: a row at ``t`` opens ``[t, t + gap)`` and
    windows that overlap or touch merge (Flink's ``EventTimeSessionWindows``), also
    across batches: a later batch can bridge two sessions of the state.

    The state holds one row per key and session (``window_start``, ``window_end``,
    partial aggregates, fired flag); firing, allowed lateness and
    ``numLateRecordsDropped`` (or the side output ``late_tag``) are those of
    :class:`ColumnarWindowOperator`. A merged session is late when its end is (all of a
    batch's rows merge before the check, so a late row that joins a live session of its
    batch is kept). The local stage merges each batch's rows into sessions per key.
    """

    def __init__(self, keys: list[str], outputs: dict[str, tuple[str | None, str]],
                 time_column: str, gap: int, stage: str = "complete",
                 allowed_lateness: int = 0, late_tag: str | None = None) -> None:
        if gap <= 0:
            raise ValueError("session gap must be positive")
        super().__init__(keys, outputs, time_column, gap, stage=stage,
                         allowed_lateness=allowed_lateness, late_tag=late_tag)
        self.gap = gap

    def _without_late_rows(self, batch: Any) -> Any:
        return batch  # a row is late when its merged session is: see _fold

    def _prepare(self, table: Any) -> Any:
        ts = self._time(table)
        return table.append_column("window_start", ts) \
            .append_column("window_end", pc.add(ts, self.gap)) \
            .append_column(_LAST, pa.array(np.ones(table.num_rows, dtype=np.int64)))

    def _partial(self, batch: Any, *more: Any) -> Any:
        return self._sessions(super()._partial(batch, *more), ())

    def _sessions(self, table: Any, flags: tuple[str, ...]) -> Any:
        """Merge the overlapping or touching windows of each key of ``table`` (rows of
        keys, window_start, window_end, partial aggregates and ``flags``) into one row
        each."""
        if table.num_rows <= 1:
            return table
        keys = self.keys
        table = table.sort_by([*((k, "ascending") for k in keys),
                               ("window_start", "ascending")])
        n = table.num_rows
        new_key = np.zeros(n, dtype=bool)
        new_key[0] = True
        for k in keys:
            col = table.column(k)
            a, b = col.slice(1), col.slice(0, n - 1)
            differs = pc.not_equal(a, b)
            if col.null_count:
                differs = pc.if_else(pc.is_null(differs),
                                     pc.xor(pc.is_null(a), pc.is_null(b)), differs)
            new_key[1:] |= differs.to_numpy(zero_copy_only=False).astype(bool)
        starts = table.column("window_start").to_numpy()
        reach = _segmented_cummax(table.column("window_end").to_numpy(), new_key)
        new_session = new_key.copy()
        new_session[1:] |= starts[1:] > reach[:-1]
        if new_session.all():
            return table
        session = pa.array(np.cumsum(new_session))
        both = table.append_column("__session", session)
        columns = [(p[2], _COMBINE[p[1]]) for p in self._partials]
        columns += [(f, "max") for f in flags]
        merged = both.group_by([*keys, "__session"], use_threads=False).aggregate(
            [("window_start", "min"), ("window_end", "max"), *columns])
        names = [*self.group_keys, *(c for c, _ in columns)]
        return merged.select([*keys, "window_start_min", "window_end_max",
                              *(f"{c}_{agg}" for c, agg in columns)]).rename_columns(names)

    def _fold(self, partial: Any) -> list[Any]:
        """Merge the batch's sessions with the state's; drop merged sessions that are
        late, emit touched sessions the watermark already passed."""
        touched = "__touched"
        partial = partial.append_column(_FIRED, pa.array(np.zeros(partial.num_rows,
                                                                   dtype=np.int8))) \
            .append_column(touched, pa.array(np.ones(partial.num_rows, dtype=np.int8)))
        state = self.state
        if state is not None and state.num_rows:
            state = state.append_column(touched, pa.array(np.zeros(state.num_rows,
                                                                   dtype=np.int8)))
            partial = pa.concat_tables([state, partial.select(state.schema.names)],
                                       promote_options="permissive")
        merged = self._sessions(partial, (_FIRED, touched)).combine_chunks()
        is_touched = pc.equal(merged.column(touched), 1)
        if self.watermark != _NO_WATERMARK:
            late = pc.and_(is_touched, self._late(merged))
            if self._raw is not None and pc.any(late).as_py():
                self._side_output(self._rows_of(self._raw, merged.filter(late)))
                merged = merged.filter(pc.invert(late))
            else:
                merged = self._drop(merged, late)
            is_touched = pc.equal(merged.column(touched), 1)
        emit = pc.and_(is_touched, self._fired_now(merged))
        fired = pc.if_else(is_touched, pc.cast(emit, pa.int8()), merged.column(_FIRED))
        merged = merged.set_column(merged.schema.get_field_index(_FIRED), _FIRED, fired)
        self.state = merged.drop_columns([touched])
        return self._result(self.state.filter(emit)) if pc.any(emit).as_py() else []

    def _rows_of(self, batch: Any, sessions: Any) -> Any:
        """The rows of ``batch`` inside ``sessions`` (keys, window_start, window_end)."""
        table = pa.Table.from_batches([batch])
        rows = table.select(self.keys)
        for i, key in enumerate(self.keys):
            if pa.types.is_dictionary(rows.schema.field(key).type):
                rows = rows.set_column(i, key, pc.cast(rows.column(key),
                                                       rows.schema.field(key).type.value_type))
        rows = rows.append_column("__t", self._time(table)) \
            .append_column("__row", pa.array(np.arange(batch.num_rows)))
        joined = rows.join(sessions.select(self.group_keys), self.keys, join_type="inner",
                           use_threads=False)
        inside = pc.and_(pc.greater_equal(joined.column("__t"), joined.column("window_start")),
                         pc.less(joined.column("__t"), joined.column("window_end")))
        picked = np.unique(joined.filter(inside).column("__row").to_numpy())
        return batch.take(pa.array(picked))


def _segmented_cummax(values: np.ndarray, segment_starts: np.ndarray) -> np.ndarray:
    """The running maximum of ``values`` restarting where ``segment_starts`` is True."""
    segment = np.cumsum(segment_starts) - 1
    low = int(values.min())
    span = int(values.max()) - low + 1
    if span * (int(segment[-1]) + 1) < 2**62:  # one pass: segments lifted apart
        lifted = (values - low) + segment * span
        return np.maximum.accumulate(lifted) - segment * span + low
    out = np.empty_like(values)
    bounds = [*np.flatnonzero(segment_starts), len(values)]
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        out[s:e] = np.maximum.accumulate(values[s:e])
    return out


def _floor_mod(values: Any, size: int) -> Any:
    """``values mod size`` rounded towards negative infinity (as Flink's window start)."""
    rem = pc.subtract(values, pc.multiply(pc.divide(values, size), size))
    return pc.if_else(pc.less(rem, 0), pc.add(rem, size), rem)
