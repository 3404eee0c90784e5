"""``DataStream.execute_and_collect``: run the job and bring a stream's records back.

A collecting sink is added to the stream; every subtask adds its records, pickled, to a
:class:`~headwater.api.accumulators.ListAccumulator`, which the JobManager merges into
the job's result (as bytes: the JobManager never unpickles user objects), so the records
arrive when the job ends (bounded streams) and are unpickled here. With
parallelism 1 they come in the stream's order; otherwise each subtask's records stay in
order but subtasks interleave.
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from headwater.api.accumulators import ListAccumulator
from headwater.api.functions import RuntimeContext, SinkFunction

if TYPE_CHECKING:
    from headwater.api.datastream import DataStream


class CollectSinkFunction(SinkFunction):
    """Adds every record to the accumulator ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def open(self, runtime_context: RuntimeContext) -> None:
        """Register this subtask's accumulator."""
        self._acc = ListAccumulator()
        runtime_context.add_accumulator(self.name, self._acc)

    def invoke(self, value: Any, context: Any = None) -> None:
        """Keep ``value`` (pickled)."""
        try:
            blob = pickle.dumps(value, protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError):
            import cloudpickle

            blob = cloudpickle.dumps(value, protocol=5)
        self._acc.add(blob)

    def __getstate__(self) -> dict:
        return {"name": self.name}


class CloseableIterator(Iterator[Any]):
    """The results of ``execute_and_collect`` (PyFlink's ``CloseableIterator``)."""

    def __init__(self, records: list[Any]) -> None:
        self._records = records
        self._index = 0

    def __iter__(self) -> CloseableIterator:
        return self

    def __next__(self) -> Any:
        if self._index >= len(self._records):
            raise StopIteration
        self._index += 1
        return self._records[self._index - 1]

    def next(self) -> Any:
        """The next record (StopIteration at the end)."""
        return self.__next__()

    def close(self) -> None:
        """Release the results (the job has already ended)."""
        self._records = []
        self._index = 0

    def __enter__(self) -> CloseableIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def execute_and_collect(stream: DataStream, job_execution_name: str | None,
                        limit: int | None) -> Any:
    """See ``DataStream.execute_and_collect``."""
    if limit is not None and int(limit) < 0:
        raise ValueError("limit must not be negative")
    name = f"collect-{uuid.uuid4().hex}"
    stream.add_sink(CollectSinkFunction(name)).name("Collect")
    result = stream.get_execution_environment().execute(job_execution_name)
    records = [pickle.loads(blob) for blob in result.get_accumulator_result(name) or []]
    if limit is not None:
        return records[:int(limit)]
    return CloseableIterator(records)
