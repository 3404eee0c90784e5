"""PyFlink's ``pyflink.datastream.data_stream``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    AllWindowedStream,
    BroadcastConnectedStream,
    BroadcastStream,
    CloseableIterator,
    ConnectedStreams,
    DataStream,
    DataStreamSink,
    KeyedStream,
    WindowedStream,
)

__all__ = [
    "CloseableIterator",
    "DataStream",
    "KeyedStream",
    "ConnectedStreams",
    "WindowedStream",
    "DataStreamSink",
    "BroadcastStream",
    "BroadcastConnectedStream",
    "AllWindowedStream",
]
