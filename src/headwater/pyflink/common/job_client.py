"""PyFlink's ``pyflink.common.job_client``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    JobClient,
)

__all__ = ["JobClient"]
