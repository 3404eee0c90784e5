"""PyFlink's ``pyflink.common.execution_mode``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    ExecutionMode,
)

__all__ = ["ExecutionMode"]
