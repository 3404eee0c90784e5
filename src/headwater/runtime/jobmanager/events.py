"""Cluster events: what changed in the JobManager, pushed to whoever listens.

The Dispatcher owns one :class:`ClusterEvents`; the JobMasters and the ResourceManager
publish to it on the JobManager's event loop as things happen (a job changes status, a
checkpoint completes or fails, a task fails, a TaskManager registers or is lost). The
REST layer's event stream (``GET /events``) turns each :class:`Subscription` into
server-sent events.

Publishing costs nothing without subscribers and never blocks: every subscriber has a
bounded queue, and one that falls ``max_backlog`` events behind is dropped (its stream
ends; a client reconnects and re-reads the state), so a stalled browser cannot grow the
JobManager's memory or slow a job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Iterable
from typing import Any

from headwater.clock import now_ms

#: The kinds of events, as the stream names them.
JOB_STATUS = "job-status"
CHECKPOINT = "checkpoint"
EXCEPTION = "exception"
TASK_MANAGER = "taskmanager"
EVENT_KINDS = (JOB_STATUS, CHECKPOINT, EXCEPTION, TASK_MANAGER)


@dataclasses.dataclass(frozen=True)
class ClusterEvent:
    """One event: its kind, a sequence number (per JobManager run), when it happened,
    the job it concerns (None for TaskManager events) and its figures."""

    kind: str
    sequence: int
    timestamp: int
    job_id: str | None
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The event as the stream sends it."""
        body: dict[str, Any] = {"type": self.kind, "timestamp": self.timestamp}
        if self.job_id is not None:
            body["jid"] = self.job_id
        body.update(self.data)
        return body


class Subscription:
    """One listener's bounded queue of events (see :meth:`ClusterEvents.subscribe`)."""

    def __init__(self, events: ClusterEvents, kinds: frozenset[str],
                 job_ids: frozenset[str] | None, max_backlog: int) -> None:
        self._events = events
        self.kinds = kinds
        self.job_ids = job_ids
        self._queue: asyncio.Queue[ClusterEvent | None] = asyncio.Queue(max_backlog)
        #: Set when the subscription ended: closed by the cluster or dropped for lag.
        self.closed = False
        #: True when it was dropped because it fell too far behind.
        self.overflowed = False

    def wants(self, event: ClusterEvent) -> bool:
        """Whether this listener asked for ``event``."""
        if event.kind not in self.kinds:
            return False
        return self.job_ids is None or event.job_id is None or event.job_id in self.job_ids

    def offer(self, event: ClusterEvent) -> None:
        """Queue ``event``; drop the subscription when its queue is full."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        """End the subscription: :meth:`next` answers None from now on."""
        if self.closed:
            return
        self.closed = True
        self._events.unsubscribe(self)
        while True:  # make room for the end marker
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def next(self, timeout: float | None = None) -> ClusterEvent | None:
        """The next event, or None once closed; raises TimeoutError after ``timeout``
        seconds without one."""
        if self.closed and self._queue.empty():
            return None
        event = await asyncio.wait_for(self._queue.get(), timeout)
        if event is None:
            self._queue.put_nowait(None)  # every later call sees the end too
        return event

    async def __aiter__(self) -> AsyncIterator[ClusterEvent]:
        while (event := await self.next()) is not None:
            yield event


class ClusterEvents:
    """Fans events out to subscribers (all on the JobManager's event loop)."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self._sequence = itertools.count(1)
        #: Events published so far (also without subscribers).
        self.published = 0
        #: Subscriptions dropped because they fell behind.
        self.dropped = 0

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscribers)

    def subscribe(self, kinds: Iterable[str] = EVENT_KINDS,
                  job_ids: Iterable[str] | None = None,
                  max_backlog: int = 1000) -> Subscription:
        """A new subscription to ``kinds`` (of the jobs ``job_ids``; None: all jobs)."""
        subscription = Subscription(self, frozenset(kinds),
                                    None if job_ids is None else frozenset(job_ids),
                                    max_backlog)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget ``subscription`` (closing it does this)."""
        if subscription in self._subscribers:
            self._subscribers.discard(subscription)
            if subscription.overflowed:
                self.dropped += 1

    def publish(self, kind: str, job_id: str | None, **data: Any) -> None:
        """Tell every interested subscriber that ``kind`` happened."""
        self.published += 1
        if not self._subscribers:
            return
        event = ClusterEvent(kind, next(self._sequence), now_ms(), job_id, data)
        for subscription in list(self._subscribers):
            if subscription.wants(event):
                subscription.offer(event)

    def close(self) -> None:
        """End every subscription (the JobManager shuts down)."""
        for subscription in list(self._subscribers):
            subscription.close()
