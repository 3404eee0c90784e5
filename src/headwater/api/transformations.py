"""Transformations: what a program declared, before any operator exists (Flink's
``Transformation`` classes).

The DataStream API records one :class:`Transformation` per operator (source, map,
window, sink...) holding the user function and its settings; partitioning, union and
side outputs add none, they shape the :class:`StreamInput` of the next one. When the job
is built, :mod:`headwater.graph.translation` turns each into a StreamGraph node with its
runtime operator (Flink's ``TransformationTranslator``). The API itself never touches the
runtime.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from typing import Any, ClassVar

from headwater.api.execution_config import ExecutionConfig
from headwater.api.functions import (
    ProcessWindowFunction,
    SourceFunction,
    WindowFunction,
    resolve_function,
)
from headwater.api.side_outputs import OutputTag
from headwater.api.watermarks import WatermarkStrategy
from headwater.api.windowing import Trigger, WindowAssigner


class Partitioning(enum.StrEnum):
    """How records reach the next operator when the program asks for it (Flink's
    partitioners; the JobGraph's ship strategies have the same names)."""

    FORWARD = "FORWARD"
    HASH = "HASH"
    REBALANCE = "REBALANCE"
    RESCALE = "RESCALE"
    SHUFFLE = "SHUFFLE"
    BROADCAST = "BROADCAST"
    CUSTOM = "CUSTOM"


@dataclasses.dataclass(eq=False)
class StreamInput:
    """One upstream connection of a transformation."""

    upstream: Transformation
    #: None: FORWARD if the parallelisms match, else REBALANCE (decided when building).
    partitioning: Partitioning | None = None
    #: For HASH: the record -> key callable.
    key_selector: Any = None
    #: The OutputTag id when the input reads a side output of ``upstream``.
    side_output_tag: str | None = None
    #: 1 or 2: the input of a two-input transformation this connection feeds; else 0.
    type_number: int = 0


@dataclasses.dataclass(eq=False, kw_only=True)
class Transformation:
    """One operator of the program and its node-level settings."""

    #: Declaration order, unique within the environment (the StreamGraph node id).
    id: int
    #: Display name as in Flink's vertex names: "Map", "Source: lines", "Sink: Unnamed".
    name: str
    #: Name prefix that stays when the user renames it ("Source: ", "Sink: ").
    name_prefix: str = ""
    inputs: list[StreamInput] = dataclasses.field(default_factory=list)
    parallelism: int | None = None
    max_parallelism: int | None = None
    uid: str | None = None
    #: disable_chaining(): never chained to a predecessor or successor.
    chaining_disabled: bool = False
    #: start_new_chain(): not chained to its predecessor.
    starts_new_chain: bool = False
    #: The declared type of the outputs (a TypeInformation; None: not converted).
    output_type: Any = None
    #: slot_sharing_group(): recorded in the execution plan (one slot runs one task).
    slot_sharing_group: str | None = None
    #: set_description(): shown in the execution plan.
    description: str | None = None
    #: cache(): the id of the cluster data set its output is kept as (BATCH jobs).
    cache_id: str | None = None

    def set_name(self, name: str) -> None:
        """Rename, keeping the kind prefix ("Source: ", "Sink: ")."""
        self.name = f"{self.name_prefix}{name}"


@dataclasses.dataclass(eq=False, kw_only=True)
class FunctionTransformation(Transformation):
    """A transformation around one user function, checked when it is declared."""

    function: Any
    #: The method a function class implements, and what the error message calls it.
    method: ClassVar[str] = ""
    kind: ClassVar[str] = "function"

    def __post_init__(self) -> None:
        resolve_function(self.function, self.method, self.kind)


# -- sources ------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False, kw_only=True)
class CollectionSourceTransformation(Transformation):
    """``from_collection``: the elements, split round-robin across subtasks."""

    collection: list[Any]


@dataclasses.dataclass(eq=False, kw_only=True)
class SequenceSourceTransformation(Transformation):
    """``from_sequence``: the integers ``start..end`` (inclusive)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be smaller than start ({self.start})")


@dataclasses.dataclass(eq=False, kw_only=True)
class SourceFunctionTransformation(Transformation):
    """``add_source``: a SourceFunction, a generator function or an iterable."""

    function: Any

    def __post_init__(self) -> None:
        fn = self.function
        if not (isinstance(fn, SourceFunction) or callable(fn) or isinstance(fn, Iterable)):
            raise TypeError("a source must be a SourceFunction, a generator function or an "
                            f"iterable, got {type(fn).__name__}")


@dataclasses.dataclass(eq=False, kw_only=True)
class SourceTransformation(Transformation):
    """``from_source``: a source object (e.g. a FileSource) that creates its operator."""

    source: Any


# -- one-input operators --------------------------------------------------------------------


@dataclasses.dataclass(eq=False, kw_only=True)
class MapTransformation(FunctionTransformation):
    """``map``: one output per record."""

    method = "map"
    kind = "MapFunction"


@dataclasses.dataclass(eq=False, kw_only=True)
class FlatMapTransformation(FunctionTransformation):
    """``flat_map``: any number of outputs per record."""

    method = "flat_map"
    kind = "FlatMapFunction"


@dataclasses.dataclass(eq=False, kw_only=True)
class FilterTransformation(FunctionTransformation):
    """``filter``: the records the predicate keeps."""

    method = "filter"
    kind = "FilterFunction"


@dataclasses.dataclass(eq=False, kw_only=True)
class ProcessTransformation(FunctionTransformation):
    """``process`` on a DataStream: a ProcessFunction."""

    method = "process_element"
    kind = "ProcessFunction"


@dataclasses.dataclass(eq=False, kw_only=True)
class TimestampsAndWatermarksTransformation(Transformation):
    """``assign_timestamps_and_watermarks``; ``config`` gives the auto-watermark
    interval."""

    watermark_strategy: WatermarkStrategy
    config: ExecutionConfig


# -- keyed operators ------------------------------------------------------------------------


@dataclasses.dataclass(eq=False, kw_only=True)
class KeyedReduceTransformation(FunctionTransformation):
    """``reduce`` on a KeyedStream: a running reduce per key."""

    key_selector: Any
    method = "reduce"
    kind = "ReduceFunction"


@dataclasses.dataclass(eq=False, kw_only=True)
class KeyedAggregationTransformation(Transformation):
    """``sum``/``min``/``max``/``min_by``/``max_by`` on a KeyedStream."""

    #: one of AGGREGATIONS
    aggregation: str
    position: int | str
    key_selector: Any

    AGGREGATIONS: ClassVar[tuple[str, ...]] = ("sum", "min", "max", "min_by", "max_by")

    def __post_init__(self) -> None:
        if self.aggregation not in self.AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}")
        if isinstance(self.position, bool) or not isinstance(self.position, int | str):
            raise TypeError("position must be a field index (int) or a field name (str)")


@dataclasses.dataclass(eq=False, kw_only=True)
class KeyedProcessTransformation(FunctionTransformation):
    """``process`` on a KeyedStream: a KeyedProcessFunction."""

    key_selector: Any
    method = "process_element"
    kind = "KeyedProcessFunction"


class WindowFunctionKind(enum.StrEnum):
    """How a window's contents are kept and evaluated."""

    #: incremental ``reduce(a, b)``; ``window_function`` optional
    REDUCE = "reduce"
    #: incremental AggregateFunction; ``window_function`` optional
    AGGREGATE = "aggregate"
    #: all records, evaluated by a ProcessWindowFunction
    PROCESS = "process"
    #: all records, evaluated by a WindowFunction
    APPLY = "apply"


@dataclasses.dataclass(eq=False, kw_only=True)
class WindowTransformation(Transformation):
    """A window operator of a WindowedStream."""

    assigner: WindowAssigner
    key_selector: Any
    trigger: Trigger
    kind: WindowFunctionKind
    #: REDUCE: the ReduceFunction; AGGREGATE: the AggregateFunction; else None.
    incremental_function: Any
    #: REDUCE/AGGREGATE: optional WindowFunction or ProcessWindowFunction; PROCESS/APPLY:
    #: the window function.
    window_function: Any
    allowed_lateness: int = 0
    late_data_tag: OutputTag | None = None
    #: An Evictor: the window keeps every record and evaluates what it leaves.
    evictor: Any = None

    def __post_init__(self) -> None:
        fn, window_fn = self.incremental_function, self.window_function
        if self.kind == WindowFunctionKind.REDUCE:
            resolve_function(fn, "reduce", "ReduceFunction")
        elif self.kind == WindowFunctionKind.AGGREGATE:
            for method in ("create_accumulator", "add", "get_result"):
                if not callable(getattr(fn, method, None)):
                    raise TypeError(f"an AggregateFunction needs {method}()")
        if self.kind == WindowFunctionKind.PROCESS:
            if not isinstance(window_fn, ProcessWindowFunction) and not callable(window_fn):
                raise TypeError("expected a ProcessWindowFunction or a callable")
        elif (self.kind != WindowFunctionKind.APPLY and window_fn is not None
              and not isinstance(window_fn, WindowFunction | ProcessWindowFunction)
              and not callable(window_fn)):
            raise TypeError("expected a WindowFunction, a ProcessWindowFunction or a "
                            f"callable, got {type(window_fn).__name__}")


# -- sinks ----------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False, kw_only=True)
class PrintSinkTransformation(Transformation):
    """``print``: every record to the TaskManager's stdout."""

    sink_identifier: str | None = None
    #: record -> text for a stream of a declared type (Flink's toString), else None.
    formatter: Any = None


@dataclasses.dataclass(eq=False, kw_only=True)
class SinkFunctionTransformation(FunctionTransformation):
    """``add_sink``: a SinkFunction or a callable."""

    method = "invoke"
    kind = "SinkFunction"


@dataclasses.dataclass(eq=False, kw_only=True)
class SinkTransformation(Transformation):
    """``sink_to``: a sink object (e.g. a FileSink) that creates its operator."""

    sink: Any
