"""A sink that brings a job's records back to the test process."""

from __future__ import annotations

import uuid
from typing import Any

from headwater.api.accumulators import ListAccumulator
from headwater.api.execution import JobExecutionResult
from headwater.api.functions import RuntimeContext, SinkContext, SinkFunction


class CollectSink(SinkFunction):
    """Collects every record it receives; read them with :meth:`records` after the job.

    TaskManagers run in other processes, so the records travel back the way results of
    a job do: through an accumulator (a :class:`ListAccumulator` per subtask, merged by
    the JobManager into the job's result)::

        sink = CollectSink()
        stream.add_sink(sink)
        result = env.execute()
        assert sorted(sink.records(result)) == [...]

    Records must be picklable; every sink instance uses its own accumulator name
    (``name``, default a fresh unique one), so one job may have many.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"collect-{uuid.uuid4().hex}"

    def open(self, runtime_context: RuntimeContext) -> None:
        """Register this subtask's accumulator."""
        self._acc = ListAccumulator()
        runtime_context.add_accumulator(self.name, self._acc)

    def invoke(self, value: Any, context: SinkContext | None = None) -> None:
        """Keep ``value``."""
        self._acc.add(value)

    def records(self, result: JobExecutionResult) -> list:
        """The records of all subtasks in ``result`` (in no particular order across
        subtasks; in arrival order within one); [] when the sink received nothing."""
        return list(result.get_accumulator_result(self.name) or [])

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_acc", None)
        return state
