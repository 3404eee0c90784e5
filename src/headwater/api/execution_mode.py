"""Execution modes and time characteristics (PyFlink's enums).

``env.set_runtime_mode(RuntimeExecutionMode.STREAMING)`` is the mode headwater runs;
``BATCH`` (and ``AUTOMATIC`` on a job whose sources are all bounded, which Flink runs as
a batch job) is refused with an error until headwater has a batch mode, so a program
never silently runs in another mode than it asked for.
"""

from __future__ import annotations

import enum


class RuntimeExecutionMode(enum.Enum):
    """How a DataStream job runs: STREAMING, BATCH or AUTOMATIC (BATCH when every source
    is bounded)."""

    STREAMING = 0
    BATCH = 1
    AUTOMATIC = 2


class TimeCharacteristic(enum.Enum):
    """Flink's deprecated time setting; headwater always offers event time and
    processing time, so every value is accepted and changes nothing."""

    ProcessingTime = 0
    IngestionTime = 1
    EventTime = 2


class ExecutionMode(enum.Enum):
    """The DataSet API's data exchange mode (accepted by ``ExecutionConfig``; headwater
    always exchanges data pipelined)."""

    PIPELINED = 0
    PIPELINED_FORCED = 1
    BATCH = 2
    BATCH_FORCED = 3


class InputDependencyConstraint(enum.Enum):
    """Deprecated Flink scheduling constraint (accepted, no effect)."""

    ANY = 0
    ALL = 1
