"""BatchStream: a stream of Apache Arrow record batches (the columnar fast path).

Every record of a BatchStream is one ``pyarrow.RecordBatch``: operators run vectorized
``pyarrow.compute`` kernels over whole batches, a batch crosses a network channel as one
buffer (Arrow IPC between processes) and metrics count rows. Needs ``pip install
'headwater[arrow]'``; importing this module does not import pyarrow::

    import pyarrow as pa, pyarrow.compute as pc
    table = pa.table({"word": ["a", "b", "a"], "n": [1, 2, 3]})
    (env.from_arrow(table, batch_size=2)
        .filter(pc.field("n") > 1)
        .key_by("word")
        .sum("n")                      # running sums: one row per key and input batch
        .add_sink(lambda batch: print(batch.to_pylist())))

Enter from ``env.from_arrow``, ``env.from_batch_source`` or ``DataStream.to_batches``;
leave with :meth:`BatchStream.to_records` (rows as tuples, or dicts).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from headwater.api.transformations import Partitioning, StreamInput, Transformation

if TYPE_CHECKING:
    from headwater.api.datastream import DataStream, DataStreamSink
    from headwater.api.environment import StreamExecutionEnvironment

_OPERATORS = "headwater.runtime.operators.columnar"


@dataclasses.dataclass(eq=False, kw_only=True)
class ColumnarTransformation(Transformation):
    """A columnar operator: the runtime class (in ``operators.columnar``) and its
    arguments, built when the job graph is built."""

    operator_class: str
    arguments: dict[str, Any]

    def build_operator(self) -> Any:
        """A new runtime operator (imports the runtime and pyarrow only now)."""
        module = importlib.import_module(_OPERATORS)
        return getattr(module, self.operator_class)(**self.arguments)


def _require_pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("columnar streams need pyarrow: pip install 'headwater[arrow]'") \
            from exc
    return pyarrow


class BatchStream:
    """A stream whose records are ``pyarrow.RecordBatch`` objects."""

    def __init__(self, stream: DataStream) -> None:
        self._stream = stream

    @property
    def data_stream(self) -> DataStream:
        """The underlying DataStream (one record = one batch)."""
        return self._stream

    # -- operator settings (apply to the operator that produced this stream) ------------

    def name(self, name: str) -> BatchStream:
        """Name the operator that produced this stream."""
        self._stream.name(name)
        return self

    def uid(self, uid: str) -> BatchStream:
        """Give the producing operator a stable uid (state is matched by it)."""
        self._stream.uid(uid)
        return self

    def set_parallelism(self, parallelism: int) -> BatchStream:
        """Set the producing operator's parallelism."""
        self._stream.set_parallelism(parallelism)
        return self

    def set_max_parallelism(self, max_parallelism: int) -> BatchStream:
        """Set the producing operator's max parallelism (number of key groups)."""
        self._stream.set_max_parallelism(max_parallelism)
        return self

    # -- transformations ----------------------------------------------------------------

    def _columnar(self, name: str, operator_class: str, **arguments: Any) -> BatchStream:
        return BatchStream(self._stream._transform(ColumnarTransformation, name,
                                                   operator_class=operator_class,
                                                   arguments=arguments))

    def map_batches(self, func: Callable[[Any], Any]) -> BatchStream:
        """``func(batch)`` returns a RecordBatch, a Table or a list of RecordBatches."""
        _check_callable(func, "map_batches")
        return self._columnar("MapBatches", "BatchFunctionOperator", kind="map", function=func)

    def flat_map_batches(self, func: Callable[[Any], Any]) -> BatchStream:
        """``func(batch)`` yields any number of RecordBatches / Tables."""
        _check_callable(func, "flat_map_batches")
        return self._columnar("FlatMapBatches", "BatchFunctionOperator", kind="flat_map",
                              function=func)

    def filter(self, predicate: Any) -> BatchStream:
        """Keep the rows a ``pyarrow.compute`` expression (``pc.field("n") > 1``) or a
        function ``batch -> boolean array`` selects."""
        if not callable(predicate) and type(predicate).__name__ != "Expression":
            raise TypeError("filter needs a pyarrow.compute Expression or a function "
                            "returning a boolean mask")
        return self._columnar("Filter", "BatchFunctionOperator", kind="filter",
                              function=predicate)

    def select(self, *columns: str) -> BatchStream:
        """Keep only ``columns``, in that order."""
        if not columns or not all(isinstance(c, str) for c in columns):
            raise TypeError("select needs one or more column names")
        return self._columnar("Select", "BatchFunctionOperator", kind="select",
                              function=tuple(columns))

    def with_columns(self, **columns: Any) -> BatchStream:
        """Add or replace columns: ``name=pc.field("a") * 2`` (an expression) or
        ``name=lambda batch: array``."""
        if not columns:
            raise TypeError("with_columns needs name=expression arguments")
        return self._columnar("WithColumns", "BatchFunctionOperator", kind="with_columns",
                              function=dict(columns))

    def key_by(self, *columns: str) -> KeyedBatchStream:
        """Partition rows by the values of ``columns``: each batch is split into at most
        one slice per downstream subtask, by the same key groups the record path uses
        for the key ``value`` (one column) or ``(v1, v2, ...)`` (several)."""
        if not columns or not all(isinstance(c, str) for c in columns):
            raise TypeError("key_by needs one or more column names")
        return KeyedBatchStream(self._stream, tuple(columns))

    def with_watermarks(self, time_column: str, max_out_of_orderness: Any = 0,
                        interval: Any = 200) -> BatchStream:
        """Event time from ``time_column`` (a timestamp or int epoch-ms column): every
        ``interval`` (ms or a Duration) the watermark becomes the largest time seen minus
        ``max_out_of_orderness`` minus 1, as ``for_bounded_out_of_orderness`` does."""
        from headwater.api.time import to_millis

        return self._columnar("Watermarks", "ColumnarWatermarkOperator",
                              time_column=time_column,
                              max_out_of_orderness=to_millis(max_out_of_orderness),
                              interval_ms=to_millis(interval))

    def union(self, *streams: BatchStream) -> BatchStream:
        """One BatchStream with the batches of this and ``streams`` (all with the same
        schema: the next operator fails the job naming itself otherwise)."""
        for s in streams:
            if not isinstance(s, BatchStream):
                raise TypeError(f"BatchStream.union takes BatchStreams, got "
                                f"{type(s).__name__} (convert a DataStream with "
                                f"to_batches)")
        return BatchStream(self._stream.union(*(s._stream for s in streams)))

    def get_side_output(self, output_tag: Any) -> BatchStream:
        """The batches the producing operator sent to ``output_tag`` (late rows of
        windows, see :meth:`BatchWindows.side_output_late_data`)."""
        return BatchStream(self._stream.get_side_output(output_tag))

    def rebalance(self) -> BatchStream:
        """Deal whole batches round robin over the next operator's subtasks."""
        return BatchStream(self._stream.rebalance())

    def to_records(self, as_dicts: bool = False) -> DataStream:
        """A DataStream of the rows: tuples in column order, or dicts with ``as_dicts``."""
        return self._stream._transform(ColumnarTransformation, "ToRecords",
                                       operator_class="ToRecordsOperator",
                                       arguments={"as_dicts": as_dicts})

    # -- sinks ---------------------------------------------------------------------------

    def add_sink(self, func: Callable[[Any], Any]) -> DataStreamSink:
        """Call ``func(batch)`` for every batch (``open()``/``close()`` when it has them)."""
        _check_callable(func, "add_sink")
        return self._sink("Unnamed", function=func)

    def print(self, sink_identifier: str | None = None) -> DataStreamSink:
        """Print every row (as a tuple) to the TaskManager's stdout."""
        return self._sink("Print to Std. Out", function=None, print_identifier=sink_identifier,
                          printing=True)

    def sink_to(self, sink: Any) -> DataStreamSink:
        """Write the batches to a batch sink (``BatchFileSink.for_parquet/for_csv`` of
        :mod:`headwater.connectors.arrow_files`), or the rows (as tuples) to a record
        sink such as a FileSink."""
        if getattr(sink, "accepts_batches", False):
            from headwater.api.datastream import DataStreamSink
            from headwater.api.transformations import SinkTransformation

            return DataStreamSink(self._stream._add(SinkTransformation, "Unnamed", "Sink: ",
                                                    sink=sink))
        return self.to_records().sink_to(sink)

    def _sink(self, name: str, **arguments: Any) -> DataStreamSink:
        from headwater.api.datastream import DataStreamSink

        return DataStreamSink(self._stream._add(ColumnarTransformation, name, "Sink: ",
                                                operator_class="BatchSinkOperator",
                                                arguments=arguments))


class ColumnKeys:
    """The key selector of a columnar ``key_by``: splits batches by key group."""

    def __init__(self, columns: tuple[str, ...], producer: str = "") -> None:
        self.columns = columns
        #: The operator(s) whose output is partitioned, named in errors.
        self.producer = producer

    def split_batch(self, batch: Any, num_channels: int,
                    max_parallelism: int) -> list[tuple[int, Any]]:
        """``[(channel, slice), ...]`` with at most one slice per channel."""
        from headwater.runtime.state.columnar import split_by_channel

        names = batch.schema.names
        for c in self.columns:
            if c not in names:
                raise ValueError(f"key_by{self.columns} after operator '{self.producer}': "
                                 f"no key column {c!r} in the batch columns {names}")
        return split_by_channel(batch, self.columns, num_channels, max_parallelism)

    def __call__(self, value: Any) -> Any:
        raise TypeError("a columnar key selector partitions whole batches")


class KeyedBatchStream:
    """A BatchStream partitioned by key columns; aggregations keep columnar keyed state."""

    def __init__(self, stream: DataStream, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self._upstream = stream
        self._stream = self._partitioned(stream)

    def _partitioned(self, stream: DataStream) -> DataStream:
        from headwater.api.datastream import DataStream

        selector = ColumnKeys(self.columns, ", ".join(i.upstream.name for i in stream._inputs))
        return DataStream(stream._env, [
            StreamInput(i.upstream, Partitioning.CUSTOM, selector, i.side_output_tag)
            for i in stream._inputs])

    def aggregate(self, outputs: dict[str, tuple[str | None, str]],
                  emit: str = "running", local: bool = True) -> BatchStream:
        """Aggregate per key: ``{"total": ("n", "sum"), "rows": (None, "count"),
        "avg": ("x", "mean")}`` (sum, count, min, max, mean). ``emit="running"`` sends the
        updated rows of each input batch's keys; ``"final"`` every key once at end of
        input. The output has the key columns, then the outputs.

        With ``local=True`` (the default) each batch is first reduced to one partial row
        per key in the upstream task (Flink's local-global aggregation), so only partial
        aggregates cross the network; ``local=False`` ships the rows."""
        _check_outputs(outputs)
        if emit not in ("running", "final"):
            raise ValueError("emit must be 'running' or 'final'")
        arguments = {"keys": list(self.columns), "outputs": dict(outputs), "emit": emit}
        if not local:
            return BatchStream(self._stream._transform(
                ColumnarTransformation, "Aggregate",
                operator_class="ColumnarAggregateOperator", arguments=arguments))
        partials = self._upstream._transform(
            ColumnarTransformation, "LocalAggregate", operator_class="ColumnarAggregateOperator",
            arguments={**arguments, "emit": "running", "stage": "local"})
        return BatchStream(self._partitioned(partials)._transform(
            ColumnarTransformation, "Aggregate", operator_class="ColumnarAggregateOperator",
            arguments={**arguments, "stage": "global"}))

    def tumbling_window(self, size: Any, time_column: str, offset: Any = 0) -> BatchWindows:
        """Tumbling event-time windows of ``size`` (ms or a Duration/Time) over
        ``time_column``; fired by watermarks (see :meth:`BatchStream.with_watermarks`)."""
        from headwater.api.time import to_millis

        size = to_millis(size)
        if size <= 0:
            raise ValueError("window size must be positive")
        return BatchWindows(self, "ColumnarWindowOperator", time_column=time_column,
                            size=size, offset=to_millis(offset))

    def sliding_window(self, size: Any, slide: Any, time_column: str,
                       offset: Any = 0) -> BatchWindows:
        """Sliding event-time windows of ``size`` every ``slide`` (ms or Duration/Time)
        over ``time_column``: a row belongs to every window ``[start, start + size)``
        that holds it, starts aligned to ``slide`` (Flink's ``SlidingEventTimeWindows``)."""
        from headwater.api.time import to_millis

        size, slide = to_millis(size), to_millis(slide)
        if size <= 0 or slide <= 0:
            raise ValueError("window size and slide must be positive")
        return BatchWindows(self, "ColumnarWindowOperator", time_column=time_column,
                            size=size, slide=slide, offset=to_millis(offset))

    def session_window(self, gap: Any, time_column: str) -> BatchWindows:
        """Event-time session windows: rows of a key closer than ``gap`` (ms or
        Duration/Time) form one window ``[first row, last row + gap)`` (Flink's
        ``EventTimeSessionWindows.with_gap``); sessions merge across batches."""
        from headwater.api.time import to_millis

        gap = to_millis(gap)
        if gap <= 0:
            raise ValueError("session gap must be positive")
        return BatchWindows(self, "ColumnarSessionWindowOperator", time_column=time_column,
                            gap=gap)

    def sum(self, column: str, emit: str = "running", local: bool = True) -> BatchStream:
        """Per-key sum of ``column`` (output column named like it)."""
        return self.aggregate({column: (column, "sum")}, emit, local)

    def count(self, emit: str = "running", local: bool = True) -> BatchStream:
        """Per-key row count (output column ``count``)."""
        return self.aggregate({"count": (None, "count")}, emit, local)

    def min(self, column: str, emit: str = "running", local: bool = True) -> BatchStream:
        """Per-key minimum of ``column``."""
        return self.aggregate({column: (column, "min")}, emit, local)

    def max(self, column: str, emit: str = "running", local: bool = True) -> BatchStream:
        """Per-key maximum of ``column``."""
        return self.aggregate({column: (column, "max")}, emit, local)

    def mean(self, column: str, emit: str = "running", local: bool = True) -> BatchStream:
        """Per-key mean of ``column`` (float64)."""
        return self.aggregate({column: (column, "mean")}, emit, local)


class BatchWindows:
    """Event-time windows (tumbling, sliding or session) of a KeyedBatchStream,
    aggregated vectorized; windows fire when the watermark passes their end."""

    def __init__(self, keyed: KeyedBatchStream, operator_class: str, **arguments: Any) -> None:
        self.keyed = keyed
        self.operator_class = operator_class
        self.arguments = arguments
        self.lateness = 0
        self.late_tag: Any = None

    def allowed_lateness(self, lateness: Any) -> BatchWindows:
        """Keep each window's state until the watermark passes its end plus ``lateness``
        (ms or a Duration/Time): late rows until then update the window and emit it
        again; later rows are dropped (counted in ``numLateRecordsDropped``)."""
        from headwater.api.time import to_millis

        lateness = to_millis(lateness)
        if lateness < 0:
            raise ValueError("allowed lateness must not be negative")
        self.lateness = lateness
        return self

    def side_output_late_data(self, output_tag: Any) -> BatchWindows:
        """Send the rows later than the allowed lateness to ``output_tag`` (as batches;
        read them with :meth:`BatchStream.get_side_output`) instead of dropping them.
        The window operator then gets the rows, not local pre-aggregates."""
        from headwater.api.side_outputs import OutputTag

        if not isinstance(output_tag, OutputTag):
            raise TypeError("side_output_late_data needs an OutputTag")
        self.late_tag = output_tag
        return self

    def aggregate(self, outputs: dict[str, tuple[str | None, str]],
                  local: bool = True) -> BatchStream:
        """One row per key and window when the watermark passes the window's end: the
        key columns, ``window_start``, ``window_end`` (ms), then ``outputs`` as in
        :meth:`KeyedBatchStream.aggregate`. Rows later than the allowed lateness are
        dropped (or go to the late-data side output). With ``local=True`` each batch is
        pre-aggregated per key and window upstream (sessions: merged per key), unless
        late rows go to a side output."""
        _check_outputs(outputs)
        keyed = self.keyed
        arguments = {"keys": list(keyed.columns), "outputs": dict(outputs),
                     **self.arguments}
        complete = {**arguments, "allowed_lateness": self.lateness}
        if self.late_tag is not None:
            complete["late_tag"] = self.late_tag.tag_id
            local = False
        if not local:
            return BatchStream(keyed._stream._transform(
                ColumnarTransformation, "Window", operator_class=self.operator_class,
                arguments=complete))
        partials = keyed._upstream._transform(
            ColumnarTransformation, "LocalWindow", operator_class=self.operator_class,
            arguments={**arguments, "stage": "local"})
        return BatchStream(keyed._partitioned(partials)._transform(
            ColumnarTransformation, "Window", operator_class=self.operator_class,
            arguments={**complete, "stage": "global"}))


def _check_outputs(outputs: dict[str, tuple[str | None, str]]) -> None:
    if not outputs:
        raise ValueError("aggregate needs at least one output column")
    for name, spec in outputs.items():
        if not (isinstance(spec, tuple) and len(spec) == 2
                and spec[1] in ("sum", "count", "min", "max", "mean")):
            raise ValueError(f"aggregate: {name!r} must be (column, 'sum'|'count'|'min'|"
                             f"'max'|'mean'), got {spec!r}")


def _check_callable(func: Any, what: str) -> None:
    if not callable(func):
        raise TypeError(f"{what} needs a callable, got {type(func).__name__}")


def from_arrow(env: StreamExecutionEnvironment, data: Any,
               batch_size: int | None = None) -> BatchStream:
    """A BatchStream of a pyarrow Table or a list of RecordBatches (re-chunked to at most
    ``batch_size`` rows when given); batches are dealt round robin to the subtasks."""
    pa = _require_pyarrow()
    if isinstance(data, pa.Table):
        batches = data.to_batches(max_chunksize=batch_size)
    elif isinstance(data, pa.RecordBatch):
        batches = [data]
    elif isinstance(data, list | tuple) and all(isinstance(b, pa.RecordBatch) for b in data):
        batches = list(data)
        if batch_size is not None and batches:
            batches = pa.Table.from_batches(batches).to_batches(max_chunksize=batch_size)
    else:
        raise TypeError("from_arrow needs a pyarrow.Table or a list of RecordBatches, got "
                        f"{type(data).__name__}")
    return BatchStream(env.from_collection(batches).name("Arrow Source"))


def from_batch_source(env: StreamExecutionEnvironment, source: Any,
                      source_name: str = "Batch Source") -> BatchStream:
    """A BatchStream from a SourceFunction (or generator function) that collects
    RecordBatches (every subtask runs its own copy), or from a batch source object such
    as ``BatchFileSource.for_parquet(path)``."""
    if callable(getattr(source, "create_operator", None)):
        return BatchStream(env.from_source(source, None, source_name))
    return BatchStream(env.add_source(source, source_name))


def to_batches(stream: DataStream, size: int = 1024, schema: Any = None) -> BatchStream:
    """The records of ``stream`` as batches of at most ``size`` rows: tuples map to
    columns by position (named by ``schema``, else f0, f1...), dicts by name."""
    if size < 1:
        raise ValueError("size must be positive")
    return BatchStream(stream._transform(ColumnarTransformation, "ToBatches",
                                         operator_class="ToBatchesOperator",
                                         arguments={"size": size, "schema": schema}))
