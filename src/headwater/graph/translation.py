"""Transformations -> StreamGraph: each declared transformation becomes a node with its
runtime operator (Flink's ``StreamGraphGenerator`` and ``TransformationTranslator``s).

Node ids are the transformations' ids (declaration order), so a program gets the same
StreamGraph, and therefore the same operator ids, on every build. Every build creates
fresh operator objects.

The runtime imports the JobGraph it runs from this package, so the translators reach the
runtime's operators only when they run, not when this module is imported.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from headwater.api.connected import BroadcastProcessTransformation, CoTransformation
from headwater.api.transformations import (
    CollectionSourceTransformation,
    FilterTransformation,
    FlatMapTransformation,
    KeyedAggregationTransformation,
    KeyedProcessTransformation,
    KeyedReduceTransformation,
    MapTransformation,
    PrintSinkTransformation,
    ProcessTransformation,
    SequenceSourceTransformation,
    SinkFunctionTransformation,
    SinkTransformation,
    SourceFunctionTransformation,
    SourceTransformation,
    TimestampsAndWatermarksTransformation,
    Transformation,
    WindowFunctionKind,
    WindowTransformation,
)
from headwater.graph.job_graph import ShipStrategy
from headwater.graph.stream_graph import StreamGraph, StreamNode


def translate(transformations: Iterable[Transformation], job_name: str, parallelism: int,
              max_parallelism: int | None, chaining_enabled: bool,
              batch: bool = False) -> StreamGraph:
    """The StreamGraph of ``transformations`` (in declaration order: inputs first); for a
    BATCH job with local combiners (:func:`add_local_combiners`)."""
    graph = StreamGraph(job_name)
    graph.parallelism = parallelism
    graph.max_parallelism = max_parallelism
    graph.chaining_enabled = chaining_enabled
    nodes: dict[int, StreamNode] = {}
    for t in sorted(transformations, key=lambda t: t.id):
        node = graph.add_node(t.name[len(t.name_prefix):], create_operator(t), t.name_prefix,
                              t.parallelism, node_id=t.id)
        node.max_parallelism = t.max_parallelism
        node.uid = t.uid
        node.chaining_disabled = t.chaining_disabled
        node.starts_new_chain = t.starts_new_chain
        node.cache_id = t.cache_id
        for i in t.inputs:
            strategy = ShipStrategy(i.partitioning.value) if i.partitioning else None
            graph.add_edge(nodes[i.upstream.id], node, strategy, i.key_selector,
                           i.side_output_tag, i.type_number)
        nodes[t.id] = node
    if batch:
        add_local_combiners(graph)
    return graph


def add_local_combiners(graph: StreamGraph) -> None:
    """BATCH: put a combiner in front of the exchange of every keyed reduce/aggregation
    (its producer folds records per key and sends one partial value per key; see
    :class:`~headwater.runtime.operators.batch_keyed.LocalCombineOperator`)."""
    from headwater.runtime.operators.batch_keyed import LocalCombineOperator, combinable

    for node in list(graph.nodes.values()):
        if not combinable(node.operator) or len(node.in_edges) != 1:
            continue
        edge = node.in_edges[0]
        if edge.partitioner is not ShipStrategy.HASH or edge.side_output_tag is not None \
                or edge.type_number:
            continue
        upstream = graph.node(edge.source_id)
        combiner = graph.add_node(f"Combine ({node.name})",
                                  LocalCombineOperator(copy.deepcopy(node.operator)),
                                  parallelism=upstream.parallelism)
        combiner.max_parallelism = upstream.max_parallelism
        upstream.out_edges[upstream.out_edges.index(edge)] = graph_edge = dataclasses.replace(
            edge, target_id=combiner.id, partitioner=None, key_selector=None)
        combiner.in_edges.append(graph_edge)
        edge.source_id = combiner.id
        combiner.out_edges.append(edge)


def create_operator(t: Transformation) -> Any:
    """A new runtime operator for one transformation."""
    translator = _translators().get(type(t))
    build = getattr(t, "build_operator", None)
    if translator is None and callable(build):
        return build()  # e.g. columnar operators (api.batch_stream)
    if translator is None:
        raise TypeError(f"no translator for {type(t).__name__}")
    if t.output_type is not None:
        t = _with_output_type(t)
    return translator(t)


def _with_output_type(t: Transformation) -> Transformation:
    """A copy of ``t`` whose user function converts its outputs to ``t.output_type``
    (errors name the operator); ``t`` itself if that type converts nothing."""
    from headwater.api import typed_functions as typed
    from headwater.api.functions import KeyedProcessFunction, ProcessWindowFunction
    from headwater.api.typeinfo import converter_for

    convert = converter_for(t.output_type, t.name)
    if convert is None:
        return t
    if isinstance(t, MapTransformation):
        return dataclasses.replace(
            t, function=typed.wrap(typed.ConvertingMapFunction, t.function, convert))
    if isinstance(t, FlatMapTransformation):
        return dataclasses.replace(
            t, function=typed.wrap(typed.ConvertingFlatMapFunction, t.function, convert))
    if isinstance(t, ProcessTransformation | KeyedProcessTransformation):
        wrapper = typed.ConvertingKeyedProcessFunction \
            if isinstance(t.function, KeyedProcessFunction) \
            or isinstance(t, KeyedProcessTransformation) else typed.ConvertingProcessFunction
        return dataclasses.replace(t, function=typed.wrap(wrapper, t.function, convert))
    if isinstance(t, CoTransformation | BroadcastProcessTransformation):
        return dataclasses.replace(t, function=typed.wrap_two_input(t.function, convert))
    if isinstance(t, WindowTransformation):
        fn = t.window_function
        if t.kind == WindowFunctionKind.PROCESS or isinstance(fn, ProcessWindowFunction):
            wrapped: Any = typed.ConvertingProcessWindowFunction(fn, convert)
        else:
            wrapped = typed.ConvertingWindowFunction(fn, convert)
        return dataclasses.replace(t, window_function=wrapped)
    return t


def _translators() -> dict[type[Transformation], Callable[[Any], Any]]:
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
    from headwater.runtime.operators.sources import CollectionSource, SequenceSource, UserSource
    from headwater.runtime.operators.timestamps import TimestampsAndWatermarksOperator

    def timestamps(t: TimestampsAndWatermarksTransformation) -> Any:
        return TimestampsAndWatermarksOperator(t.watermark_strategy, config=t.config)

    def keyed_reduce(t: KeyedReduceTransformation) -> Any:
        return KeyedReduceOperator(t.function, t.key_selector)

    def keyed_aggregation(t: KeyedAggregationTransformation) -> Any:
        return KeyedAggregationOperator(t.aggregation, t.position, t.key_selector)

    def keyed_process(t: KeyedProcessTransformation) -> Any:
        return KeyedProcessOperator(t.function, t.key_selector)

    return {
        CollectionSourceTransformation: lambda t: CollectionSource(t.collection),
        SequenceSourceTransformation: lambda t: SequenceSource(t.start, t.end),
        SourceFunctionTransformation: lambda t: UserSource(t.function),
        SourceTransformation: lambda t: t.source.create_operator(),
        MapTransformation: lambda t: MapOperator(t.function),
        FlatMapTransformation: lambda t: FlatMapOperator(t.function),
        FilterTransformation: lambda t: FilterOperator(t.function),
        ProcessTransformation: lambda t: ProcessOperator(t.function),
        TimestampsAndWatermarksTransformation: timestamps,
        KeyedReduceTransformation: keyed_reduce,
        KeyedAggregationTransformation: keyed_aggregation,
        KeyedProcessTransformation: keyed_process,
        WindowTransformation: _window_operator,
        PrintSinkTransformation: lambda t: PrintSinkOperator(t.sink_identifier,
                                                             formatter=t.formatter),
        SinkFunctionTransformation: lambda t: SinkOperator(t.function),
        SinkTransformation: lambda t: t.sink.create_operator(),
        CoTransformation: _co_operator,
        BroadcastProcessTransformation: _broadcast_operator,
    }


def _co_operator(t: CoTransformation) -> Any:
    from headwater.runtime.operators.co_operators import CoOperator, KeyedCoOperator

    if t.key_selectors is not None:
        return KeyedCoOperator(t.function, t.co_kind, t.key_selectors)
    return CoOperator(t.function, t.co_kind)


def _broadcast_operator(t: BroadcastProcessTransformation) -> Any:
    from headwater.runtime.operators.co_operators import (
        BroadcastProcessOperator,
        KeyedBroadcastProcessOperator,
    )

    if t.key_selector is not None:
        return KeyedBroadcastProcessOperator(t.function, t.descriptors, t.key_selector)
    return BroadcastProcessOperator(t.function, t.descriptors)


def _window_operator(t: WindowTransformation) -> Any:
    from headwater.runtime.operators.window_contents import (
        AggregateContents,
        EvictingContents,
        ListContents,
        ReduceContents,
    )
    from headwater.runtime.operators.window_functions import WindowFunctionAdapter
    from headwater.runtime.operators.window_operator import WindowOperator

    contents: Any
    if t.kind == WindowFunctionKind.REDUCE:
        contents = ReduceContents(t.incremental_function)
        adapter = WindowFunctionAdapter(t.window_function)
    elif t.kind == WindowFunctionKind.AGGREGATE:
        contents = AggregateContents(t.incremental_function)
        adapter = WindowFunctionAdapter(t.window_function)
    else:
        contents = ListContents()
        adapter = WindowFunctionAdapter(t.window_function, t.kind.value)
    if t.evictor is not None:
        contents = EvictingContents(contents)
    return WindowOperator(t.assigner, t.key_selector, contents, adapter, t.trigger,
                          t.allowed_lateness, t.late_data_tag, t.evictor)
