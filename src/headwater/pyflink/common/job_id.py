"""PyFlink's ``pyflink.common.job_id``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    JobID,
)

__all__ = ["JobID"]
