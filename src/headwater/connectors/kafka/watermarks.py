"""Per-partition watermarks of a Kafka source subtask (Flink's per-split watermark
generation with its ``WatermarkOutputMultiplexer``).

Each partition has its own generator from the strategy (wrapped for idleness when the
strategy has ``with_idleness``); the subtask's watermark is the minimum over the
partitions that are not idle, and the subtask is idle when all of them are."""

from __future__ import annotations

from typing import Any

MIN_TIMESTAMP = -(2**63)


class PartitionOutput:
    """The WatermarkOutput of one partition's generator: its last watermark and idleness."""

    def __init__(self) -> None:
        self.watermark = MIN_TIMESTAMP
        self.idle = False

    def emit_watermark(self, watermark: int) -> None:
        """The partition's event time advanced."""
        self.idle = False
        if watermark > self.watermark:
            self.watermark = watermark

    def mark_idle(self) -> None:
        """The partition has had no records for the idle timeout."""
        self.idle = True

    def mark_active(self) -> None:
        """The partition has records again."""
        self.idle = False


class PartitionWatermarks:
    """Generators per partition and the combined watermark of the subtask."""

    def __init__(self, strategy: Any) -> None:
        self.strategy = strategy
        assigner = strategy.create_timestamp_assigner()
        #: ``(value, kafka_timestamp) -> ms`` or None to keep Kafka's timestamps.
        self.extract = assigner.extract_timestamp if assigner is not None else None
        self.generators: dict[tuple[str, int], tuple[Any, PartitionOutput]] = {}
        #: Last combined watermark sent, and whether the subtask was announced idle.
        self.current = MIN_TIMESTAMP
        self.idle = False

    def _of(self, tp: tuple[str, int]) -> tuple[Any, PartitionOutput]:
        entry = self.generators.get(tp)
        if entry is None:
            entry = (self.strategy.create_watermark_generator(), PartitionOutput())
            self.generators[tp] = entry
        return entry

    def add(self, tp: tuple[str, int]) -> None:
        """A partition joined this subtask."""
        self._of(tp)

    def remove(self, tp: tuple[str, int]) -> None:
        """A (bounded) partition finished: it no longer holds the watermark back."""
        self.generators.pop(tp, None)

    def on_events(self, tp: tuple[str, int], values: list, timestamps: list) -> None:
        """Records of one partition."""
        generator, out = self._of(tp)
        generator.on_events(values, timestamps, out)

    def on_periodic_emit(self, output: Any) -> None:
        """Let every generator emit, then send the combined watermark (or idleness) to
        the task ``output`` (caller holds the checkpoint lock)."""
        active = []
        for generator, out in self.generators.values():
            generator.on_periodic_emit(out)
            if not out.idle:
                active.append(out.watermark)
        if not active:
            if not self.idle:  # all partitions idle, or none assigned (as Flink)
                self.idle = True
                output.mark_idle()
            return
        if self.idle:
            self.idle = False
            output.mark_active()
        combined = min(active)
        if combined > self.current:
            self.current = combined
            output.emit_watermark(combined)
