"""PyFlink's ``pyflink.common.job_execution_result``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    JobExecutionResult,
)

__all__ = ["JobExecutionResult"]
