"""PyFlink's ``pyflink.common.restart_strategy``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    RestartStrategies,
    RestartStrategyConfiguration,
)

__all__ = ["RestartStrategies", "RestartStrategyConfiguration"]
