"""PyFlink's ``pyflink.common.configuration``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    Configuration,
)

__all__ = ["Configuration"]
