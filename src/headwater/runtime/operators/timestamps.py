"""The timestamp/watermark assigner (Flink's TimestampsAndWatermarksOperator).

It sets every record's timestamp with the strategy's assigner, shows the batch to the
watermark generator, and every ``auto-watermark interval`` ms (a processing-time timer
of the task) lets the generator emit; a watermark larger than the last one goes down
the chain and downstream through ``ctx.emit_watermark``::

    op = TimestampsAndWatermarksOperator(
        WatermarkStrategy.for_bounded_out_of_orderness(5)
        .with_timestamp_assigner(lambda e, ts: e[1]), interval_ms=200)
    op.process_batch([("a", 10), ("b", 30)], None)   # -> ([...], [10, 30])
    # 200 ms later: ctx.emit_watermark(30 - 5 - 1)

Differences from Flink, dictated by the task contract: watermarks arriving from
upstream are forwarded by the task itself (Flink's operator swallows all but the final
MAX watermark). Idleness (``with_idleness``) is detected here; announcing it
downstream needs the task's ``emit_watermark_status(idle)`` hook on the operator
context. Until the runtime provides one, an idle subtask simply stops emitting
watermarks (it never holds back with a stale one, but downstream still waits for it).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

from headwater.runtime.operators.base import StreamOperator, Timestamps

MIN_TIMESTAMP = -(2**63)

#: Flink's default ``pipeline.auto-watermark-interval`` (ms).
DEFAULT_AUTO_WATERMARK_INTERVAL = 200


class _Output:
    """The WatermarkOutput a generator writes to."""

    def __init__(self, op: TimestampsAndWatermarksOperator) -> None:
        self.op = op
        self.current = MIN_TIMESTAMP
        self.idle = False

    def emit_watermark(self, watermark: int) -> None:
        """Send ``watermark`` on if it is larger than the last one."""
        if self.idle:
            self.mark_active()
        if watermark > self.current:
            self.current = watermark
            emit = self.op.ctx.emit_watermark
            if emit is not None:
                emit(watermark)

    def _status(self, idle: bool) -> None:
        self.idle = idle
        hook = getattr(self.op.ctx, "emit_watermark_status", None)
        if hook is not None:
            hook(idle)

    def mark_idle(self) -> None:
        """No records for a while: stop holding back downstream watermarks."""
        if not self.idle:
            self._status(True)

    def mark_active(self) -> None:
        """Records again."""
        if self.idle:
            self._status(False)


class TimestampsAndWatermarksOperator(StreamOperator):
    """Assigns timestamps and emits watermarks (see the module docstring).

    ``interval_ms`` is the periodic emission interval; when None it is read at ``open``
    from ``config`` (an ExecutionConfig: ``get_auto_watermark_interval()``), so settings
    made after the stream was declared still apply. 0 disables periodic emission.
    """

    def __init__(self, strategy: Any, interval_ms: int | None = None,
                 config: Any = None) -> None:
        self.strategy = strategy
        self.interval_ms = interval_ms
        self.config = config

    def open(self) -> None:
        """Create the assigner and generator and schedule the first emission."""
        interval = self.interval_ms
        if interval is None:
            interval = self.config.get_auto_watermark_interval() if self.config is not None \
                else DEFAULT_AUTO_WATERMARK_INTERVAL
        self.interval = int(interval)
        assigner = self.strategy.create_timestamp_assigner()
        self.extract = assigner.extract_timestamp if assigner is not None else None
        self.generator = self.strategy.create_watermark_generator()
        self.output = _Output(self)
        pts = self.ctx.processing_time_service
        self.pts = pts
        self._handle = None
        if pts is not None and self.interval > 0:
            self._handle = pts.register_timer(pts.current_processing_time() + self.interval,
                                              self._on_periodic)

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Timestamp the batch and show it to the generator."""
        if not values:
            return values, timestamps
        extract = self.extract
        if extract is not None:
            timestamps = list(map(extract, values, timestamps if timestamps is not None
                                  else repeat(MIN_TIMESTAMP, len(values))))
        elif timestamps is None:
            return values, None  # nothing to go by: the records stay without time
        self.generator.on_events(values, timestamps, self.output)
        return values, timestamps

    def _on_periodic(self, time: int) -> None:
        self.emit_periodic()
        pts = self.pts
        self._handle = pts.register_timer(max(time, pts.current_processing_time())
                                          + self.interval, self._on_periodic)

    def emit_periodic(self) -> None:
        """Let the generator emit now (the timer does this every interval)."""
        self.generator.on_periodic_emit(self.output)

    def end_input(self) -> tuple[list, Timestamps]:
        """A last periodic emission, as Flink does when the input ends."""
        self.emit_periodic()
        return [], None

    def close(self) -> None:
        """Stop the periodic timer."""
        handle = getattr(self, "_handle", None)
        if handle is not None and self.pts is not None:
            self.pts.cancel(handle)
            self._handle = None

    @property
    def current_watermark(self) -> int:
        """The last watermark this operator emitted."""
        return self.output.current

    def __getstate__(self) -> dict:
        return {"strategy": self.strategy, "interval_ms": self.interval_ms,
                "config": self.config}
