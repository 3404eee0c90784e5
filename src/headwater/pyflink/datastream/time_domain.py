"""PyFlink's ``pyflink.datastream.time_domain``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    TimeDomain,
)

__all__ = ["TimeDomain"]
