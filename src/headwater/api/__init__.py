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
    "Average": "headwater.api.accumulators",
    "DataStream": "headwater.api.datastream",
    "DataStreamSink": "headwater.api.datastream",
    "DoubleCounter": "headwater.api.accumulators",
    "Executor": "headwater.api.execution",
    "FilterFunction": "headwater.api.functions",
    "FlatMapFunction": "headwater.api.functions",
    "Function": "headwater.api.functions",
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
    "ProcessFunction": "headwater.api.functions",
    "ReduceFunction": "headwater.api.functions",
    "ReducingState": "headwater.api.state",
    "ReducingStateDescriptor": "headwater.api.state",
    "RichFunction": "headwater.api.functions",
    "RuntimeContext": "headwater.api.functions",
    "SinkFunction": "headwater.api.functions",
    "SourceContext": "headwater.api.functions",
    "SourceFunction": "headwater.api.functions",
    "StateDescriptor": "headwater.api.state",
    "StreamExecutionEnvironment": "headwater.api.environment",
    "TimerService": "headwater.api.functions",
    "ValueState": "headwater.api.state",
    "ValueStateDescriptor": "headwater.api.state",
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
