"""PyFlink's ``pyflink.datastream.connectors``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    DeliveryGuarantee,
    Sink,
    Source,
)

__all__ = ["Sink", "Source", "DeliveryGuarantee"]
