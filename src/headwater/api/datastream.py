"""DataStream and KeyedStream: the fluent API that declares a job's operators.

Each transformation appends a node to the environment's StreamGraph and returns a new
stream; the node-level settings (``name``, ``uid``, ``set_parallelism``...) apply to the
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

from typing import TYPE_CHECKING, Any

from headwater.api.functions import KeyedProcessFunction
from headwater.api.key_selectors import to_key_selector
from headwater.api.side_outputs import OutputTag
from headwater.api.time import to_millis
from headwater.api.watermarks import WatermarkStrategy
from headwater.api.windowing import (
    CountTrigger,
    GlobalWindows,
    MergingWindowAssigner,
    PurgingTrigger,
    Trigger,
    WindowAssigner,
)
from headwater.graph.job_graph import ShipStrategy
from headwater.graph.stream_graph import StreamNode
from headwater.runtime.operators.keyed import (
    KeyedAggregationOperator,
    KeyedProcessOperator,
    KeyedReduceOperator,
)
from headwater.runtime.operators.simple import (
    FilterOperator,
    FlatMapOperator,
    MapOperator,
    PrintSinkOperator,
    ProcessOperator,
    SinkOperator,
)
from headwater.runtime.operators.timestamps import TimestampsAndWatermarksOperator
from headwater.runtime.operators.window_contents import (
    AggregateContents,
    ListContents,
    ReduceContents,
)
from headwater.runtime.operators.window_functions import WindowFunctionAdapter
from headwater.runtime.operators.window_operator import WindowOperator

if TYPE_CHECKING:
    from headwater.api.environment import StreamExecutionEnvironment

#: One upstream connection of a stream: (node, requested strategy, key selector, side
#: output tag id or None for the node's main output).
_Input = tuple[StreamNode, ShipStrategy | None, Any, str | None]


class _OperatorSettings:
    """Settings of the operator that produced a stream (or of a sink)."""

    _node: StreamNode | None

    def _require_node(self, what: str) -> StreamNode:
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

    def __init__(self, env: StreamExecutionEnvironment, inputs: list[_Input],
                 node: StreamNode | None = None) -> None:
        self._env = env
        self._inputs = inputs
        self._node = node

    @classmethod
    def _of(cls, env: StreamExecutionEnvironment, node: StreamNode) -> DataStream:
        return cls(env, [(node, None, None, None)], node)

    def get_execution_environment(self) -> StreamExecutionEnvironment:
        """The environment the stream belongs to."""
        return self._env

    def _add(self, name: str, operator: Any, name_prefix: str = "") -> StreamNode:
        graph = self._env._graph
        node = graph.add_node(name, operator, name_prefix)
        for src, partitioner, key_selector, side_tag in self._inputs:
            graph.add_edge(src, node, partitioner, key_selector, side_tag)
        return node

    def _transform(self, name: str, operator: Any) -> DataStream:
        return DataStream._of(self._env, self._add(name, operator))

    # -- transformations ----------------------------------------------------------------

    def map(self, func: Any, output_type: Any = None) -> DataStream:
        """One output per record: ``func(value)`` or a MapFunction."""
        return self._transform("Map", MapOperator(func))

    def flat_map(self, func: Any, output_type: Any = None) -> DataStream:
        """Any number of outputs per record: ``func(value)`` returns or yields them."""
        return self._transform("Flat Map", FlatMapOperator(func))

    def filter(self, func: Any) -> DataStream:
        """Keep records for which ``func(value)`` is true."""
        return self._transform("Filter", FilterOperator(func))

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """Per-record processing with a ProcessFunction (``process_element`` yields)."""
        if isinstance(func, KeyedProcessFunction):
            raise TypeError("a KeyedProcessFunction needs a keyed stream: call key_by() first")
        return self._transform("Process", ProcessOperator(func))

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
        op = TimestampsAndWatermarksOperator(watermark_strategy,
                                             config=self._env.get_config())
        return self._transform("Timestamps/Watermarks", op)

    def get_side_output(self, output_tag: OutputTag) -> DataStream:
        """The records this stream's operator sent to ``output_tag`` (``yield tag, value``
        in a process function, late records of a window)."""
        if not isinstance(output_tag, OutputTag):
            raise TypeError("expected an OutputTag")
        node = self._require_node("get_side_output")
        return DataStream(self._env, [(node, None, None, output_tag.tag_id)])

    def key_by(self, key_selector: Any, key_type: Any = None) -> KeyedStream:
        """Partition by key: a callable, a KeySelector, a tuple index or a field name."""
        ks = to_key_selector(key_selector)
        inputs = [(node, ShipStrategy.HASH, ks, tag) for node, _, _, tag in self._inputs]
        return KeyedStream(self._env, inputs, ks)

    def union(self, *streams: DataStream) -> DataStream:
        """One stream with the records of this and the other streams."""
        inputs = list(self._inputs)
        for s in streams:
            if s._env is not self._env:
                raise ValueError("cannot union streams of different environments")
            inputs.extend(s._inputs)
        return DataStream(self._env, inputs)

    def _partition(self, strategy: ShipStrategy) -> DataStream:
        return DataStream(self._env, [(node, strategy, None, tag)
                                      for node, _, _, tag in self._inputs])

    def rebalance(self) -> DataStream:
        """Round-robin to all downstream subtasks."""
        return self._partition(ShipStrategy.REBALANCE)

    def rescale(self) -> DataStream:
        """Round-robin to a subset of downstream subtasks."""
        return self._partition(ShipStrategy.RESCALE)

    def shuffle(self) -> DataStream:
        """Uniformly random downstream subtask."""
        return self._partition(ShipStrategy.SHUFFLE)

    def broadcast(self) -> DataStream:
        """Every record to every downstream subtask."""
        return self._partition(ShipStrategy.BROADCAST)

    def forward(self) -> DataStream:
        """Subtask i to subtask i (parallelisms must match)."""
        return self._partition(ShipStrategy.FORWARD)

    # -- sinks --------------------------------------------------------------------------

    def print(self, sink_identifier: str | None = None) -> DataStreamSink:
        """Print every record to the TaskManager's stdout ("i> " prefix when parallel)."""
        op = PrintSinkOperator(sink_identifier)
        return DataStreamSink(self._add("Print to Std. Out", op, "Sink: "))

    def add_sink(self, sink_func: Any) -> DataStreamSink:
        """Consume records with a SinkFunction (``invoke(value, context)``) or a callable."""
        return DataStreamSink(self._add("Unnamed", SinkOperator(sink_func), "Sink: "))

    def sink_to(self, sink: Any) -> DataStreamSink:
        """Write records to a sink object such as ``FileSink.for_row_format(path)``."""
        create = getattr(sink, "create_operator", None)
        if not callable(create):
            raise TypeError(f"not a sink: {type(sink).__name__} (expected e.g. a FileSink)")
        return DataStreamSink(self._add("Unnamed", create(), "Sink: "))


class KeyedStream(DataStream):
    """A stream partitioned by key: keyed state, reduce and aggregations per key.

    ``map``/``filter``/``flat_map`` work as on DataStream (their input is hash
    partitioned).
    """

    def __init__(self, env: StreamExecutionEnvironment, inputs: list[_Input],
                 key_selector: Any) -> None:
        super().__init__(env, inputs)
        self._key_selector = key_selector

    def get_key_selector(self) -> Any:
        """The record -> key callable."""
        return self._key_selector

    def reduce(self, func: Any) -> DataStream:
        """Running ``func(accumulated, value)`` per key, emitted for every record."""
        return self._transform("Keyed Reduce", KeyedReduceOperator(func, self._key_selector))

    def _aggregate(self, kind: str, position: int | str) -> DataStream:
        op = KeyedAggregationOperator(kind, position, self._key_selector)
        return self._transform("Keyed Aggregation", op)

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
        return self._transform("KeyedProcess", KeyedProcessOperator(func, self._key_selector))

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

    def _build(self, contents: Any, window_function: Any, what: str) -> DataStream:
        keyed = self._keyed
        trigger = self._trigger or self._assigner.get_default_trigger()
        op = WindowOperator(self._assigner, keyed.get_key_selector(), contents,
                            window_function, trigger, self._allowed_lateness, self._late_tag)
        name = f"Window({self._assigner!r}, {trigger!r}, {what})"
        return keyed._transform(name, op)

    def reduce(self, reduce_function: Any, window_function: Any = None,
               output_type: Any = None) -> DataStream:
        """Reduce each window incrementally (``reduce(a, b)``); emit the reduced value,
        or what ``window_function`` (WindowFunction / ProcessWindowFunction) makes of
        it."""
        return self._build(ReduceContents(reduce_function),
                           WindowFunctionAdapter(window_function), "reduce")

    def aggregate(self, aggregate_function: Any, window_function: Any = None,
                  accumulator_type: Any = None, output_type: Any = None) -> DataStream:
        """Aggregate each window incrementally with an AggregateFunction; emit
        ``get_result``, or what ``window_function`` makes of it."""
        return self._build(AggregateContents(aggregate_function),
                           WindowFunctionAdapter(window_function), "aggregate")

    def process(self, process_window_function: Any, output_type: Any = None) -> DataStream:
        """Evaluate each window with a ProcessWindowFunction
        (``process(key, context, elements)``) over all its records."""
        return self._build(ListContents(),
                           WindowFunctionAdapter(process_window_function, "process"),
                           "process")

    def apply(self, window_function: Any, result_type: Any = None) -> DataStream:
        """Evaluate each window with a WindowFunction (``apply(key, window, inputs)``)
        over all its records."""
        return self._build(ListContents(), WindowFunctionAdapter(window_function, "apply"),
                           "apply")


class DataStreamSink(_OperatorSettings):
    """The end of a stream: a sink whose settings can still be changed."""

    def __init__(self, node: StreamNode) -> None:
        self._node = node
