"""Base classes of source and sink objects (PyFlink's ``pyflink.datastream.connectors``
names): a Source is given to ``env.from_source``, a Sink to ``stream.sink_to``; both
create their runtime operator (``create_operator()``)."""

from __future__ import annotations

import enum
from typing import Any


class Source:
    """A source object for ``env.from_source(source, watermark_strategy, name)``."""

    def create_operator(self) -> Any:
        """The runtime source operator."""
        raise NotImplementedError

    def is_bounded(self) -> bool:
        """Whether the source ends by itself."""
        return False


class Sink:
    """A sink object for ``stream.sink_to(sink)``."""

    def create_operator(self) -> Any:
        """The runtime sink operator."""
        raise NotImplementedError


class DeliveryGuarantee(enum.Enum):
    """What a sink guarantees: EXACTLY_ONCE (headwater's FileSink), AT_LEAST_ONCE or
    NONE."""

    EXACTLY_ONCE = 0
    AT_LEAST_ONCE = 1
    NONE = 2
