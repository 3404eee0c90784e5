"""PyFlink's ``pyflink.datastream.state``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    AggregatingState,
    AggregatingStateDescriptor,
    ListState,
    ListStateDescriptor,
    MapState,
    MapStateDescriptor,
    OperatorStateStore,
    ReducingState,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueState,
    ValueStateDescriptor,
)
from headwater.pyflink._reexport import available

#: Connected streams and broadcast state (headwater.api.connected).
_ARRIVING = ["ReadOnlyBroadcastState", "BroadcastState"]
globals().update(available(_ARRIVING))

__all__ = [
    "ValueStateDescriptor",
    "ValueState",
    "ListStateDescriptor",
    "ListState",
    "MapStateDescriptor",
    "MapState",
    "ReducingStateDescriptor",
    "ReducingState",
    "AggregatingStateDescriptor",
    "AggregatingState",
    "StateTtlConfig",
    "OperatorStateStore",
]
__all__ += [name for name in _ARRIVING if name in globals()]
