"""A job's checkpoint configuration (Flink's CheckpointCoordinatorConfiguration and its config keys)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass
class CheckpointCoordinatorConfiguration:
    """How and how often a job checkpoints. ``interval`` <= 0 means disabled."""

    interval: int = -1  # ms
    mode: str = "EXACTLY_ONCE"  # or AT_LEAST_ONCE
    timeout: int = 600_000
    min_pause: int = 0
    max_concurrent: int = 1
    tolerable_failed_checkpoints: int = 0
    #: "DELETE_ON_CANCELLATION", "RETAIN_ON_CANCELLATION" or None (not externalized)
    externalized: str | None = None
    checkpoints_dir: str | None = None
    num_retained: int = 1
    state_backend: str = "hashmap"

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CheckpointCoordinatorConfiguration:
        """Read Flink's keys (``execution.checkpointing.*``, ``state.*``)."""

        def get(key: str, default: Any) -> Any:
            value = config.get(key, default)
            return default if value is None else value

        externalized = get("execution.checkpointing.externalized-checkpoint-retention", None)
        return cls(
            interval=_duration(get("execution.checkpointing.interval", -1)),
            mode=str(get("execution.checkpointing.mode", "EXACTLY_ONCE")).upper(),
            timeout=_duration(get("execution.checkpointing.timeout", 600_000)),
            min_pause=_duration(get("execution.checkpointing.min-pause", 0)),
            max_concurrent=int(get("execution.checkpointing.max-concurrent-checkpoints", 1)),
            tolerable_failed_checkpoints=int(
                get("execution.checkpointing.tolerable-failed-checkpoints", 0)),
            externalized=str(externalized).upper() if externalized else None,
            checkpoints_dir=get("state.checkpoints.dir", None),
            num_retained=int(get("state.checkpoints.num-retained", 1)),
            state_backend=str(get("state.backend", "hashmap")).lower(),
        )


_UNITS = {"ms": 1, "s": 1000, "min": 60_000, "m": 60_000, "h": 3_600_000}


def _duration(value: Any) -> int:
    """Flink durations: an int of ms, or "500 ms", "10 s", "1 min"."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            return int(float(text[: -len(unit)].strip()) * _UNITS[unit])
    return int(text)
