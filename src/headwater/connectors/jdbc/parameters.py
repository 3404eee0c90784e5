"""Parameters of a split query (Flink's ``JdbcParameterValuesProvider``): each entry is
the parameter tuple of one split."""

from __future__ import annotations

import math
from typing import Any


class JdbcParameterValuesProvider:
    """The parameters of each split of a query."""

    def get_parameter_values(self) -> list[tuple[Any, ...]]:
        """One parameter tuple per split."""
        raise NotImplementedError


class JdbcNumericBetweenParametersProvider(JdbcParameterValuesProvider):
    """Splits ``[min_val, max_val]`` into ``(start, end)`` pairs for a query with
    ``BETWEEN %s AND %s``, exactly as Flink's class: fix the number of splits with
    :meth:`of_batch_num` or their size with :meth:`of_batch_size`; sizes differ by at
    most one, the bigger ones first."""

    def __init__(self, min_val: int, max_val: int) -> None:
        if min_val > max_val:
            raise ValueError(f"min_val ({min_val}) must not be larger than max_val "
                             f"({max_val})")
        self.min_val = int(min_val)
        self.max_val = int(max_val)
        self.batch_size = 0
        self.batch_num = 0

    def of_batch_size(self, batch_size: int) -> JdbcNumericBetweenParametersProvider:
        """Splits of ``batch_size`` values (the last ones one smaller)."""
        if batch_size <= 0:
            raise ValueError("batch size must be positive")
        count = self.max_val - self.min_val + 1
        self.batch_size = min(int(batch_size), count)
        self.batch_num = math.ceil(count / self.batch_size)
        return self

    def of_batch_num(self, batch_num: int) -> JdbcNumericBetweenParametersProvider:
        """``batch_num`` splits (fewer if the range has fewer values)."""
        if batch_num <= 0:
            raise ValueError("batch number must be positive")
        count = self.max_val - self.min_val + 1
        self.batch_num = min(int(batch_num), count)
        self.batch_size = math.ceil(count / self.batch_num)
        return self

    def get_parameter_values(self) -> list[tuple[Any, ...]]:
        """The ``(start, end)`` pair of each split."""
        if not self.batch_num:
            raise ValueError("call of_batch_num or of_batch_size first")
        count = self.max_val - self.min_val + 1
        big = count - (self.batch_size - 1) * self.batch_num
        out = []
        start = self.min_val
        for i in range(self.batch_num):
            end = start + self.batch_size - 1 - (1 if i >= big else 0)
            out.append((start, end))
            start = end + 1
        return out
