"""PyFlink's ``pyflink.datastream.time_characteristic``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    TimeCharacteristic,
)

__all__ = ["TimeCharacteristic"]
