"""PyFlink's ``pyflink.datastream.output_tag``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    OutputTag,
)

__all__ = ["OutputTag"]
