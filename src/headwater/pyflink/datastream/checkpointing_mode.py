"""PyFlink's ``pyflink.datastream.checkpointing_mode``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    CheckpointingMode,
)

__all__ = ["CheckpointingMode"]
