"""``GET /events``: the cluster's events as a server-sent event stream (a headwater
extension beside Flink's API, which the dashboard uses to update without polling).

Query parameters (all optional):

* ``topics``: which events, of ``job-status``, ``checkpoint``, ``exception``,
  ``taskmanager`` (default: all four);
* ``jobs``: only events of these job ids (TaskManager events always pass);
* ``metrics``: metric subscriptions ``<resource>/<metric id>``, where ``<resource>`` is a
  metrics path of the REST API without ``/metrics``: ``jobmanager``,
  ``taskmanagers/<id>``, ``jobs/<jobid>``, ``jobs/<jobid>/vertices/<vertexid>`` or
  ``jobs/<jobid>/vertices/<vertexid>/subtasks/<index>``. Their values are sent as one
  ``metrics`` event per ``metrics.fetcher.update-interval``, read from the same store as
  the metric endpoints.

Each event is ``event: <type>`` plus ``data: <JSON>`` (see
:class:`~headwater.runtime.jobmanager.events.ClusterEvent`); the stream opens with a
``hello`` event and sends a comment line when quiet for
``rest.events.keepalive-interval``. A client that falls too far behind is dropped (the
stream ends with a ``overflow`` event) and should reconnect and re-read the state; at most
``rest.events.max-subscribers`` streams are open at once (429 beyond).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import msgspec
from aiohttp import web

from headwater.clock import now_ms
from headwater.ids import parse_hex_id
from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.runtime.jobmanager.events import EVENT_KINDS, ClusterEvent
from headwater.runtime.metrics.store import ComponentMetricStore, MetricStore

#: Metric subscriptions one stream may hold.
MAX_METRIC_SUBSCRIPTIONS = 64


def parse_topic(value: str) -> str:
    """One event kind (``job-status``, ``checkpoint``, ``exception``, ``taskmanager``)."""
    if value not in EVENT_KINDS:
        raise ValueError(f"unknown event topic: {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class MetricSubscription:
    """A metric of one component: ``<resource>/<metric id>``."""

    resource: str
    metric: str

    def component(self, store: MetricStore) -> ComponentMetricStore | None:
        """The component of ``store`` this subscription reads."""
        parts = self.resource.split("/")
        if parts == ["jobmanager"]:
            return store.jobmanager
        if parts[0] == "taskmanagers":
            return store.taskmanagers.get(parts[1])
        if len(parts) == 2:
            return store.get_job(parts[1])
        if len(parts) == 4:
            return store.get_task(parts[1], parts[3])
        return store.get_subtask(parts[1], parts[3], int(parts[5]))


def parse_metric_subscription(value: str) -> MetricSubscription:
    """``<resource>/<metric id>``, the resource named as in the metric paths
    (``jobmanager``, ``taskmanagers/<id>``, ``jobs/<jobid>``,
    ``jobs/<jobid>/vertices/<vertexid>[/subtasks/<index>]``)."""
    parts = value.strip("/").split("/")
    if parts[0] == "jobmanager":
        size = 1
    elif parts[0] == "taskmanagers" and len(parts) > 1 and parts[1]:
        size = 2
    elif parts[0] == "jobs" and len(parts) > 1:
        parts[1] = parse_hex_id(parts[1])
        size = 2
        if len(parts) > 3 and parts[2] == "vertices":
            parts[3] = parse_hex_id(parts[3])
            size = 4
            if len(parts) > 5 and parts[4] == "subtasks":
                if not parts[5].isdigit():
                    raise ValueError(f"not a subtask index: {parts[5]!r}")
                size = 6
    else:
        raise ValueError(f"unknown metric resource in {value!r}")
    metric = "/".join(parts[size:])
    if not metric:
        raise ValueError(f"no metric id in {value!r} (<resource>/<metric id>)")
    return MetricSubscription("/".join(parts[:size]), metric)


def _frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + msgspec.json.encode(data) + b"\n\n"


def _metric_values(store: MetricStore,
                   subscriptions: list[MetricSubscription]) -> list[dict[str, Any]]:
    values = []
    for sub in subscriptions:
        component = sub.component(store)
        value = component.metrics.get(sub.metric) if component is not None else None
        if value is not None:
            values.append({"resource": sub.resource, "id": sub.metric, "value": value})
    return values


async def event_stream(ctx: HandlerContext) -> web.StreamResponse:
    """GET /events: server-sent cluster events (and subscribed metrics)."""
    events = ctx.cluster.events
    config = ctx.cluster.configuration
    if events.subscribers >= int(config["rest.events.max-subscribers"]):
        raise RestError(429, "Too many open event streams (rest.events.max-subscribers); "
                             "try again later.")
    metric_subs = list(dict.fromkeys(ctx.query.get("metrics", [])))
    if len(metric_subs) > MAX_METRIC_SUBSCRIPTIONS:
        raise RestError(400, f"At most {MAX_METRIC_SUBSCRIPTIONS} metric subscriptions per "
                             "event stream.")
    topics = ctx.query.get("topics") or list(EVENT_KINDS)
    jobs = ctx.query.get("jobs")
    fetcher = ctx.cluster.metric_fetcher if metric_subs else None
    metric_interval = max(0.2, int(config["metrics.fetcher.update-interval"]) / 1000)
    keepalive = max(0.1, int(config["rest.events.keepalive-interval"]) / 1000)

    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    subscription = events.subscribe(topics, jobs)
    try:
        await response.prepare(ctx.request)
        await response.write(b"retry: 2000\n\n" + _frame("hello", {
            "timestamp": now_ms(), "topics": sorted(subscription.kinds),
            "jobs": sorted(jobs) if jobs else None,
            "metrics": [f"{s.resource}/{s.metric}" for s in metric_subs]}))
        clock = time.monotonic
        next_metrics = clock()
        last_write = clock()
        while True:
            if fetcher is not None and clock() >= next_metrics:
                await fetcher.update()
                await response.write(_frame("metrics", {
                    "timestamp": fetcher.last_update_ms or now_ms(),
                    "values": _metric_values(fetcher.store, metric_subs)}))
                next_metrics = clock() + metric_interval
                last_write = clock()
            transport = ctx.request.transport
            if transport is None or transport.is_closing():  # the client went away
                break
            deadline = min(last_write + keepalive, clock() + 1.0)
            if fetcher is not None:
                deadline = min(deadline, next_metrics)
            try:
                event: ClusterEvent | None = await subscription.next(
                    max(0.0, deadline - clock()))
            except TimeoutError:
                if clock() >= last_write + keepalive:
                    await response.write(b": keep-alive\n\n")
                    last_write = clock()
                continue
            if event is None:
                if subscription.overflowed:
                    await response.write(_frame("overflow", {
                        "message": "This stream fell too far behind; reconnect."}))
                break
            await response.write(_frame(event.kind, event.to_json(), event.sequence))
            last_write = clock()
    except ConnectionResetError:  # the client went away
        pass
    finally:
        subscription.close()
    return response
