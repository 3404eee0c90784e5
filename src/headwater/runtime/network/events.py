"""Events that travel in the data stream between batches of records."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class EndOfPartition:
    """The producer finished: no more buffers will come on this channel."""


@dataclasses.dataclass(frozen=True)
class Watermark:
    """Event time has advanced to ``timestamp`` (ms) on this channel."""

    timestamp: int


#: Flink's Long.MIN_VALUE / Long.MAX_VALUE watermarks.
MIN_WATERMARK = -(2**63)
MAX_WATERMARK = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class WatermarkStatus:
    """A channel became idle (excluded from the watermark minimum) or active again."""

    idle: bool


@dataclasses.dataclass(frozen=True)
class CheckpointBarrier:
    """Separates the records before checkpoint ``checkpoint_id`` from those after it."""

    checkpoint_id: int
    timestamp: int
    #: where every subtask writes its state for this checkpoint
    directory: str = ""
    is_savepoint: bool = False


@dataclasses.dataclass(frozen=True)
class ChannelError:
    """Consumer-side marker: the channel broke (the producer or its TaskManager died)."""

    message: str


END_OF_PARTITION = EndOfPartition()
