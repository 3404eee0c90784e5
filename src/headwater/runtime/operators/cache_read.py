"""The head of a vertex that reads a cached stream instead of computing it."""

from __future__ import annotations

from headwater.runtime.operators.base import StreamOperator, Timestamps


class CacheReadOperator(StreamOperator):
    """Passes on the records of its subtask's partition of a cluster data set (its input
    gate reads that partition from the TaskManager holding it)."""

    def __init__(self, dataset_id: str) -> None:
        self.dataset_id = dataset_id

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """The cached records, as they were."""
        return values, timestamps
