"""Testing jobs and operators: a collecting sink, a scripted source, operator test
harnesses, :func:`wait_for` / :func:`wait_for_async`, and (in
:mod:`headwater.testing.fixtures`, which needs pytest) a ``mini_cluster`` fixture.
See README.md, "Testing your jobs"."""

from headwater.testing.harness import (
    KeyedOneInputStreamOperatorTestHarness,
    ManualProcessingTimeService,
    OneInputStreamOperatorTestHarness,
)
from headwater.testing.sinks import CollectSink
from headwater.testing.sources import Idle, Pause, Record, ScriptedSource, Watermark
from headwater.testing.waiting import wait_for, wait_for_async

__all__ = [
    "CollectSink",
    "Idle",
    "KeyedOneInputStreamOperatorTestHarness",
    "ManualProcessingTimeService",
    "OneInputStreamOperatorTestHarness",
    "Pause",
    "Record",
    "ScriptedSource",
    "Watermark",
    "wait_for",
    "wait_for_async",
]
