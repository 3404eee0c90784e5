"""PyFlink's ``pyflink.common.completable_future``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    CompletableFuture,
)

__all__ = ["CompletableFuture"]
