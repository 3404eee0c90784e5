"""Which producer subtask feeds which consumer subtask over an edge.

ALL_TO_ALL strategies (HASH, REBALANCE, SHUFFLE, BROADCAST) connect every producer to
every consumer; POINTWISE ones (FORWARD, RESCALE) connect ranges, as Flink's
``EdgeManagerBuildUtil`` does.
"""

from __future__ import annotations

POINTWISE = frozenset({"FORWARD", "RESCALE"})


def result_partition_id(attempt_id: str, output_index: int) -> str:
    """The id of the partition an attempt writes for its output edge ``output_index``."""
    return f"{attempt_id}-{output_index}"


def consumers_of(strategy: str, producers: int, consumers: int, producer: int) -> list[int]:
    """Consumer subtasks fed by one producer subtask, in subpartition order."""
    if strategy not in POINTWISE:
        return list(range(consumers))
    if producers == consumers:
        return [producer]
    if producers < consumers:
        return list(range(producer * consumers // producers,
                          (producer + 1) * consumers // producers))
    return [j for j in range(consumers)
            if j * producers // consumers <= producer < (j + 1) * producers // consumers]


def producers_of(strategy: str, producers: int, consumers: int, consumer: int) -> list[int]:
    """Producer subtasks read by one consumer subtask."""
    return [i for i in range(producers)
            if consumer in consumers_of(strategy, producers, consumers, i)]
