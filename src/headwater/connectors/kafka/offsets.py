"""Where a Kafka source starts and (bounded) stops reading: Flink's
``OffsetsInitializer``/``KafkaOffsetsInitializer``::

    KafkaOffsetsInitializer.earliest()            # from the first record
    KafkaOffsetsInitializer.latest()              # only records written from now on
    KafkaOffsetsInitializer.committed_offsets()   # the group's committed offsets
    KafkaOffsetsInitializer.timestamp(ms)         # first record at or after ms
    KafkaOffsetsInitializer.offsets({("t", 0): 42})   # explicit offsets
"""

from __future__ import annotations

from typing import Any

#: Flink's OffsetResetStrategy names for ``committed_offsets``.
RESET_STRATEGIES = ("earliest", "latest", "none")


class KafkaOffsetsInitializer:
    """A rule that resolves (topic, partition) -> offset when partitions are assigned."""

    def __init__(self, kind: str, value: Any = None, reset: str = "none") -> None:
        self.kind = kind
        self.value = value
        self.reset = reset

    @staticmethod
    def earliest() -> KafkaOffsetsInitializer:
        """The earliest offset of each partition."""
        return KafkaOffsetsInitializer("earliest")

    @staticmethod
    def latest() -> KafkaOffsetsInitializer:
        """The end of each partition (as stopping offsets: the end when the job starts)."""
        return KafkaOffsetsInitializer("latest")

    @staticmethod
    def committed_offsets(offset_reset_strategy: str = "none") -> KafkaOffsetsInitializer:
        """The consumer group's committed offsets; partitions without one start as
        ``offset_reset_strategy`` says ("earliest", "latest" or "none": fail)."""
        reset = str(getattr(offset_reset_strategy, "name", offset_reset_strategy)).lower()
        if reset not in RESET_STRATEGIES:
            raise ValueError(f"offset reset strategy must be one of {RESET_STRATEGIES}")
        return KafkaOffsetsInitializer("committed", reset=reset)

    @staticmethod
    def timestamp(timestamp_ms: int) -> KafkaOffsetsInitializer:
        """The first record whose timestamp is >= ``timestamp_ms`` (the end if none)."""
        return KafkaOffsetsInitializer("timestamp", int(timestamp_ms))

    @staticmethod
    def offsets(offsets: dict[tuple[str, int], int],
                offset_reset_strategy: str = "earliest") -> KafkaOffsetsInitializer:
        """Explicit offsets per (topic, partition); others as ``offset_reset_strategy``."""
        return KafkaOffsetsInitializer("specific", {(str(t), int(p)): int(o)
                                                    for (t, p), o in offsets.items()},
                                       reset=str(offset_reset_strategy).lower())

    def __repr__(self) -> str:
        return f"KafkaOffsetsInitializer.{self.kind}()"
