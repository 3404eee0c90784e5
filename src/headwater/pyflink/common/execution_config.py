"""PyFlink's ``pyflink.common.execution_config``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    ExecutionConfig,
)

__all__ = ["ExecutionConfig"]
