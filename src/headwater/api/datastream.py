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

import copy
from typing import TYPE_CHECKING, Any, overload

from headwater.api.functions import (
    AllWindowFunction,
    KeyedProcessFunction,
    ProcessAllWindowFunction,
    ProcessWindowFunction,
    RichFunction,
    RuntimeContext,
    WindowFunction,
)
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
from headwater.api.typeinfo import check_type_info
from headwater.api.unsupported import JVM_ONLY, NOT_YET, TABLE_API_ONLY, unsupported
from headwater.api.watermarks import WatermarkStrategy
from headwater.api.windowing import (
    CountSlidingWindowAssigner,
    CountTumblingWindowAssigner,
    Evictor,
    MergingWindowAssigner,
    Trigger,
    WindowAssigner,
)

if TYPE_CHECKING:
    from headwater.api.batch_stream import BatchStream
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

    def slot_sharing_group(self, slot_sharing_group: Any):
        """Accepted and recorded in the execution plan (a name or a SlotSharingGroup);
        headwater runs one task per slot, so groups do not change placement."""
        name = getattr(slot_sharing_group, "get_name", None)
        name = name() if callable(name) else slot_sharing_group
        if not isinstance(name, str) or not name:
            raise ValueError("a slot sharing group needs a non-empty name")
        self._require_node("slot_sharing_group").slot_sharing_group = name
        return self

    def set_description(self, description: str):
        """A description of the operator, shown in the execution plan."""
        self._require_node("set_description").description = str(description)
        return self

    def set_uid_hash(self, uid_hash: str):
        """Use ``uid_hash`` (32 hex) as the operator id, as Flink's ``setUidHash``."""
        text = str(uid_hash).lower()
        if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
            raise ValueError("a uid hash is 32 hexadecimal characters")
        self._require_node("set_uid_hash").uid = text
        return self

    def force_non_parallel(self):
        """Run the operator with parallelism and max parallelism 1."""
        node = self._require_node("force_non_parallel")
        node.parallelism = 1
        node.max_parallelism = 1
        return self

    def set_buffer_timeout(self, timeout_millis: int):
        """Accepted: headwater flushes partly filled batches on its own schedule."""
        return self


class DataStream(_OperatorSettings):
    """A stream of records produced by one operator (or a union / partitioning of such)."""

    def __init__(self, env: StreamExecutionEnvironment, inputs: list[StreamInput],
                 node: Transformation | None = None, type_info: Any = None) -> None:
        self._env = env
        self._inputs = inputs
        self._node = node
        #: The declared type of the records (None: undeclared, PICKLED_BYTE_ARRAY).
        self._type_info = type_info if node is None else node.output_type

    if not TYPE_CHECKING:  # mypy keeps flagging unknown attributes
        def __getattr__(self, name: str) -> Any:
            if name in TABLE_API_ONLY or name in JVM_ONLY or name in NOT_YET:
                unsupported(type(self).__name__, name)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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

    def get_type(self) -> Any:
        """The declared type of the records (``Types.PICKLED_BYTE_ARRAY()`` when none was
        declared, as in PyFlink)."""
        from headwater.api.typeinfo import Types

        return self._type_info if self._type_info is not None else Types.PICKLED_BYTE_ARRAY()

    def get_execution_config(self) -> Any:
        """The environment's ExecutionConfig."""
        return self._env.get_config()

    # -- transformations ----------------------------------------------------------------

    def map(self, func: Any, output_type: Any = None) -> DataStream:
        """One output per record: ``func(value)`` or a MapFunction; with ``output_type``
        (a TypeInformation) the outputs are converted to it (see headwater.api.typeinfo)."""
        return self._transform(MapTransformation, "Map", function=func,
                               output_type=check_type_info(output_type, "output_type"))

    def flat_map(self, func: Any, output_type: Any = None) -> DataStream:
        """Any number of outputs per record: ``func(value)`` returns or yields them."""
        return self._transform(FlatMapTransformation, "Flat Map", function=func,
                               output_type=check_type_info(output_type, "output_type"))

    def filter(self, func: Any) -> DataStream:
        """Keep records for which ``func(value)`` is true."""
        return self._transform(FilterTransformation, "Filter", function=func,
                               output_type=self._type_info)

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """Per-record processing with a ProcessFunction (``process_element`` yields)."""
        if isinstance(func, KeyedProcessFunction):
            raise TypeError("a KeyedProcessFunction needs a keyed stream: call key_by() first")
        return self._transform(ProcessTransformation, "Process", function=func,
                               output_type=check_type_info(output_type, "output_type"))

    def project(self, *field_indexes: int) -> DataStream:
        """Keep the given fields of tuple records, in that order (a tuple)."""
        from headwater.api.typeinfo import TupleTypeInfo, Types

        if not field_indexes:
            raise ValueError("project() needs at least one field index")
        declared = self._type_info
        if declared is not None and not isinstance(declared, TupleTypeInfo):
            raise TypeError("Only Tuple DataStreams can be projected.")
        output_type = None
        if declared is not None:
            types = declared.get_field_types()
            output_type = Types.TUPLE([types[i] for i in field_indexes])
        return self._transform(MapTransformation, "Projection",
                               function=_Projection(tuple(int(i) for i in field_indexes)),
                               output_type=output_type)

    def partition_custom(self, partitioner: Any, key_selector: Any) -> DataStream:
        """Send each record to the subtask ``partitioner.partition(key, n)`` (a
        Partitioner or a callable ``(key, n)``) chooses for ``key_selector(record)``."""
        partition = getattr(partitioner, "partition", partitioner)
        if not callable(partition):
            raise TypeError("expected a Partitioner or a callable (key, num_partitions)")
        channel = _CustomChannel(partition, to_key_selector(key_selector))
        return DataStream(self._env, [StreamInput(i.upstream, Partitioning.CUSTOM, channel,
                                                  i.side_output_tag) for i in self._inputs],
                          type_info=self._type_info)

    def to_batches(self, size: int = 1024, schema: Any = None) -> BatchStream:
        """A columnar stream of this stream's records as Arrow batches of at most ``size``
        rows (:mod:`headwater.api.batch_stream`)."""
        from headwater.api.batch_stream import to_batches

        return to_batches(self, size, schema)

    def window_all(self, window_assigner: WindowAssigner) -> AllWindowedStream:
        """Windows over the whole (non-keyed) stream, evaluated by one subtask::

            ds.window_all(TumblingEventTimeWindows.of(Time.seconds(10))).reduce(add)
        """
        if not isinstance(window_assigner, WindowAssigner):
            raise TypeError("expected a WindowAssigner")
        keyed = self.key_by(_all_key)
        return AllWindowedStream(keyed, window_assigner)

    def execute_and_collect(self, job_execution_name: str | None = None,
                            limit: int | None = None) -> Any:
        """Run the job and return its results: a :class:`CloseableIterator` over this
        stream's records, or (with ``limit``) a list of at most ``limit`` of them.

        The records travel back through the job's result (an accumulator), so the call
        returns when the job ends: use it on bounded streams."""
        from headwater.api.collect import execute_and_collect

        return execute_and_collect(self, job_execution_name, limit)

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
                               config=self._env.get_config(), output_type=self._type_info)

    def get_side_output(self, output_tag: OutputTag) -> DataStream:
        """The records this stream's operator sent to ``output_tag`` (``yield tag, value``
        in a process function, late records of a window)."""
        if not isinstance(output_tag, OutputTag):
            raise TypeError("expected an OutputTag")
        node = self._require_node("get_side_output")
        return DataStream(self._env, [StreamInput(node, side_output_tag=output_tag.tag_id)],
                          type_info=check_type_info(output_tag.type_info, "OutputTag type_info"))

    def cache(self) -> CachedDataStream:
        """Keep this stream's records on the TaskManagers once a BATCH job computed them
        (a cluster data set, listed by ``GET /datasets``): later jobs of this program read
        them instead of computing them again (Flink 1.16's ``DataStream.cache()``)."""
        node = self._node
        if node is None or len(self._inputs) != 1 or self._inputs[0].partitioning is not None:
            node = self.map(_identity).name("Cache")._node  # a union or a partitioning
        assert node is not None
        if node.cache_id is None:
            from headwater.ids import new_id

            node.cache_id = new_id()
        return CachedDataStream(self._env, [StreamInput(node)], node)

    def key_by(self, key_selector: Any, key_type: Any = None) -> KeyedStream:
        """Partition by key: a callable, a KeySelector, a tuple index or a field name.
        With ``key_type`` (a TypeInformation) keys are converted to it."""
        ks = to_key_selector(key_selector)
        from headwater.api.typeinfo import converter_for

        convert = converter_for(check_type_info(key_type, "key_type"), "key_by", "key")
        if convert is not None:
            ks = _TypedKey(ks, convert)
        inputs = [StreamInput(i.upstream, Partitioning.HASH, ks, i.side_output_tag)
                  for i in self._inputs]
        return KeyedStream(self._env, inputs, ks, self._type_info)

    def union(self, *streams: DataStream) -> DataStream:
        """One stream with the records of this and the other streams."""
        inputs = list(self._inputs)
        for s in streams:
            if s._env is not self._env:
                raise ValueError("cannot union streams of different environments")
            inputs.extend(s._inputs)
        return DataStream(self._env, inputs, type_info=self._type_info)

    def _partition(self, partitioning: Partitioning) -> DataStream:
        return DataStream(self._env, [StreamInput(i.upstream, partitioning, None,
                                                  i.side_output_tag) for i in self._inputs],
                          type_info=self._type_info)

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
        """Print every record to the TaskManager's stdout ("i> " prefix when parallel);
        records of a declared type print as Flink prints them (``(a,1)``, ``+I[a, 1]``)."""
        return DataStreamSink(self._add(PrintSinkTransformation, "Print to Std. Out", "Sink: ",
                                        sink_identifier=sink_identifier,
                                        formatter=self._flink_format()))

    def _flink_format(self) -> Any:
        """The Flink text format of this stream's declared type (None: ``str``)."""
        from headwater.api.flink_strings import FlinkStringFormat, needs_flink_format

        return FlinkStringFormat(self._type_info) if needs_flink_format(self._type_info) \
            else None

    def add_sink(self, sink_func: Any) -> DataStreamSink:
        """Consume records with a SinkFunction (``invoke(value, context)``) or a callable;
        a sink object (e.g. ``JdbcSink.sink(...)`` or a StreamingFileSink, as in PyFlink) goes to :meth:`sink_to`."""
        if callable(getattr(sink_func, "create_operator", None)):
            return self.sink_to(sink_func)
        return DataStreamSink(self._add(SinkFunctionTransformation, "Unnamed", "Sink: ",
                                        function=sink_func))

    def sink_to(self, sink: Any) -> DataStreamSink:
        """Write records to a sink object such as ``FileSink.for_row_format(path)``."""
        create = getattr(sink, "create_operator", None)
        if not callable(create):
            raise TypeError(f"not a sink: {type(sink).__name__} (expected e.g. a FileSink)")
        text = self._flink_format()
        if text is not None and getattr(sink, "encoder", None) is str:
            sink = copy.copy(sink)  # SimpleStringEncoder: Flink's text of the declared type
            sink.encoder = text
        return DataStreamSink(self._add(SinkTransformation, "Unnamed", "Sink: ", sink=sink))


class KeyedStream(DataStream):
    """A stream partitioned by key: keyed state, reduce and aggregations per key.

    ``map``/``filter``/``flat_map`` work as on DataStream (their input is hash
    partitioned).
    """

    def __init__(self, env: StreamExecutionEnvironment, inputs: list[StreamInput],
                 key_selector: Any, type_info: Any = None) -> None:
        super().__init__(env, inputs, type_info=type_info)
        self._key_selector = key_selector

    def get_key_selector(self) -> Any:
        """The record -> key callable."""
        return self._key_selector

    def reduce(self, func: Any) -> DataStream:
        """Running ``func(accumulated, value)`` per key, emitted for every record."""
        return self._transform(KeyedReduceTransformation, "Keyed Reduce", function=func,
                               key_selector=self._key_selector, output_type=self._type_info)

    def _aggregate(self, kind: str, position: int | str) -> DataStream:
        return self._transform(KeyedAggregationTransformation, "Keyed Aggregation",
                               aggregation=kind, position=position,
                               key_selector=self._key_selector, output_type=self._type_info)

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
                               key_selector=self._key_selector,
                               output_type=check_type_info(output_type, "output_type"))

    def window(self, window_assigner: WindowAssigner) -> WindowedStream:
        """Group each key's records into windows::

            keyed.window(TumblingEventTimeWindows.of(Time.seconds(10))).reduce(add)
        """
        if not isinstance(window_assigner, WindowAssigner):
            raise TypeError("expected a WindowAssigner")
        return WindowedStream(self, window_assigner)

    def count_window(self, size: int, slide: int = 0) -> WindowedStream:
        """Windows of ``size`` records per key (``CountWindow``s, fired and purged when
        full); with ``slide``, a window of ``size`` records starts every ``slide``."""
        if slide:
            return self.window(CountSlidingWindowAssigner.of(size, slide))
        return self.window(CountTumblingWindowAssigner.of(size))


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
        self._evictor: Any = None

    def get_execution_environment(self) -> StreamExecutionEnvironment:
        """The environment the stream belongs to."""
        return self._keyed._env

    def get_input_type(self) -> Any:
        """The declared type of the windowed records."""
        return self._keyed.get_type()

    def evictor(self, evictor: Evictor) -> WindowedStream:
        """Remove records from fired windows before/after evaluation (CountEvictor,
        TimeEvictor, your Evictor); the window then keeps every record."""
        if not isinstance(evictor, Evictor):
            raise TypeError("expected an Evictor")
        self._evictor = evictor
        return self

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
               window_function: Any, output_type: Any = None,
               name_prefix: str = "Window") -> DataStream:
        keyed = self._keyed
        trigger = self._trigger or self._assigner.get_default_trigger()
        name = f"{name_prefix}({self._assigner!r}, {trigger!r}, {kind.value})"
        if output_type is None and kind == WindowFunctionKind.REDUCE and window_function is None:
            output_type = keyed._type_info
        stream = keyed._transform(WindowTransformation, name, assigner=self._assigner,
                                  key_selector=keyed.get_key_selector(), trigger=trigger,
                                  kind=kind, incremental_function=incremental_function,
                                  window_function=window_function,
                                  allowed_lateness=self._allowed_lateness,
                                  late_data_tag=self._late_tag, evictor=self._evictor,
                                  output_type=check_type_info(output_type, "output_type"))
        return stream

    def reduce(self, reduce_function: Any, window_function: Any = None,
               output_type: Any = None) -> DataStream:
        """Reduce each window incrementally (``reduce(a, b)``); emit the reduced value,
        or what ``window_function`` (WindowFunction / ProcessWindowFunction) makes of
        it."""
        return self._build(WindowFunctionKind.REDUCE, reduce_function, window_function,
                           output_type)

    def aggregate(self, aggregate_function: Any, window_function: Any = None,
                  accumulator_type: Any = None, output_type: Any = None) -> DataStream:
        """Aggregate each window incrementally with an AggregateFunction; emit
        ``get_result``, or what ``window_function`` makes of it."""
        return self._build(WindowFunctionKind.AGGREGATE, aggregate_function, window_function,
                           output_type)

    def process(self, process_window_function: Any, output_type: Any = None) -> DataStream:
        """Evaluate each window with a ProcessWindowFunction
        (``process(key, context, elements)``) over all its records."""
        return self._build(WindowFunctionKind.PROCESS, None, process_window_function,
                           output_type)

    def apply(self, window_function: Any, output_type: Any = None) -> DataStream:
        """Evaluate each window with a WindowFunction (``apply(key, window, inputs)``)
        over all its records."""
        return self._build(WindowFunctionKind.APPLY, None, window_function, output_type)


class AllWindowedStream(WindowedStream):
    """The windows of ``window_all``: the whole stream in one subtask; ``apply`` takes an
    AllWindowFunction (``apply(window, inputs)``), ``process`` a
    ProcessAllWindowFunction (``process(context, elements)``)."""

    def _build(self, kind: WindowFunctionKind, incremental_function: Any,
               window_function: Any, output_type: Any = None,
               name_prefix: str = "AllWindow") -> DataStream:
        if window_function is not None:
            window_function = _AllWindowAdapter.wrap(window_function, kind)
        stream = super()._build(kind, incremental_function, window_function, output_type,
                                name_prefix)
        stream.force_non_parallel()
        return stream

    def get_input_type(self) -> Any:
        """The declared type of the windowed records."""
        return self._keyed.get_type()


class DataStreamSink(_OperatorSettings):
    """The end of a stream: a sink whose settings can still be changed."""

    def __init__(self, node: Transformation) -> None:
        self._node = node


# -- helpers that travel with the job -------------------------------------------------------


def _all_key(value: Any) -> int:
    """The one key of ``window_all``."""
    return 0


class _Projection:
    """``project(*fields)``: the record's fields at the given positions, as a tuple."""

    def __init__(self, fields: tuple[int, ...]) -> None:
        self.fields = fields

    def __call__(self, value: Any) -> tuple:
        return tuple(value[i] for i in self.fields)


class _CustomChannel:
    """The channel choice of ``partition_custom``."""

    def __init__(self, partition: Any, key_selector: Any) -> None:
        self.partition = partition
        self.key_selector = key_selector

    def channel(self, value: Any, num_channels: int) -> int:
        """The channel of ``value``."""
        return self.partition(self.key_selector(value), num_channels)

    def __call__(self, value: Any) -> Any:
        return self.key_selector(value)


class _TypedKey:
    """A key selector whose keys are converted to the declared ``key_type``."""

    def __init__(self, key_selector: Any, convert: Any) -> None:
        self.key_selector = key_selector
        self.convert = convert

    def __call__(self, value: Any) -> Any:
        return self.convert(self.key_selector(value))


class _AllWindowAdapter(RichFunction):
    """Calls an AllWindowFunction / ProcessAllWindowFunction (or callable without the
    key) where the window operator passes the key first."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @staticmethod
    def wrap(function: Any, kind: WindowFunctionKind) -> Any:
        """The adapter of ``function`` for ``kind``."""
        if isinstance(function, ProcessAllWindowFunction) or (
                kind == WindowFunctionKind.PROCESS
                and not isinstance(function, ProcessWindowFunction)):
            return _ProcessAllWindowAdapter(function)
        if isinstance(function, AllWindowFunction) or (
                kind == WindowFunctionKind.APPLY and not isinstance(function, WindowFunction)):
            return _ApplyAllWindowAdapter(function)
        return function

    def open(self, runtime_context: RuntimeContext) -> None:
        """Open the user's function."""
        if isinstance(self.inner, RichFunction):
            self.inner.open(runtime_context)

    def close(self) -> None:
        """Close the user's function."""
        if isinstance(self.inner, RichFunction):
            self.inner.close()


class _ProcessAllWindowAdapter(_AllWindowAdapter, ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        """``inner.process(context, elements)``."""
        return getattr(self.inner, "process", self.inner)(context, elements)

    def clear(self, context: Any) -> None:
        """``inner.clear(context)``."""
        clear = getattr(self.inner, "clear", None)
        if clear is not None:
            clear(context)


class _ApplyAllWindowAdapter(_AllWindowAdapter, WindowFunction):
    def apply(self, key: Any, window: Any, inputs: Any) -> Any:
        """``inner.apply(window, inputs)``."""
        return getattr(self.inner, "apply", self.inner)(window, inputs)


def _identity(value: Any) -> Any:
    return value


class CachedDataStream(DataStream):
    """A stream whose records a BATCH job keeps as a cluster data set (``cache()``)."""

    @property
    def dataset_id(self) -> str:
        """The id of its cluster data set (32 hex), as ``GET /datasets`` lists it."""
        assert self._node is not None and self._node.cache_id is not None
        return self._node.cache_id

    def invalidate(self) -> None:
        """Release the cached records on the cluster; the next job computes them again."""
        self._env._invalidate_dataset(self.dataset_id)
