"""Which exchanges are BLOCKING: Flink's ``execution.batch-shuffle-mode``.

``ALL_EXCHANGES_PIPELINED`` (the default): every partition is pipelined, producer and
consumer run at the same time. ``ALL_EXCHANGES_BLOCKING``: every partition of a
non-FORWARD edge is BLOCKING (written to files, read after the producer finished); a
FORWARD edge stays pipelined.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from headwater.graph.job_graph import JobEdge, ShipStrategy

log = logging.getLogger(__name__)

BATCH_SHUFFLE_MODE = "execution.batch-shuffle-mode"
ALL_EXCHANGES_PIPELINED = "ALL_EXCHANGES_PIPELINED"
ALL_EXCHANGES_BLOCKING = "ALL_EXCHANGES_BLOCKING"
SHUFFLE_MODES = (ALL_EXCHANGES_PIPELINED, ALL_EXCHANGES_BLOCKING)


def batch_shuffle_mode(config: Mapping[str, Any]) -> str:
    """``execution.batch-shuffle-mode`` of ``config``, upper case; an unknown value counts
    as ``ALL_EXCHANGES_PIPELINED`` (with a warning)."""
    mode = str(config.get(BATCH_SHUFFLE_MODE) or ALL_EXCHANGES_PIPELINED).strip().upper()
    if mode not in SHUFFLE_MODES:
        log.warning("unknown %s %r (expected one of %s): exchanges stay pipelined",
                    BATCH_SHUFFLE_MODE, mode, ", ".join(SHUFFLE_MODES))
        return ALL_EXCHANGES_PIPELINED
    return mode


def is_blocking(edge: JobEdge, config: Mapping[str, Any]) -> bool:
    """Whether the partitions of ``edge`` are BLOCKING under ``config``."""
    return (edge.ship_strategy != ShipStrategy.FORWARD
            and batch_shuffle_mode(config) == ALL_EXCHANGES_BLOCKING)
