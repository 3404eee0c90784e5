"""PyFlink's ``pyflink.datastream.timerservice``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    TimerService,
)

__all__ = ["TimerService"]
