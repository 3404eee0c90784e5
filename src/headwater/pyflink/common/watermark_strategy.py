"""PyFlink's ``pyflink.common.watermark_strategy``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    TimestampAssigner,
    WatermarkStrategy,
)

__all__ = ["TimestampAssigner", "WatermarkStrategy"]
