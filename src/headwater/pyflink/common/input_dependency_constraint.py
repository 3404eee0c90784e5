"""PyFlink's ``pyflink.common.input_dependency_constraint``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    InputDependencyConstraint,
)

__all__ = ["InputDependencyConstraint"]
