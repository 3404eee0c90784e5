"""PyFlink's ``pyflink.datastream.externalized_checkpoint_retention``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    ExternalizedCheckpointRetention,
)

__all__ = ["ExternalizedCheckpointRetention"]
