"""ExecutionConfig: per-job settings the runtime reads (``env.get_config()``).

    env.get_config().set_auto_watermark_interval(1000)   # watermarks every second
"""

from __future__ import annotations

#: Flink's ``pipeline.auto-watermark-interval`` default (ms).
DEFAULT_AUTO_WATERMARK_INTERVAL = 200


class ExecutionConfig:
    """Settings of a job's execution (PyFlink's ExecutionConfig, the parts we use)."""

    def __init__(self, auto_watermark_interval: int = DEFAULT_AUTO_WATERMARK_INTERVAL) -> None:
        self._auto_watermark_interval = int(auto_watermark_interval)

    def set_auto_watermark_interval(self, interval: int) -> ExecutionConfig:
        """Emit watermarks every ``interval`` ms (0 disables periodic watermarks)."""
        if int(interval) < 0:
            raise ValueError("Auto watermark interval must not be negative.")
        self._auto_watermark_interval = int(interval)
        return self

    def get_auto_watermark_interval(self) -> int:
        """The periodic watermark interval in ms."""
        return self._auto_watermark_interval
