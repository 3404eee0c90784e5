"""PyFlink's ``pyflink.common.types``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    Row,
    RowKind,
)

__all__ = ["Row", "RowKind"]
