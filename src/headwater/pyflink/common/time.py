"""PyFlink's ``pyflink.common.time``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    Duration,
    Instant,
    Time,
)

__all__ = ["Duration", "Instant", "Time"]
