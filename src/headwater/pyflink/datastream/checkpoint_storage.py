"""PyFlink's ``pyflink.datastream.checkpoint_storage``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    CheckpointStorage,
    FileSystemCheckpointStorage,
    JobManagerCheckpointStorage,
)

__all__ = [
    "CheckpointStorage",
    "JobManagerCheckpointStorage",
    "FileSystemCheckpointStorage",
]
