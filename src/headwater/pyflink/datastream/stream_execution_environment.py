"""PyFlink's ``pyflink.datastream.stream_execution_environment``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    StreamExecutionEnvironment,
)

__all__ = ["StreamExecutionEnvironment"]
