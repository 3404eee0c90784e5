"""PyFlink's ``pyflink.datastream.execution_mode``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    RuntimeExecutionMode,
)

__all__ = ["RuntimeExecutionMode"]
