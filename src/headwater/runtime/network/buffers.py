"""What an input gate's queue carries: typed items, one class per kind.

Every input channel (and, for the task's mailbox, every other thread) puts
:class:`QueueItem` instances into the gate's single queue; the task thread dispatches on
the item's exact type. ``channel`` is the input channel index, -1 for items that belong
to no channel (the task's mails).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headwater.runtime.network.events import (
    ChannelError,
    CheckpointBarrier,
    EndOfPartition,
    Watermark,
    WatermarkStatus,
)

#: An event that travels between buffers of a channel.
StreamEvent = EndOfPartition | Watermark | WatermarkStatus | CheckpointBarrier | ChannelError

#: Decodes a serialized buffer into ``(values, timestamps)``.
Decoder = Callable[[bytes], tuple[list[Any], list[int] | None]]


class QueueItem:
    """Base of everything in an input gate's queue."""

    __slots__ = ("channel",)

    def __init__(self, channel: int) -> None:
        self.channel = channel


class Buffer(QueueItem):
    """A batch of records from a producer in the same process (no serialization)."""

    __slots__ = ("values", "timestamps")

    def __init__(self, channel: int, values: list[Any], timestamps: list[int] | None) -> None:
        self.channel = channel
        self.values = values
        self.timestamps = timestamps


class SerializedBuffer(QueueItem):
    """A batch of records read from a socket, decoded by the task thread."""

    __slots__ = ("data", "decode")

    def __init__(self, channel: int, data: bytes, decode: Decoder) -> None:
        self.channel = channel
        self.data = data
        self.decode = decode


class ChannelEvent(QueueItem):
    """An event of one channel (watermark, barrier, end of partition, error...)."""

    __slots__ = ("event",)

    def __init__(self, channel: int, event: StreamEvent) -> None:
        self.channel = channel
        self.event = event
