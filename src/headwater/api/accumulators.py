"""Accumulators: values that subtasks add to and the JobManager merges.

Register one in a function's ``open`` and read the merged value from the job result::

    class CountingSink(SinkFunction):
        def open(self, runtime_context):
            self.seen = IntCounter()
            runtime_context.add_accumulator("seen", self.seen)

        def invoke(self, value, context):
            self.seen.add(1)

    result = env.execute("job")
    result.get_accumulator_result("seen")
"""

from __future__ import annotations

from typing import Any


class Accumulator:
    """Base: ``add``, ``get_local_value``, ``merge``, ``reset``; ``to_wire`` gives the
    (kind, plain data) pair the JobManager merges."""

    kind = "Accumulator"

    def add(self, value: Any) -> None:
        """Add a value."""
        raise NotImplementedError

    def get_local_value(self) -> Any:
        """This subtask's value."""
        raise NotImplementedError

    def merge(self, other: Accumulator) -> None:
        """Merge another accumulator of the same type into this one."""
        raise NotImplementedError

    def reset(self) -> None:
        """Back to the initial value."""
        raise NotImplementedError

    def to_wire(self) -> tuple[str, Any]:
        """(kind, plain data) for the JobManager."""
        return self.kind, self.get_local_value()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_local_value()!r})"


class _Counter(Accumulator):
    _zero: Any = 0

    def __init__(self, value: Any = None) -> None:
        self.value = self._zero if value is None else value

    def add(self, value: Any = 1) -> None:
        """Add ``value`` (default 1)."""
        self.value += value

    def get_local_value(self) -> Any:
        """The count so far."""
        return self.value

    def merge(self, other: Accumulator) -> None:
        """Add the other counter's value."""
        self.value += other.get_local_value()

    def reset(self) -> None:
        """Back to zero."""
        self.value = self._zero


class IntCounter(_Counter):
    """Counts with ints."""

    kind = "IntCounter"


class LongCounter(_Counter):
    """Counts with ints (Python ints do not overflow; named after Flink's)."""

    kind = "LongCounter"


class DoubleCounter(_Counter):
    """Sums floats."""

    kind = "DoubleCounter"
    _zero = 0.0

    def add(self, value: Any = 1.0) -> None:
        """Add ``value`` (default 1.0)."""
        self.value += float(value)


class Average(Accumulator):
    """The average of the values added."""

    kind = "Average"

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, value: Any) -> None:
        """Add one value."""
        self.total += value
        self.count += 1

    def get_local_value(self) -> float:
        """The average so far (0.0 when empty)."""
        return self.total / self.count if self.count else 0.0

    def merge(self, other: Accumulator) -> None:
        """Combine sums and counts."""
        if not isinstance(other, Average):
            raise TypeError("can only merge an Average into an Average")
        self.total += other.total
        self.count += other.count

    def reset(self) -> None:
        """Back to empty."""
        self.total = 0.0
        self.count = 0

    def to_wire(self) -> tuple[str, Any]:
        """Sum and count travel, so the JobManager can merge exactly."""
        return self.kind, (self.total, self.count)


class ListAccumulator(Accumulator):
    """Collects values into a list."""

    kind = "ListAccumulator"

    def __init__(self) -> None:
        self.values: list = []

    def add(self, value: Any) -> None:
        """Append a value."""
        self.values.append(value)

    def get_local_value(self) -> list:
        """The values so far."""
        return self.values

    def merge(self, other: Accumulator) -> None:
        """Append the other list."""
        self.values.extend(other.get_local_value())

    def reset(self) -> None:
        """Back to empty."""
        self.values = []


class Histogram(Accumulator):
    """Counts how often each (int) value was added."""

    kind = "Histogram"

    def __init__(self) -> None:
        self.bins: dict[Any, int] = {}

    def add(self, value: Any) -> None:
        """Count one occurrence of ``value``."""
        self.bins[value] = self.bins.get(value, 0) + 1

    def get_local_value(self) -> dict:
        """value -> count."""
        return self.bins

    def merge(self, other: Accumulator) -> None:
        """Add the other histogram's counts."""
        for k, v in other.get_local_value().items():
            self.bins[k] = self.bins.get(k, 0) + v

    def reset(self) -> None:
        """Back to empty."""
        self.bins = {}
