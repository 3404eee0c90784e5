"""PyFlink's ``pyflink.common.job_status``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    JobStatus,
)

__all__ = ["JobStatus"]
