"""DataStream and KeyedStream: the fluent API that declares a job's operators.

Each operation records a :class:`~headwater.api.transformations.Transformation` in the
environment and returns a new stream; the operator-level settings (``name``, ``uid``, ``set_parallelism``...) apply to the
operator that produced the stream::

    env = StreamExecutionEnvironment.get_execution_environment()
    (env.from_collection(["a b", "b c"])
        .flat_map(str.split).name("split")
        .map(lambda w: (w, 1))
        .key_by(0)
        .sum(1)
        .print())
    env.execute("word count")

Partitioning calls (``key_by``, ``rebalance``, ``rescale``, ``shuffle``, ``broadcast``,
``forward``) and ``union`` add no operator: they decide how records reach the next one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

from headwater.api.functions import KeyedProcessFunction
from headwater.api.key_selectors import to_key_selector
from headwater.api.side_outputs import OutputTag
from headwater.api.time import to_millis
from headwater.api.transformations import (
    FilterTransformation,
    FlatMapTransformation,
    KeyedAggregationTransformation,
    KeyedProcessTransformation,
    KeyedReduceTransformation,
    MapTransformation,
    Partitioning,
    PrintSinkTransformation,
    ProcessTransformation,
    SinkFunctionTransformation,
    SinkTransformation,
    StreamInput,
    TimestampsAndWatermarksTransformation,
    Transformation,
    WindowFunctionKind,
    WindowTransformation,
)
from headwater.api.watermarks import WatermarkStrategy
from headwater.api.windowing import (
    CountTrigger,
    GlobalWindows,
    MergingWindowAssigner,
    PurgingTrigger,
    Trigger,
    WindowAssigner,
)

if TYPE_CHECKING:
    from headwater.api.connected import (
        BroadcastConnectedStream,
        BroadcastStream,
        ConnectedStreams,
    )
    from headwater.api.environment import StreamExecutionEnvironment
    from headwater.api.state import MapStateDescriptor


class _OperatorSettings:
    """Settings of the operator that produced a stream (or of a sink)."""

    _node: Transformation | None

    def _require_node(self, what: str) -> Transformation:
        if self._node is None:
            raise TypeError(f"{what}() applies to an operator; this stream is the result of a "
                            "partitioning or union, which has no operator of its own")
        return self._node

    def name(self, name: str):
        """Name the operator (shown in vertex names, the plan and the dashboard)."""
        self._require_node("name").set_name(name)
        return self

    def get_name(self) -> str:
        """The operator's name."""
        return self._require_node("get_name").name

    def uid(self, uid: str):
        """A stable id for the operator: its operator id becomes md5(uid), so state in
        savepoints maps to it even when the program changes."""
        if not isinstance(uid, str) or not uid:
            raise ValueError("uid must be a non-empty string")
        self._require_node("uid").uid = uid
        return self

    def set_parallelism(self, parallelism: int):
        """Parallelism of the operator."""
        if int(parallelism) < 1:
            raise ValueError("The parallelism of an operator must be at least 1.")
        self._require_node("set_parallelism").parallelism = int(parallelism)
        return self

    def get_parallelism(self) -> int | None:
        """The operator's explicit parallelism (None: the environment's)."""
        return self._require_node("get_parallelism").parallelism

    def set_max_parallelism(self, max_parallelism: int):
        """Max parallelism (key groups) of the operator."""
        if not 0 < int(max_parallelism) <= 32768:
            raise ValueError("The maximum parallelism must be between 1 and 32768.")
        self._require_node("set_max_parallelism").max_parallelism = int(max_parallelism)
        return self

    def disable_chaining(self):
        """Never chain this operator with its predecessor or successor."""
        self._require_node("disable_chaining").chaining_disabled = True
        return self

    def start_new_chain(self):
        """Begin a new chain at this operator (it may chain with its successors)."""
        self._require_node("start_new_chain").starts_new_chain = True
        return self


class DataStream(_OperatorSettings):
    """A stream of records produced by one operator (or a union / partitioning of such)."""

    def __init__(self, env: StreamExecutionEnvironment, inputs: list[StreamInput],
                 node: Transformation | None = None) -> None:
        self._env = env
        self._inputs = inputs
        self._node = node

    @classmethod
    def _of(cls, env: StreamExecutionEnvironment, node: Transformation) -> DataStream:
        return cls(env, [StreamInput(node)], node)

    def get_execution_environment(self) -> StreamExecutionEnvironment:
        """The environment the stream belongs to."""
        return self._env

    def _add(self, transformation_type: type[Transformation], name: str,
             name_prefix: str = "", /, **settings: Any) -> Transformation:
        return self._env._add_transformation(transformation_type, name, name_prefix,
                                             list(self._inputs), **settings)

    def _transform(self, transformation_type: type[Transformation], name: str, /,
                   **settings: Any) -> DataStream:
        return DataStream._of(self._env, self._add(transformation_type, name, **settings))

    # -- transformations ----------------------------------------------------------------

    def map(self, func: Any, output_type: Any = None) -> DataStream:
        """One output per record: ``func(value)`` or a MapFunction."""
        return self._transform(MapTransformation, "Map", function=func)

    def flat_map(self, func: Any, output_type: Any = None) -> DataStream:
        """Any number of outputs per record: ``func(value)`` returns or yields them."""
        return self._transform(FlatMapTransformation, "Flat Map", function=func)

    def filter(self, func: Any) -> DataStream:
        """Keep records for which ``func(value)`` is true."""
        return self._transform(FilterTransformation, "Filter", function=func)

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """Per-record processing with a ProcessFunction (``process_element`` yields)."""
        if isinstance(func, KeyedProcessFunction):
            raise TypeError("a KeyedProcessFunction needs a keyed stream: call key_by() first")
        return self._transform(ProcessTransformation, "Process", function=func)

    def assign_timestamps_and_watermarks(self, watermark_strategy: WatermarkStrategy
                                         ) -> DataStream:
        """Give records event timestamps and emit watermarks (see WatermarkStrategy);
        the generator emits every ``env.get_config().get_auto_watermark_interval()`` ms::

            stream.assign_timestamps_and_watermarks(
                WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5))
                .with_timestamp_assigner(lambda event, ts: event["time"]))
        """
        if not isinstance(watermark_strategy, WatermarkStrategy):
            raise TypeError("expected a WatermarkStrategy")
        return self._transform(TimestampsAndWatermarksTransformation, "Timestamps/Watermarks",
                               watermark_strategy=watermark_strategy,
                               config=self._env.get_config())

    def get_side_output(self, output_tag: OutputTag) -> DataStream:
        """The records this stream's operator sent to ``output_tag`` (``yield tag, value``
        in a process function, late records of a window)."""
        if not isinstance(output_tag, OutputTag):
            raise TypeError("expected an OutputTag")
        node = self._require_node("get_side_output")
        return DataStream(self._env, [StreamInput(node, side_output_tag=output_tag.tag_id)])

    def key_by(self, key_selector: Any, key_type: Any = None) -> KeyedStream:
        """Partition by key: a callable, a KeySelector, a tuple index or a field name."""
        ks = to_key_selector(key_selector)
        inputs = [StreamInput(i.upstream, Partitioning.HASH, ks, i.side_output_tag)
                  for i in self._inputs]
        return KeyedStream(self._env, inputs, ks)

    def union(self, *streams: DataStream) -> DataStream:
        """One stream with the records of this and the other streams."""
        inputs = list(self._inputs)
        for s in streams:
            if s._env is not self._env:
                raise ValueError("cannot union streams of different environments")
            inputs.extend(s._inputs)
        return DataStream(self._env, inputs)

    def _partition(self, partitioning: Partitioning) -> DataStream:
        return DataStream(self._env, [StreamInput(i.upstream, partitioning, None,
                                                  i.side_output_tag) for i in self._inputs])

    def rebalance(self) -> DataStream:
        """Round-robin to all downstream subtasks."""
        return self._partition(Partitioning.REBALANCE)

    def rescale(self) -> DataStream:
        """Round-robin to a subset of downstream subtasks."""
        return self._partition(Partitioning.RESCALE)

    def shuffle(self) -> DataStream:
        """Uniformly random downstream subtask."""
        return self._partition(Partitioning.SHUFFLE)

    @overload
    def broadcast(self) -> DataStream: ...

    @overload
    def broadcast(self, descriptor: MapStateDescriptor, /,
                  *more: MapStateDescriptor) -> BroadcastStream: ...

    def broadcast(self, *broadcast_state_descriptors: Any) -> DataStream | BroadcastStream:
        """Every record to every downstream subtask. With MapStateDescriptors, a
        BroadcastStream to ``connect`` to another stream, whose (Keyed)BroadcastProcessFunction
        keeps those broadcast states (see :mod:`headwater.api.connected`)."""
        if broadcast_state_descriptors:
            from headwater.api.connected import BroadcastStream

            return BroadcastStream(self, list(broadcast_state_descriptors))
        return self._partition(Partitioning.BROADCAST)

    @overload
    def connect(self, ds: BroadcastStream) -> BroadcastConnectedStream: ...

    @overload
    def connect(self, ds: DataStream) -> ConnectedStreams: ...

    def connect(self, ds: Any) -> ConnectedStreams | BroadcastConnectedStream:
        """Connect with another stream: a DataStream or KeyedStream gives ConnectedStreams
        (``map``/``flat_map``/``process`` with co-functions), a BroadcastStream gives a
        BroadcastConnectedStream (see :mod:`headwater.api.connected`)."""
        from headwater.api.connected import (
            BroadcastConnectedStream,
            BroadcastStream,
            ConnectedStreams,
        )

        if isinstance(ds, BroadcastStream):
            return BroadcastConnectedStream(self, ds)
        if not isinstance(ds, DataStream):
            raise TypeError(f"can only connect a DataStream or a BroadcastStream, got "
                            f"{type(ds).__name__}")
        return ConnectedStreams(self, ds)

    def forward(self) -> DataStream:
        """Subtask i to subtask i (parallelisms must match)."""
        return self._partition(Partitioning.FORWARD)

    # -- sinks --------------------------------------------------------------------------

    def print(self, sink_identifier: str | None = None) -> DataStreamSink:
        """Print every record to the TaskManager's stdout ("i> " prefix when parallel)."""
        return DataStreamSink(self._add(PrintSinkTransformation, "Print to Std. Out", "Sink: ",
                                        sink_identifier=sink_identifier))

    def add_sink(self, sink_func: Any) -> DataStreamSink:
        """Consume records with a SinkFunction (``invoke(value, context)``) or a callable;
        a sink object (e.g. ``JdbcSink.sink(...)``, as in PyFlink) goes to :meth:`sink_to`."""
        if callable(getattr(sink_func, "create_operator", None)):
            return self.sink_to(sink_func)
        return DataStreamSink(self._add(SinkFunctionTransformation, "Unnamed", "Sink: ",
                                        function=sink_func))

    def sink_to(self, sink: Any) -> DataStreamSink:
        """Write records to a sink object such as ``FileSink.for_row_format(path)``."""
        create = getattr(sink, "create_operator", None)
        if not callable(create):
            raise TypeError(f"not a sink: {type(sink).__name__} (expected e.g. a FileSink)")
        return DataStreamSink(self._add(SinkTransformation, "Unnamed", "Sink: ", sink=sink))


class KeyedStream(DataStream):
    """A stream partitioned by key: keyed state, reduce and aggregations per key.

    ``map``/``filter``/``flat_map`` work as on DataStream (their input is hash
    partitioned).
    """

    def __init__(self, env: StreamExecutionEnvironment, inputs: list[StreamInput],
                 key_selector: Any) -> None:
        super().__init__(env, inputs)
        self._key_selector = key_selector

    def get_key_selector(self) -> Any:
        """The record -> key callable."""
        return self._key_selector

    def reduce(self, func: Any) -> DataStream:
        """Running ``func(accumulated, value)`` per key, emitted for every record."""
        return self._transform(KeyedReduceTransformation, "Keyed Reduce", function=func,
                               key_selector=self._key_selector)

    def _aggregate(self, kind: str, position: int | str) -> DataStream:
        return self._transform(KeyedAggregationTransformation, "Keyed Aggregation",
                               aggregation=kind,
                               position=position, key_selector=self._key_selector)

    def sum(self, position_to_sum: int | str = 0) -> DataStream:
        """Running sum of a field per key (the key's first record, field replaced)."""
        return self._aggregate("sum", position_to_sum)

    def min(self, position_to_min: int | str = 0) -> DataStream:
        """Running minimum of a field per key (the key's first record, field replaced)."""
        return self._aggregate("min", position_to_min)

    def max(self, position_to_max: int | str = 0) -> DataStream:
        """Running maximum of a field per key (the key's first record, field replaced)."""
        return self._aggregate("max", position_to_max)

    def min_by(self, position_to_min_by: int | str = 0) -> DataStream:
        """The whole record with the smallest field so far, per key."""
        return self._aggregate("min_by", position_to_min_by)

    def max_by(self, position_to_max_by: int | str = 0) -> DataStream:
        """The whole record with the largest field so far, per key."""
        return self._aggregate("max_by", position_to_max_by)

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """Per-record processing with a KeyedProcessFunction: keyed state, the key in
        ``ctx.get_current_key()``, timers (``on_timer``) and side outputs."""
        return self._transform(KeyedProcessTransformation, "KeyedProcess", function=func,
                               key_selector=self._key_selector)

    def window(self, window_assigner: WindowAssigner) -> WindowedStream:
        """Group each key's records into windows::

            keyed.window(TumblingEventTimeWindows.of(Time.seconds(10))).reduce(add)
        """
        if not isinstance(window_assigner, WindowAssigner):
            raise TypeError("expected a WindowAssigner")
        return WindowedStream(self, window_assigner)

    def count_window(self, size: int) -> WindowedStream:
        """Windows of ``size`` records per key (fired and purged at each ``size``-th)."""
        return self.window(GlobalWindows.create()).trigger(
            PurgingTrigger.of(CountTrigger.of(size)))


class WindowedStream:
    """A keyed stream cut into windows; a window function (``reduce``, ``aggregate``,
    ``process``, ``apply``) turns each fired window into results::

        (keyed.window(TumblingEventTimeWindows.of(Time.seconds(10)))
            .allowed_lateness(Time.seconds(5))
            .side_output_late_data(late_tag)
            .aggregate(Average()))
    """

    def __init__(self, keyed_stream: KeyedStream, window_assigner: WindowAssigner) -> None:
        self._keyed = keyed_stream
        self._assigner = window_assigner
        self._trigger: Trigger | None = None
        self._allowed_lateness = 0
        self._late_tag: OutputTag | None = None

    def trigger(self, trigger: Trigger) -> WindowedStream:
        """Replace the assigner's default trigger."""
        if not isinstance(trigger, Trigger):
            raise TypeError("expected a Trigger")
        if isinstance(self._assigner, MergingWindowAssigner) and not trigger.can_merge():
            raise ValueError("A merging window assigner cannot be used with a trigger that "
                             f"does not support merging: {trigger!r}")
        self._trigger = trigger
        return self

    def allowed_lateness(self, time_ms: Any) -> WindowedStream:
        """Keep windows ``time_ms`` (ms or Time) past their end: late records within it
        fire the window again."""
        lateness = to_millis(time_ms, "allowed lateness")
        if lateness < 0:
            raise ValueError("The allowed lateness cannot be negative.")
        self._allowed_lateness = lateness
        return self

    def side_output_late_data(self, output_tag: OutputTag) -> WindowedStream:
        """Send records too late for their windows to ``output_tag`` instead of dropping
        them (read with ``get_side_output`` on the result)."""
        if not isinstance(output_tag, OutputTag):
            raise TypeError("expected an OutputTag")
        self._late_tag = output_tag
        return self

    def _build(self, kind: WindowFunctionKind, incremental_function: Any,
               window_function: Any) -> DataStream:
        keyed = self._keyed
        trigger = self._trigger or self._assigner.get_default_trigger()
        name = f"Window({self._assigner!r}, {trigger!r}, {kind.value})"
        return keyed._transform(WindowTransformation, name, assigner=self._assigner,
                                key_selector=keyed.get_key_selector(), trigger=trigger,
                                kind=kind, incremental_function=incremental_function,
                                window_function=window_function,
                                allowed_lateness=self._allowed_lateness,
                                late_data_tag=self._late_tag)

    def reduce(self, reduce_function: Any, window_function: Any = None,
               output_type: Any = None) -> DataStream:
        """Reduce each window incrementally (``reduce(a, b)``); emit the reduced value,
        or what ``window_function`` (WindowFunction / ProcessWindowFunction) makes of
        it."""
        return self._build(WindowFunctionKind.REDUCE, reduce_function, window_function)

    def aggregate(self, aggregate_function: Any, window_function: Any = None,
                  accumulator_type: Any = None, output_type: Any = None) -> DataStream:
        """Aggregate each window incrementally with an AggregateFunction; emit
        ``get_result``, or what ``window_function`` makes of it."""
        return self._build(WindowFunctionKind.AGGREGATE, aggregate_function, window_function)

    def process(self, process_window_function: Any, output_type: Any = None) -> DataStream:
        """Evaluate each window with a ProcessWindowFunction
        (``process(key, context, elements)``) over all its records."""
        return self._build(WindowFunctionKind.PROCESS, None, process_window_function)

    def apply(self, window_function: Any, result_type: Any = None) -> DataStream:
        """Evaluate each window with a WindowFunction (``apply(key, window, inputs)``)
        over all its records."""
        return self._build(WindowFunctionKind.APPLY, None, window_function)


class DataStreamSink(_OperatorSettings):
    """The end of a stream: a sink whose settings can still be changed."""

    def __init__(self, node: Transformation) -> None:
        self._node = node
