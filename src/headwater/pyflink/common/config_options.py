"""PyFlink's ``pyflink.common.config_options``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    ConfigOption,
    ConfigOptions,
)

__all__ = ["ConfigOption", "ConfigOptions"]
