"""headwater's user API: PyFlink's DataStream names, in snake_case.

    from headwater.api import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection([1, 2, 3]).map(lambda x: x + 1).print()
    env.execute("hello")

The names load lazily (PEP 562), so runtime modules that import one submodule (for
example ``headwater.api.functions`` in a TaskManager) do not pull in the whole API.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Accumulator": "headwater.api.accumulators",
    "AggregateFunction": "headwater.api.functions",
    "Average": "headwater.api.accumulators",
    "CountTrigger": "headwater.api.windowing",
    "DataStream": "headwater.api.datastream",
    "DataStreamSink": "headwater.api.datastream",
    "DoubleCounter": "headwater.api.accumulators",
    "Duration": "headwater.api.time",
    "EventTimeSessionWindows": "headwater.api.windowing",
    "EventTimeTrigger": "headwater.api.windowing",
    "ExecutionConfig": "headwater.api.execution_config",
    "Executor": "headwater.api.execution",
    "FilterFunction": "headwater.api.functions",
    "FlatMapFunction": "headwater.api.functions",
    "Function": "headwater.api.functions",
    "GlobalWindow": "headwater.api.windowing",
    "GlobalWindows": "headwater.api.windowing",
    "Histogram": "headwater.api.accumulators",
    "IntCounter": "headwater.api.accumulators",
    "JobClient": "headwater.api.execution",
    "JobExecutionResult": "headwater.api.execution",
    "KeySelector": "headwater.api.functions",
    "KeyedProcessFunction": "headwater.api.functions",
    "KeyedStream": "headwater.api.datastream",
    "ListAccumulator": "headwater.api.accumulators",
    "ListState": "headwater.api.state",
    "ListStateDescriptor": "headwater.api.state",
    "LongCounter": "headwater.api.accumulators",
    "MapFunction": "headwater.api.functions",
    "MapState": "headwater.api.state",
    "MapStateDescriptor": "headwater.api.state",
    "MergingWindowAssigner": "headwater.api.windowing",
    "OutputTag": "headwater.api.side_outputs",
    "ProcessFunction": "headwater.api.functions",
    "ProcessWindowFunction": "headwater.api.functions",
    "ProcessingTimeSessionWindows": "headwater.api.windowing",
    "ProcessingTimeTrigger": "headwater.api.windowing",
    "PurgingTrigger": "headwater.api.windowing",
    "ReduceFunction": "headwater.api.functions",
    "ReducingState": "headwater.api.state",
    "ReducingStateDescriptor": "headwater.api.state",
    "RichFunction": "headwater.api.functions",
    "RuntimeContext": "headwater.api.functions",
    "SinkFunction": "headwater.api.functions",
    "SlidingEventTimeWindows": "headwater.api.windowing",
    "SlidingProcessingTimeWindows": "headwater.api.windowing",
    "SourceContext": "headwater.api.functions",
    "SourceFunction": "headwater.api.functions",
    "StateDescriptor": "headwater.api.state",
    "StreamExecutionEnvironment": "headwater.api.environment",
    "Time": "headwater.api.time",
    "TimeDomain": "headwater.api.functions",
    "TimeWindow": "headwater.api.windowing",
    "TimerService": "headwater.api.functions",
    "TimestampAssigner": "headwater.api.watermarks",
    "Trigger": "headwater.api.windowing",
    "TriggerResult": "headwater.api.windowing",
    "TumblingEventTimeWindows": "headwater.api.windowing",
    "TumblingProcessingTimeWindows": "headwater.api.windowing",
    "ValueState": "headwater.api.state",
    "ValueStateDescriptor": "headwater.api.state",
    "WatermarkGenerator": "headwater.api.watermarks",
    "WatermarkStrategy": "headwater.api.watermarks",
    "WindowAssigner": "headwater.api.windowing",
    "WindowFunction": "headwater.api.functions",
    "WindowedStream": "headwater.api.datastream",
    # fault tolerance: state, checkpointing, restart strategies, file connectors
    "AggregatingState": "headwater.api.state",
    "AggregatingStateDescriptor": "headwater.api.state",
    "CheckpointConfig": "headwater.api.checkpoint_config",
    "CheckpointListener": "headwater.api.checkpointing",
    "CheckpointedFunction": "headwater.api.checkpointing",
    "CheckpointingMode": "headwater.api.checkpoint_config",
    "EmbeddedRocksDBStateBackend": "headwater.api.state_backend",
    "Encoder": "headwater.connectors.file",
    "ExternalizedCheckpointCleanup": "headwater.api.checkpoint_config",
    "FileSink": "headwater.connectors.file",
    "FileSource": "headwater.connectors.file",
    "FunctionInitializationContext": "headwater.api.checkpointing",
    "FunctionSnapshotContext": "headwater.api.checkpointing",
    "HashMapStateBackend": "headwater.api.state_backend",
    "OutputFileConfig": "headwater.connectors.file",
    "RestartStrategies": "headwater.api.restart_strategy",
    "StateTtlConfig": "headwater.api.state_ttl",
    "StreamFormat": "headwater.connectors.file",
    # PyFlink compatibility (headwater.pyflink re-exports these)
    "BucketAssigner": "headwater.connectors.file",
    "CompletableFuture": "headwater.api.futures",
    "ContinuousEventTimeTrigger": "headwater.api.windowing",
    "ContinuousProcessingTimeTrigger": "headwater.api.windowing",
    "DeliveryGuarantee": "headwater.connectors.base",
    "FileSourceBuilder": "headwater.connectors.file",
    "OperatorStateStore": "headwater.api.checkpointing",
    "RollingPolicy": "headwater.connectors.file",
    "Sink": "headwater.connectors.base",
    "Source": "headwater.connectors.base",
    "StreamingFileSink": "headwater.connectors.file",
    "TypeSerializer": "headwater.api.typeinfo",
    "AllWindowFunction": "headwater.api.functions",
    "AllWindowedStream": "headwater.api.datastream",
    "CheckpointStorage": "headwater.api.checkpoint_storage",
    "CloseableIterator": "headwater.api.collect",
    "ConfigOption": "headwater.api.configuration",
    "ConfigOptions": "headwater.api.configuration",
    "Configuration": "headwater.api.configuration",
    "CountEvictor": "headwater.api.windowing",
    "CountSlidingWindowAssigner": "headwater.api.windowing",
    "CountTumblingWindowAssigner": "headwater.api.windowing",
    "CountWindow": "headwater.api.windowing",
    "DynamicEventTimeSessionWindows": "headwater.api.windowing",
    "DynamicProcessingTimeSessionWindows": "headwater.api.windowing",
    "Evictor": "headwater.api.windowing",
    "ExecutionMode": "headwater.api.execution_mode",
    "ExternalizedCheckpointRetention": "headwater.api.checkpoint_config",
    "FileSystemCheckpointStorage": "headwater.api.checkpoint_storage",
    "FsStateBackend": "headwater.api.state_backend",
    "InputDependencyConstraint": "headwater.api.execution_mode",
    "Instant": "headwater.api.time",
    "JobID": "headwater.api.job_status",
    "JobManagerCheckpointStorage": "headwater.api.checkpoint_storage",
    "JobStatus": "headwater.api.job_status",
    "MemorySize": "headwater.api.slot_sharing_group",
    "MemoryStateBackend": "headwater.api.state_backend",
    "NeverTrigger": "headwater.api.windowing",
    "Partitioner": "headwater.api.functions",
    "PredefinedOptions": "headwater.api.state_backend",
    "ProcessAllWindowFunction": "headwater.api.functions",
    "RestartStrategyConfiguration": "headwater.api.restart_strategy",
    "RocksDBStateBackend": "headwater.api.state_backend",
    "Row": "headwater.api.types",
    "RowKind": "headwater.api.types",
    "RuntimeExecutionMode": "headwater.api.execution_mode",
    "SessionWindowTimeGapExtractor": "headwater.api.windowing",
    "SlotSharingGroup": "headwater.api.slot_sharing_group",
    "State": "headwater.api.state",
    "StateBackend": "headwater.api.state_backend",
    "TimeCharacteristic": "headwater.api.execution_mode",
    "TimeEvictor": "headwater.api.windowing",
    "TimestampedValue": "headwater.api.windowing",
    "TypeInformation": "headwater.api.typeinfo",
    "Types": "headwater.api.typeinfo",
    "Window": "headwater.api.windowing",
    "get_default_executor": "headwater.api.environment",
    "set_default_executor": "headwater.api.environment",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
