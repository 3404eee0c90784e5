"""PyFlink's ``pyflink.datastream.checkpoint_config``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    CheckpointConfig,
    ExternalizedCheckpointCleanup,
    ExternalizedCheckpointRetention,
)

__all__ = [
    "CheckpointConfig",
    "ExternalizedCheckpointCleanup",
    "ExternalizedCheckpointRetention",
]
