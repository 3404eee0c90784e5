"""PyFlink's ``pyflink.common.typeinfo``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    TypeInformation,
    Types,
)

__all__ = ["TypeInformation", "Types"]
