"""PyFlink's ``pyflink.common.serialization``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    Encoder,
)

__all__ = ["Encoder"]
