"""Keyed timers of one operator (Flink's InternalTimerService).

A timer is ``(key, namespace, timestamp)`` in one of two time domains; registering the
same timer twice keeps one. Event-time timers fire when the watermark reaches them
(:meth:`KeyedTimerService.advance_watermark`), in time order; processing-time timers fire
through the task's processing-time service (one task timer per distinct timestamp).
The namespace is ``None`` for process functions and the window for window operators.

    timers = KeyedTimerService(on_event_time, on_processing_time, pts)
    timers.register_event_time_timer("k", None, 1000)
    timers.advance_watermark(1500)      # calls on_event_time("k", None, 1000)

Snapshots group timers by key group (like the keyed state), so they can be restored at
another parallelism.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from headwater.runtime.operators.base import OperatorStateSnapshot, StreamOperator
from headwater.runtime.state.key_groups import assign_to_key_group

MIN_WATERMARK = -(2**63)

#: A timer callback: (key, namespace, timestamp).
TimerCallback = Callable[[Any, Any, int], None]


def _fire_due(heap: list[tuple], live: dict[tuple, None], fire: TimerCallback,
              limit: int) -> bool:
    """Pop and fire the live timers <= ``limit`` of one time domain in time order (also
    timers that ``fire`` registers in that range); whether any fired."""
    fired = False
    while heap and heap[0][0] <= limit:
        ts, _, key, ns = heapq.heappop(heap)
        entry = (ts, key, ns)
        if entry in live:
            del live[entry]
            fire(key, ns, ts)
            fired = True
    return fired


class KeyedTimerService:
    """Event-time and processing-time timers per (key, namespace, timestamp)."""

    def __init__(self, on_event_time: TimerCallback, on_processing_time: TimerCallback,
                 processing_time_service: Any = None,
                 after_processing_timers: Callable[[], None] | None = None) -> None:
        self.on_event_time = on_event_time
        self.on_processing_time = on_processing_time
        self.processing_time_service = processing_time_service
        #: Called after a batch of processing-time timers fired (the operator emits).
        self.after_processing_timers = after_processing_timers
        self.current_watermark = MIN_WATERMARK
        self._seq = itertools.count()
        # (ts, key, ns) -> None: the live timers; heaps hold (ts, seq, key, ns) and may
        # contain deleted entries, skipped when popped.
        self._event: dict[tuple, None] = {}
        self._event_heap: list[tuple] = []
        self._processing: dict[tuple, None] = {}
        self._processing_heap: list[tuple] = []
        self._service_handles: dict[int, Any] = {}

    # -- registration -------------------------------------------------------------------

    def register_event_time_timer(self, key: Any, namespace: Any, timestamp: int) -> None:
        """Fire ``on_event_time(key, namespace, timestamp)`` once the watermark reaches
        ``timestamp``."""
        self._add(self._event, self._event_heap, key, namespace, timestamp)

    def delete_event_time_timer(self, key: Any, namespace: Any, timestamp: int) -> None:
        """Forget an event-time timer (no-op if absent)."""
        self._event.pop((timestamp, key, namespace), None)

    def register_processing_time_timer(self, key: Any, namespace: Any, timestamp: int
                                       ) -> None:
        """Fire ``on_processing_time(key, namespace, timestamp)`` at wall-clock
        ``timestamp``."""
        if not self._add(self._processing, self._processing_heap, key, namespace, timestamp):
            return
        if timestamp not in self._service_handles and self.processing_time_service is not None:
            self._service_handles[timestamp] = self.processing_time_service.register_timer(
                timestamp, self.fire_processing_timers)

    def _add(self, live: dict[tuple, None], heap: list[tuple], key: Any, namespace: Any,
             timestamp: int) -> bool:
        """Register a timer in one time domain; False if it was registered already."""
        entry = (timestamp, key, namespace)
        if entry in live:
            return False
        live[entry] = None
        heapq.heappush(heap, (timestamp, next(self._seq), key, namespace))
        return True

    def delete_processing_time_timer(self, key: Any, namespace: Any, timestamp: int) -> None:
        """Forget a processing-time timer (no-op if absent)."""
        self._processing.pop((timestamp, key, namespace), None)

    # -- firing -------------------------------------------------------------------------

    def advance_watermark(self, watermark: int) -> None:
        """Fire every event-time timer <= ``watermark`` in time order (also timers that
        the callbacks register in that range)."""
        self.current_watermark = watermark
        _fire_due(self._event_heap, self._event, self.on_event_time, watermark)

    def fire_processing_timers(self, time: int) -> None:
        """Fire every processing-time timer <= ``time`` in time order (the task's
        processing-time service calls this)."""
        self._service_handles.pop(time, None)
        fired = _fire_due(self._processing_heap, self._processing, self.on_processing_time,
                          time)
        if fired and self.after_processing_timers is not None:
            self.after_processing_timers()

    # -- inspection ---------------------------------------------------------------------

    def event_time_timers(self) -> list[tuple[Any, Any, int]]:
        """Live event-time timers as (key, namespace, timestamp), in time order."""
        return [(k, ns, ts) for ts, k, ns in sorted(self._event, key=_ts_of)]

    def processing_time_timers(self) -> list[tuple[Any, Any, int]]:
        """Live processing-time timers as (key, namespace, timestamp), in time order."""
        return [(k, ns, ts) for ts, k, ns in sorted(self._processing, key=_ts_of)]

    def num_timers(self) -> int:
        """How many timers are registered (both domains)."""
        return len(self._event) + len(self._processing)

    # -- snapshots ----------------------------------------------------------------------

    def snapshot(self, max_parallelism: int) -> dict[int, dict[str, list]]:
        """``{key_group: {"event": [(key, ns, ts)...], "processing": [...]}}``."""
        out: dict[int, dict[str, list]] = {}
        groups: dict[Any, int] = {}
        for domain, live in (("event", self._event), ("processing", self._processing)):
            for ts, key, ns in live:
                kg = groups.get(key)
                if kg is None:
                    kg = groups[key] = assign_to_key_group(key, max_parallelism)
                per = out.setdefault(kg, {"event": [], "processing": []})
                per[domain].append((key, ns, ts))
        return out

    def restore(self, snapshots: Mapping | Iterable[Mapping], key_groups: Any = None) -> None:
        """Register the timers of one snapshot or many (rescaling); with ``key_groups``
        (a container of key group ids) only those groups are kept."""
        if isinstance(snapshots, Mapping):
            snapshots = [snapshots]
        for snap in snapshots:
            for kg, per in snap.items():
                if key_groups is not None and kg not in key_groups:
                    continue
                for key, ns, ts in per.get("event", ()):
                    self.register_event_time_timer(key, ns, ts)
                for key, ns, ts in per.get("processing", ()):
                    self.register_processing_time_timer(key, ns, ts)


def _ts_of(entry: tuple) -> int:
    return entry[0]


class TimersStateMixin(StreamOperator):
    """Checkpointing of an operator's ``self.timers`` (a KeyedTimerService).

    ``snapshot_timers``/``restore_timers`` work on the timers alone; the operator-state
    hooks put them in the checkpoint as "union" state: after rescaling every subtask
    sees all timers and keeps those of its own key groups.
    """

    timers: KeyedTimerService

    def snapshot_timers(self) -> dict:
        """Timers by key group: ``{key_group: {"event": [...], "processing": [...]}}``."""
        return self.timers.snapshot(self.ctx.max_parallelism)

    def restore_timers(self, snapshots: Any) -> None:
        """Re-register timers of one snapshot or many (only this subtask's key groups)."""
        backend = self.ctx.keyed_state_backend
        groups = backend.key_group_range if backend is not None else None
        self.timers.restore(snapshots, groups)

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot | None:
        """The operator state of the base class plus the timers."""
        state = super().snapshot_state(checkpoint_id)
        timers = self.snapshot_timers()
        if not timers:
            return state
        state = dict(state or {})
        state[TIMERS_STATE] = ("union", [timers])
        return state

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Restore the timers of a checkpoint (before ``open``), then the rest."""
        if state and TIMERS_STATE in state:
            state = dict(state)
            self.restore_timers(state.pop(TIMERS_STATE)[1])
        super().initialize_state(state or None)


#: Name of the timers in an operator's checkpointed operator state.
TIMERS_STATE = "headwater.timers"
