"""PyFlink's ``pyflink.datastream.data_stream``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    AllWindowedStream,
    CloseableIterator,
    DataStream,
    DataStreamSink,
    KeyedStream,
    WindowedStream,
)
from headwater.pyflink._reexport import available

#: Connected streams and broadcast state (headwater.api.connected).
_ARRIVING = ["ConnectedStreams", "BroadcastStream", "BroadcastConnectedStream"]
globals().update(available(_ARRIVING))

__all__ = [
    "CloseableIterator",
    "DataStream",
    "KeyedStream",
    "WindowedStream",
    "DataStreamSink",
    "AllWindowedStream",
]
__all__ += [name for name in _ARRIVING if name in globals()]
