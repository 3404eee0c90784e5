"""PyFlink's ``pyflink.datastream.slot_sharing_group``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    MemorySize,
    SlotSharingGroup,
)

__all__ = ["MemorySize", "SlotSharingGroup"]
