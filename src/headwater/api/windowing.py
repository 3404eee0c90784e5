"""Windows: assigners that put records into windows, triggers that decide when a window
is evaluated, and the window types themselves (Flink's names, snake_case).

    from headwater.api import Time, TumblingEventTimeWindows

    (events.key_by(lambda e: e[0])
        .window(TumblingEventTimeWindows.of(Time.seconds(10)))
        .reduce(lambda a, b: (a[0], a[1] + b[1]))
        .print())

Event-time windows fire when the watermark passes their end (``EventTimeTrigger``),
processing-time windows when the wall clock does (``ProcessingTimeTrigger``); each
assigner brings that default trigger, ``WindowedStream.trigger`` replaces it. A window
is a half-open interval ``[start, end)``; results carry ``window.max_timestamp()``
(``end - 1``) as their timestamp.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable
from typing import Any, Generic, NamedTuple, TypeVar

from headwater.api.state import ReducingStateDescriptor, StateDescriptor, ValueStateDescriptor
from headwater.api.time import to_millis

MAX_TIMESTAMP = 2**63 - 1

T = TypeVar("T")
W = TypeVar("W")


# -- windows ------------------------------------------------------------------------------


class Window(abc.ABC):
    """A window: TimeWindow, CountWindow or GlobalWindow (all have ``max_timestamp()``)."""

    @abc.abstractmethod
    def max_timestamp(self) -> int:
        """The largest timestamp that belongs to the window."""


class TimeWindow(NamedTuple):
    """The time interval ``[start, end)`` in milliseconds."""

    start: int
    end: int

    def max_timestamp(self) -> int:
        """The largest timestamp inside the window (``end - 1``)."""
        return self.end - 1

    def intersects(self, other: TimeWindow) -> bool:
        """Whether the windows overlap or touch (Flink merges touching sessions)."""
        return self.start <= other.end and self.end >= other.start

    def cover(self, other: TimeWindow) -> TimeWindow:
        """The smallest window containing both."""
        return TimeWindow(min(self.start, other.start), max(self.end, other.end))

    @staticmethod
    def get_window_start_with_offset(timestamp: int, offset: int, window_size: int) -> int:
        """Start of the window of size ``window_size`` (aligned to ``offset``) that
        contains ``timestamp``."""
        return timestamp - (timestamp - offset) % window_size

    @staticmethod
    def merge_windows(windows: Iterable[TimeWindow], callback: Any) -> None:
        """Merge overlapping windows: ``callback.merge(to_be_merged, merge_result)`` for
        every group of more than one window."""
        current: TimeWindow | None = None
        members: list[TimeWindow] = []
        merged: list[tuple[TimeWindow, list[TimeWindow]]] = []
        for candidate in sorted(windows):
            if current is None:
                current, members = candidate, [candidate]
            elif current.intersects(candidate):
                current = current.cover(candidate)
                members.append(candidate)
            else:
                merged.append((current, members))
                current, members = candidate, [candidate]
        if current is not None:
            merged.append((current, members))
        for result, group in merged:
            if len(group) > 1:
                callback.merge(group, result)

    def __repr__(self) -> str:
        return f"TimeWindow(start={self.start}, end={self.end})"


class GlobalWindow:
    """The one window of GlobalWindows: all records of a key, never ending."""

    _instance: GlobalWindow | None = None

    def __new__(cls) -> GlobalWindow:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    @staticmethod
    def get() -> GlobalWindow:
        """The singleton."""
        return GlobalWindow()

    def max_timestamp(self) -> int:
        """Long.MAX_VALUE."""
        return MAX_TIMESTAMP

    def __reduce__(self):
        return (GlobalWindow, ())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GlobalWindow)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "GlobalWindow"


class CountWindow(NamedTuple):
    """A window of a count-window assigner, identified by a number."""

    id: int

    def max_timestamp(self) -> int:
        """Long.MAX_VALUE: count windows have no time."""
        return MAX_TIMESTAMP

    def __repr__(self) -> str:
        return f"CountWindow(id={self.id})"


Window.register(TimeWindow)
Window.register(GlobalWindow)
Window.register(CountWindow)


# -- triggers -----------------------------------------------------------------------------


class TriggerResult(enum.Enum):
    """What a trigger decides for a window: evaluate it (fire) and/or drop its contents
    (purge)."""

    CONTINUE = (False, False)
    FIRE_AND_PURGE = (True, True)
    FIRE = (True, False)
    PURGE = (False, True)

    def is_fire(self) -> bool:
        """Whether the window is evaluated."""
        return self.value[0]

    def is_purge(self) -> bool:
        """Whether the window's contents are dropped."""
        return self.value[1]


class TriggerContext:
    """What a trigger may do for the current key and window (provided by the window
    operator)."""

    def get_current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        raise NotImplementedError

    def get_current_watermark(self) -> int:
        """The operator's watermark."""
        raise NotImplementedError

    def register_processing_time_timer(self, time: int) -> None:
        """Call ``on_processing_time`` at wall-clock ``time``."""
        raise NotImplementedError

    def register_event_time_timer(self, time: int) -> None:
        """Call ``on_event_time`` when the watermark reaches ``time``."""
        raise NotImplementedError

    def delete_processing_time_timer(self, time: int) -> None:
        """Forget a processing-time timer."""
        raise NotImplementedError

    def delete_event_time_timer(self, time: int) -> None:
        """Forget an event-time timer."""
        raise NotImplementedError

    def get_partitioned_state(self, state_descriptor: StateDescriptor) -> Any:
        """State of the trigger scoped to the current key and window."""
        raise NotImplementedError

    def merge_partitioned_state(self, state_descriptor: StateDescriptor) -> None:
        """In ``on_merge``: fold the state of the merged windows into the new one."""
        raise NotImplementedError


class Trigger(Generic[T, W]):
    """Decides when a window fires. Each ``on_*`` returns a :class:`TriggerResult`."""

    #: Optimization hint: ``on_element`` neither depends on the element nor on the
    #: window's contents, so the window operator may call it once per window and batch
    #: (as for the built-in time triggers).
    element_agnostic = False

    def on_element(self, element: Any, timestamp: int | None, window: Any,
                   ctx: TriggerContext) -> TriggerResult:
        """A record was added to ``window``."""
        raise NotImplementedError

    def on_processing_time(self, time: int, window: Any, ctx: TriggerContext
                           ) -> TriggerResult:
        """A processing-time timer of the window fired."""
        raise NotImplementedError

    def on_event_time(self, time: int, window: Any, ctx: TriggerContext) -> TriggerResult:
        """An event-time timer of the window fired."""
        raise NotImplementedError

    def can_merge(self) -> bool:
        """Whether the trigger supports merging (session) windows."""
        return False

    def on_merge(self, window: Any, ctx: TriggerContext) -> None:
        """Windows were merged into ``window``: re-register timers, merge state."""
        raise RuntimeError("This trigger does not support merging.")

    def clear(self, window: Any, ctx: TriggerContext) -> None:
        """The window is purged for good: delete its timers and state."""

    def __repr__(self) -> str:
        return type(self).__name__


class EventTimeTrigger(Trigger):
    """Fires once the watermark passes the window's end (and again for every late record
    within the allowed lateness)."""

    element_agnostic = True

    @staticmethod
    def create() -> EventTimeTrigger:
        """The trigger."""
        return EventTimeTrigger()

    def on_element(self, element, timestamp, window, ctx) -> TriggerResult:
        """Fire at once for a window the watermark already passed, else set a timer."""
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time, window, ctx) -> TriggerResult:
        """Fire at the window's end."""
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE

    def on_processing_time(self, time, window, ctx) -> TriggerResult:
        """Ignored."""
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        """Supports session windows."""
        return True

    def on_merge(self, window, ctx) -> None:
        """Set the timer of the merged window."""
        if window.max_timestamp() > ctx.get_current_watermark():
            ctx.register_event_time_timer(window.max_timestamp())

    def clear(self, window, ctx) -> None:
        """Delete the timer."""
        ctx.delete_event_time_timer(window.max_timestamp())


class ProcessingTimeTrigger(Trigger):
    """Fires when the wall clock passes the window's end."""

    element_agnostic = True

    @staticmethod
    def create() -> ProcessingTimeTrigger:
        """The trigger."""
        return ProcessingTimeTrigger()

    def on_element(self, element, timestamp, window, ctx) -> TriggerResult:
        """Set a timer at the window's end."""
        ctx.register_processing_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time, window, ctx) -> TriggerResult:
        """Ignored."""
        return TriggerResult.CONTINUE

    def on_processing_time(self, time, window, ctx) -> TriggerResult:
        """Fire."""
        return TriggerResult.FIRE

    def can_merge(self) -> bool:
        """Supports session windows."""
        return True

    def on_merge(self, window, ctx) -> None:
        """Set the timer of the merged window."""
        if window.max_timestamp() > ctx.get_current_processing_time():
            ctx.register_processing_time_timer(window.max_timestamp())

    def clear(self, window, ctx) -> None:
        """Delete the timer."""
        ctx.delete_processing_time_timer(window.max_timestamp())


def _sum(a: int, b: int) -> int:
    return a + b


class CountTrigger(Trigger):
    """Fires every ``count`` records of a window."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.count = count
        self.state_desc = ReducingStateDescriptor("count", _sum)

    @staticmethod
    def of(window_size: int) -> CountTrigger:
        """Fire every ``window_size`` records."""
        return CountTrigger(int(window_size))

    def on_element(self, element, timestamp, window, ctx) -> TriggerResult:
        """Count; fire (and reset) at ``count``."""
        state = ctx.get_partitioned_state(self.state_desc)
        state.add(1)
        if state.get() >= self.count:
            state.clear()
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def on_event_time(self, time, window, ctx) -> TriggerResult:
        """Ignored."""
        return TriggerResult.CONTINUE

    def on_processing_time(self, time, window, ctx) -> TriggerResult:
        """Ignored."""
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        """Counts of merged windows add up."""
        return True

    def on_merge(self, window, ctx) -> None:
        """Add up the counts."""
        ctx.merge_partitioned_state(self.state_desc)

    def clear(self, window, ctx) -> None:
        """Drop the count."""
        ctx.get_partitioned_state(self.state_desc).clear()

    def __repr__(self) -> str:
        return f"CountTrigger({self.count})"


class PurgingTrigger(Trigger):
    """Wraps a trigger and purges the window whenever it fires."""

    def __init__(self, nested: Trigger) -> None:
        self.nested = nested
        self.element_agnostic = nested.element_agnostic

    @staticmethod
    def of(nested_trigger: Trigger) -> PurgingTrigger:
        """Purge on every firing of ``nested_trigger``."""
        return PurgingTrigger(nested_trigger)

    @staticmethod
    def _purging(result: TriggerResult) -> TriggerResult:
        return TriggerResult.FIRE_AND_PURGE if result.is_fire() else result

    def on_element(self, element, timestamp, window, ctx) -> TriggerResult:
        """The nested result, purging when it fires."""
        return self._purging(self.nested.on_element(element, timestamp, window, ctx))

    def on_event_time(self, time, window, ctx) -> TriggerResult:
        """The nested result, purging when it fires."""
        return self._purging(self.nested.on_event_time(time, window, ctx))

    def on_processing_time(self, time, window, ctx) -> TriggerResult:
        """The nested result, purging when it fires."""
        return self._purging(self.nested.on_processing_time(time, window, ctx))

    def can_merge(self) -> bool:
        """As the nested trigger."""
        return self.nested.can_merge()

    def on_merge(self, window, ctx) -> None:
        """As the nested trigger."""
        self.nested.on_merge(window, ctx)

    def clear(self, window, ctx) -> None:
        """As the nested trigger."""
        self.nested.clear(window, ctx)

    def __repr__(self) -> str:
        return f"PurgingTrigger({self.nested!r})"


def _min(a: int, b: int) -> int:
    return min(a, b)


class _ContinuousTrigger(Trigger):
    """What the two continuous triggers share: the next fire time (the minimum of those
    set, as Flink's "fire-time" reducing state), its timer in the subclass's time
    domain, firing on it, merging and clearing."""

    def __init__(self, interval: int) -> None:
        if interval <= 0:
            raise ValueError("the interval must be positive")
        self.interval = interval
        self.state_desc = ReducingStateDescriptor("fire-time", _min)

    def _register_timer(self, ctx: TriggerContext, time: int) -> None:
        raise NotImplementedError

    def _delete_timer(self, ctx: TriggerContext, time: int) -> None:
        raise NotImplementedError

    def _register_next(self, time: int, window: Any, ctx: TriggerContext, state: Any) -> None:
        next_fire = min(time + self.interval, window.max_timestamp())
        state.add(next_fire)
        self._register_timer(ctx, next_fire)

    def _fire_on_interval(self, time: int, window: Any, ctx: TriggerContext) -> TriggerResult:
        """Fire when ``time`` is the next fire time, and set the one after it."""
        state = ctx.get_partitioned_state(self.state_desc)
        if state.get() == time:
            state.clear()
            self._register_next(time, window, ctx, state)
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        """Supports session windows."""
        return True

    def on_merge(self, window, ctx) -> None:
        """Merge the fire times and set the timer of the merged window."""
        ctx.merge_partitioned_state(self.state_desc)
        next_fire = ctx.get_partitioned_state(self.state_desc).get()
        if next_fire is not None:
            self._register_timer(ctx, next_fire)

    def clear(self, window, ctx) -> None:
        """Delete the timer and the state."""
        state = ctx.get_partitioned_state(self.state_desc)
        if state.get() is not None:
            self._delete_timer(ctx, state.get())
        state.clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.interval})"


class ContinuousEventTimeTrigger(_ContinuousTrigger):
    """Fires every ``interval`` of event time within a window, and at its end."""

    @staticmethod
    def of(interval: Any) -> ContinuousEventTimeTrigger:
        """Fire every ``interval`` (Time or ms)."""
        return ContinuousEventTimeTrigger(to_millis(interval, "interval"))

    def _register_timer(self, ctx: TriggerContext, time: int) -> None:
        ctx.register_event_time_timer(time)

    def _delete_timer(self, ctx: TriggerContext, time: int) -> None:
        ctx.delete_event_time_timer(time)

    def on_element(self, element, timestamp, window, ctx) -> TriggerResult:
        """Fire at once for a window the watermark passed; else set the timers."""
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        state = ctx.get_partitioned_state(self.state_desc)
        if state.get() is None and timestamp is not None:
            self._register_next(timestamp - timestamp % self.interval, window, ctx, state)
        return TriggerResult.CONTINUE

    def on_event_time(self, time, window, ctx) -> TriggerResult:
        """Fire at the window's end and at every interval."""
        if time == window.max_timestamp():
            return TriggerResult.FIRE
        return self._fire_on_interval(time, window, ctx)

    def on_processing_time(self, time, window, ctx) -> TriggerResult:
        """Ignored."""
        return TriggerResult.CONTINUE


class ContinuousProcessingTimeTrigger(_ContinuousTrigger):
    """Fires every ``interval`` of processing time within a window."""

    @staticmethod
    def of(interval: Any) -> ContinuousProcessingTimeTrigger:
        """Fire every ``interval`` (Time or ms)."""
        return ContinuousProcessingTimeTrigger(to_millis(interval, "interval"))

    def _register_timer(self, ctx: TriggerContext, time: int) -> None:
        ctx.register_processing_time_timer(time)

    def _delete_timer(self, ctx: TriggerContext, time: int) -> None:
        ctx.delete_processing_time_timer(time)

    def on_element(self, element, timestamp, window, ctx) -> TriggerResult:
        """Set the first timer."""
        state = ctx.get_partitioned_state(self.state_desc)
        if state.get() is None:
            now = ctx.get_current_processing_time()
            self._register_next(now - now % self.interval, window, ctx, state)
        return TriggerResult.CONTINUE

    def on_event_time(self, time, window, ctx) -> TriggerResult:
        """Ignored."""
        return TriggerResult.CONTINUE

    def on_processing_time(self, time, window, ctx) -> TriggerResult:
        """Fire at every interval."""
        return self._fire_on_interval(time, window, ctx)


class NeverTrigger(Trigger):
    """Never fires (the default of GlobalWindows: set a trigger of your own)."""

    def on_element(self, element, timestamp, window, ctx) -> TriggerResult:
        """Continue."""
        return TriggerResult.CONTINUE

    def on_event_time(self, time, window, ctx) -> TriggerResult:
        """Continue."""
        return TriggerResult.CONTINUE

    def on_processing_time(self, time, window, ctx) -> TriggerResult:
        """Continue."""
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        """Nothing to merge."""
        return True

    def on_merge(self, window, ctx) -> None:
        """Nothing to do."""


# -- assigners ----------------------------------------------------------------------------


class WindowAssignerContext:
    """What an assigner may ask while assigning (provided by the window operator)."""

    def get_current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        raise NotImplementedError

    def get_runtime_context(self) -> Any:
        """The operator's RuntimeContext (keyed state of the record's key)."""
        raise NotImplementedError


class WindowAssigner(Generic[T, W]):
    """Puts a record into zero or more windows."""

    def assign_windows(self, element: Any, timestamp: int | None,
                       context: WindowAssignerContext) -> list:
        """The windows of one record."""
        raise NotImplementedError

    def get_default_trigger(self, env: Any = None) -> Trigger:
        """The trigger used unless ``WindowedStream.trigger`` sets another."""
        raise NotImplementedError

    def is_event_time(self) -> bool:
        """Whether windows are based on event time."""
        raise NotImplementedError


class MergingWindowAssigner(WindowAssigner[T, W]):
    """An assigner whose windows merge (sessions)."""

    def merge_windows(self, windows: Iterable[Any], callback: Any) -> None:
        """Report groups of windows to merge: ``callback.merge(to_be_merged, result)``."""
        raise NotImplementedError


_NO_TIMESTAMP = ("Record has Long.MIN_VALUE timestamp (= no timestamp marker). Is the time "
                 "characteristic set to 'ProcessingTime', or did you forget to call "
                 "'DataStream.assign_timestamps_and_watermarks(...)'?")


def _check_tumbling(name: str, size: int, offset: int) -> None:
    if size <= 0 or abs(offset) >= size:
        raise ValueError(f"{name} parameters must satisfy abs(offset) < size")


def _check_sliding(name: str, size: int, slide: int, offset: int) -> None:
    if size <= 0 or slide <= 0 or abs(offset) >= slide:
        raise ValueError(f"{name} parameters must satisfy abs(offset) < slide and size > 0")


class _EventTimeAssigning:
    """Assigns by the record's timestamp and fires with an ``EventTimeTrigger``;
    the assigner's ``_windows_at(element, timestamp)`` gives the windows."""

    _windows_at: Callable[[Any, int], list[TimeWindow]]

    def assign_windows(self, element, timestamp, context) -> list[TimeWindow]:
        """The windows of the record's timestamp."""
        if timestamp is None:
            raise RuntimeError(_NO_TIMESTAMP)
        return self._windows_at(element, timestamp)

    def get_default_trigger(self, env: Any = None) -> Trigger:
        """EventTimeTrigger."""
        return EventTimeTrigger()

    def is_event_time(self) -> bool:
        """True."""
        return True


class _ProcessingTimeAssigning:
    """Assigns by the current processing time and fires with a ``ProcessingTimeTrigger``;
    the assigner's ``_windows_at(element, timestamp)`` gives the windows."""

    _windows_at: Callable[[Any, int], list[TimeWindow]]

    def assign_windows(self, element, timestamp, context) -> list[TimeWindow]:
        """The windows of the current processing time."""
        return self._windows_at(element, context.get_current_processing_time())

    def get_default_trigger(self, env: Any = None) -> Trigger:
        """ProcessingTimeTrigger."""
        return ProcessingTimeTrigger()

    def is_event_time(self) -> bool:
        """False."""
        return False


class _Tumbling(WindowAssigner):
    """Fixed-size, non-overlapping windows aligned to ``offset``."""

    def __init__(self, size: int, offset: int = 0) -> None:
        _check_tumbling(type(self).__name__, size, offset)
        self.size = size
        self.offset = offset

    def _windows_at(self, element: Any, timestamp: int) -> list[TimeWindow]:
        start = timestamp - (timestamp - self.offset) % self.size
        return [TimeWindow(start, start + self.size)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.size})"


class TumblingEventTimeWindows(_EventTimeAssigning, _Tumbling):
    """Fixed-size, non-overlapping event-time windows::

        TumblingEventTimeWindows.of(Time.minutes(1))        # [0, 60000), [60000, ...
        TumblingEventTimeWindows.of(Time.hours(1), Time.minutes(15))   # hh:15 to hh+1:15
    """

    @staticmethod
    def of(size: Any, offset: Any = 0) -> TumblingEventTimeWindows:
        """Windows of ``size`` (Time or ms), shifted by ``offset``."""
        return TumblingEventTimeWindows(to_millis(size, "size"), to_millis(offset, "offset"))


class TumblingProcessingTimeWindows(_ProcessingTimeAssigning, _Tumbling):
    """Fixed-size, non-overlapping windows of the wall clock."""

    @staticmethod
    def of(size: Any, offset: Any = 0) -> TumblingProcessingTimeWindows:
        """Windows of ``size`` (Time or ms), shifted by ``offset``."""
        return TumblingProcessingTimeWindows(to_millis(size, "size"),
                                             to_millis(offset, "offset"))


class _Sliding(WindowAssigner):
    """Windows of ``size`` starting every ``slide``: a record is in size/slide windows."""

    def __init__(self, size: int, slide: int, offset: int = 0) -> None:
        _check_sliding(type(self).__name__, size, slide, offset)
        self.size = size
        self.slide = slide
        self.offset = offset

    def _windows_at(self, element: Any, timestamp: int) -> list[TimeWindow]:
        size, slide = self.size, self.slide
        last_start = timestamp - (timestamp - self.offset) % slide
        return [TimeWindow(start, start + size)
                for start in range(last_start, timestamp - size, -slide)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.size}, {self.slide})"


class SlidingEventTimeWindows(_EventTimeAssigning, _Sliding):
    """Overlapping event-time windows::

        SlidingEventTimeWindows.of(Time.seconds(10), Time.seconds(5))
    """

    @staticmethod
    def of(size: Any, slide: Any, offset: Any = 0) -> SlidingEventTimeWindows:
        """Windows of ``size`` every ``slide`` (Time or ms), shifted by ``offset``."""
        return SlidingEventTimeWindows(to_millis(size, "size"), to_millis(slide, "slide"),
                                       to_millis(offset, "offset"))


class SlidingProcessingTimeWindows(_ProcessingTimeAssigning, _Sliding):
    """Overlapping windows of the wall clock."""

    @staticmethod
    def of(size: Any, slide: Any, offset: Any = 0) -> SlidingProcessingTimeWindows:
        """Windows of ``size`` every ``slide`` (Time or ms), shifted by ``offset``."""
        return SlidingProcessingTimeWindows(to_millis(size, "size"),
                                            to_millis(slide, "slide"),
                                            to_millis(offset, "offset"))


class SessionWindowTimeGapExtractor(abc.ABC):
    """The session gap of each record (``extract(element)`` returns ms), for
    ``with_dynamic_gap``."""

    @abc.abstractmethod
    def extract(self, element: Any) -> int:
        """The gap (ms, or a Time) after ``element``."""


class _Sessions(MergingWindowAssigner):
    """A window ``[t, t + gap)`` per record; overlapping (or touching) windows merge."""

    def __init__(self, gap: int | None = None,
                 gap_extractor: Callable[[Any], Any] | None = None) -> None:
        if gap is not None and gap <= 0:
            raise ValueError(f"{type(self).__name__} parameters must satisfy 0 < size")
        self.gap = gap
        self.gap_extractor = gap_extractor

    def _windows_at(self, element: Any, timestamp: int) -> list[TimeWindow]:
        gap = self.gap
        if gap is None:
            extractor = self.gap_extractor
            if extractor is None:
                raise ValueError("a session window needs a gap or a gap extractor")
            extract = getattr(extractor, "extract", extractor)
            gap = to_millis(extract(element), "session gap")
            if gap <= 0:
                raise ValueError("Dynamic session time gap must satisfy 0 < gap")
        return [TimeWindow(timestamp, timestamp + gap)]

    def merge_windows(self, windows, callback) -> None:
        """Merge overlapping sessions."""
        TimeWindow.merge_windows(windows, callback)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.gap})"


class EventTimeSessionWindows(_EventTimeAssigning, _Sessions):
    """Sessions of event time: a key's records closer than ``gap`` share a window::

        EventTimeSessionWindows.with_gap(Time.minutes(30))
    """

    @staticmethod
    def with_gap(size: Any) -> EventTimeSessionWindows:
        """Sessions separated by at least ``size`` (Time or ms) of inactivity."""
        return EventTimeSessionWindows(to_millis(size, "gap"))

    @staticmethod
    def with_dynamic_gap(extractor: Any) -> DynamicEventTimeSessionWindows:
        """The gap of each record is ``extractor.extract(record)`` (a
        SessionWindowTimeGapExtractor; a plain callable works too), Time or ms."""
        return DynamicEventTimeSessionWindows(None, extractor)


class DynamicEventTimeSessionWindows(EventTimeSessionWindows):
    """Event-time sessions whose gap comes from each record."""

    @staticmethod
    def with_dynamic_gap(extractor: Any) -> DynamicEventTimeSessionWindows:
        """The gap of each record is ``extractor.extract(record)``."""
        return DynamicEventTimeSessionWindows(None, extractor)


class ProcessingTimeSessionWindows(_ProcessingTimeAssigning, _Sessions):
    """Sessions of the wall clock."""

    @staticmethod
    def with_gap(size: Any) -> ProcessingTimeSessionWindows:
        """Sessions separated by at least ``size`` (Time or ms) of inactivity."""
        return ProcessingTimeSessionWindows(to_millis(size, "gap"))

    @staticmethod
    def with_dynamic_gap(extractor: Any) -> DynamicProcessingTimeSessionWindows:
        """The gap of each record is ``extractor.extract(record)`` (Time or ms)."""
        return DynamicProcessingTimeSessionWindows(None, extractor)


class DynamicProcessingTimeSessionWindows(ProcessingTimeSessionWindows):
    """Processing-time sessions whose gap comes from each record."""

    @staticmethod
    def with_dynamic_gap(extractor: Any) -> DynamicProcessingTimeSessionWindows:
        """The gap of each record is ``extractor.extract(record)``."""
        return DynamicProcessingTimeSessionWindows(None, extractor)


class GlobalWindows(WindowAssigner):
    """One window per key holding all its records; fires only with a custom trigger
    (``count_window`` uses ``PurgingTrigger.of(CountTrigger.of(n))``)."""

    @staticmethod
    def create() -> GlobalWindows:
        """The assigner."""
        return GlobalWindows()

    def assign_windows(self, element, timestamp, context) -> list[GlobalWindow]:
        """The global window."""
        return [GlobalWindow()]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        """NeverTrigger."""
        return NeverTrigger()

    def is_event_time(self) -> bool:
        """False."""
        return False

    def __repr__(self) -> str:
        return "GlobalWindows()"


class _CountAssigning(WindowAssigner):
    """Numbers each key's records in keyed state (``context.get_runtime_context()``)."""

    _counter: ValueStateDescriptor

    def _next_count(self, context: WindowAssignerContext) -> int:
        state = context.get_runtime_context().get_state(self._counter)
        count = state.value() or 0
        state.update(count + 1)
        return count

    def is_event_time(self) -> bool:
        """False."""
        return False


class CountTumblingWindowAssigner(_CountAssigning):
    """Windows of ``window_size`` records per key (``count_window(size)``): the key's
    n-th record goes to ``CountWindow(n // size)``, which fires and is purged when full."""

    def __init__(self, window_size: int) -> None:
        if int(window_size) < 1:
            raise ValueError("count window size must be at least 1")
        self.window_size = int(window_size)
        self._counter = ValueStateDescriptor("tumble-count-assigner")

    @staticmethod
    def of(window_size: int) -> CountTumblingWindowAssigner:
        """The assigner."""
        return CountTumblingWindowAssigner(window_size)

    def assign_windows(self, element, timestamp, context) -> list[CountWindow]:
        """The record's count window."""
        return [CountWindow(self._next_count(context) // self.window_size)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        """Fire and purge every ``window_size`` records."""
        return PurgingTrigger.of(CountTrigger.of(self.window_size))

    def __repr__(self) -> str:
        return f"CountTumblingWindowAssigner({self.window_size})"


class CountSlidingWindowAssigner(_CountAssigning):
    """Windows of ``window_size`` records starting every ``window_slide`` records per key
    (``count_window(size, slide)``): ``CountWindow(k)`` holds the key's records
    ``k * slide .. k * slide + size - 1`` and fires when it is full (PyFlink's
    semantics)."""

    def __init__(self, window_size: int, window_slide: int) -> None:
        if int(window_size) < 1 or int(window_slide) < 1:
            raise ValueError("count window size and slide must be at least 1")
        self.window_size = int(window_size)
        self.window_slide = int(window_slide)
        self._counter = ValueStateDescriptor("slide-count-assigner")

    @staticmethod
    def of(window_size: int, window_slide: int) -> CountSlidingWindowAssigner:
        """The assigner."""
        return CountSlidingWindowAssigner(window_size, window_slide)

    def assign_windows(self, element, timestamp, context) -> list[CountWindow]:
        """Every window whose range holds the record's number."""
        count = self._next_count(context)
        size, slide = self.window_size, self.window_slide
        last_id = count // slide
        return [CountWindow(i) for i in range(last_id, -1, -1)
                if i * slide <= count <= i * slide + size - 1]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        """Fire (and purge: a full window gets no more records) at ``window_size``."""
        return PurgingTrigger.of(CountTrigger.of(self.window_size))

    def __repr__(self) -> str:
        return f"CountSlidingWindowAssigner({self.window_size}, {self.window_slide})"


# -- evictors -----------------------------------------------------------------------------


class TimestampedValue(NamedTuple):
    """A window element as an evictor sees it."""

    value: Any
    timestamp: int | None

    def get_value(self) -> Any:
        """The record."""
        return self.value

    def get_timestamp(self) -> int | None:
        """Its event timestamp (None without one)."""
        return self.timestamp

    def has_timestamp(self) -> bool:
        """Whether it has an event timestamp."""
        return self.timestamp is not None


class EvictorContext:
    """What an evictor may ask (provided by the window operator)."""

    def get_current_processing_time(self) -> int:
        """Wall-clock milliseconds."""
        raise NotImplementedError

    def get_current_watermark(self) -> int:
        """The operator's watermark."""
        raise NotImplementedError


class Evictor:
    """Removes elements from a fired window before and/or after the window function
    runs: ``elements`` is a list of :class:`TimestampedValue` to delete from in place.
    A windowed stream with an evictor keeps every element (no pre-aggregation)."""

    def evict_before(self, elements: list[TimestampedValue], size: int, window: Any,
                     evictor_context: EvictorContext) -> None:
        """Before the window function."""

    def evict_after(self, elements: list[TimestampedValue], size: int, window: Any,
                    evictor_context: EvictorContext) -> None:
        """After the window function."""


class CountEvictor(Evictor):
    """Keeps at most ``max_count`` elements (the last ones)."""

    def __init__(self, max_count: int, do_evict_after: bool = False) -> None:
        if int(max_count) < 0:
            raise ValueError("max_count must not be negative")
        self.max_count = int(max_count)
        self.do_evict_after = do_evict_after

    @staticmethod
    def of(max_count: int, do_evict_after: bool = False) -> CountEvictor:
        """Keep the last ``max_count`` elements (after the function if
        ``do_evict_after``)."""
        return CountEvictor(max_count, do_evict_after)

    def _evict(self, elements: list[TimestampedValue]) -> None:
        if len(elements) > self.max_count:
            del elements[:len(elements) - self.max_count]

    def evict_before(self, elements, size, window, evictor_context) -> None:
        """Evict unless ``do_evict_after``."""
        if not self.do_evict_after:
            self._evict(elements)

    def evict_after(self, elements, size, window, evictor_context) -> None:
        """Evict if ``do_evict_after``."""
        if self.do_evict_after:
            self._evict(elements)

    def __repr__(self) -> str:
        return f"CountEvictor({self.max_count})"


class TimeEvictor(Evictor):
    """Keeps the elements whose timestamp is within ``window_size`` of the newest one
    (elements without timestamps are all kept)."""

    def __init__(self, window_size: int, do_evict_after: bool = False) -> None:
        self.window_size = int(window_size)
        self.do_evict_after = do_evict_after

    @staticmethod
    def of(window_size: Any, do_evict_after: bool = False) -> TimeEvictor:
        """Keep ``window_size`` (Time or ms) of elements."""
        return TimeEvictor(to_millis(window_size, "window size"), do_evict_after)

    def _evict(self, elements: list[TimestampedValue]) -> None:
        if not elements or any(e.timestamp is None for e in elements):
            return
        cutoff = max(e.timestamp for e in elements if e.timestamp is not None) \
            - self.window_size
        elements[:] = [e for e in elements if e.timestamp is not None and e.timestamp > cutoff]

    def evict_before(self, elements, size, window, evictor_context) -> None:
        """Evict unless ``do_evict_after``."""
        if not self.do_evict_after:
            self._evict(elements)

    def evict_after(self, elements, size, window, evictor_context) -> None:
        """Evict if ``do_evict_after``."""
        if self.do_evict_after:
            self._evict(elements)

    def __repr__(self) -> str:
        return f"TimeEvictor({self.window_size})"


# PyFlink's nested names of the contexts (``Trigger.TriggerContext``...).
Trigger.TriggerContext = TriggerContext  # type: ignore[attr-defined]
Trigger.OnMergeContext = TriggerContext  # type: ignore[attr-defined]
WindowAssigner.WindowAssignerContext = WindowAssignerContext  # type: ignore[attr-defined]
