"""The cluster event bus and the ``GET /events`` stream over a real aiohttp server."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from headwater.config import Configuration
from headwater.rest.handlers.events import parse_metric_subscription
from headwater.rest.server import create_rest_app
from headwater.runtime.jobmanager.events import (
    CHECKPOINT,
    JOB_STATUS,
    TASK_MANAGER,
    ClusterEvents,
)
from tests.unit.test_rest_handlers import RUNNING_JOB, StubCluster

OTHER_JOB = "f" * 32


def test_a_subscription_gets_only_the_kinds_and_jobs_it_asked_for():
    async def go():
        events = ClusterEvents()
        sub = events.subscribe([JOB_STATUS, TASK_MANAGER], [RUNNING_JOB])
        events.publish(JOB_STATUS, OTHER_JOB, status="RUNNING")
        events.publish(CHECKPOINT, RUNNING_JOB, id=1)
        events.publish(JOB_STATUS, RUNNING_JOB, status="FAILING")
        events.publish(TASK_MANAGER, None, change="lost", id="tm-1")
        first, second = await sub.next(1), await sub.next(1)
        assert (first.kind, first.data["status"]) == (JOB_STATUS, "FAILING")
        assert first.to_json()["jid"] == RUNNING_JOB
        assert (second.kind, second.data["change"]) == (TASK_MANAGER, "lost")
        assert second.sequence > first.sequence
        with pytest.raises(TimeoutError):
            await sub.next(0.05)
        events.close()
        assert await sub.next(1) is None and await sub.next(1) is None
        assert events.subscribers == 0
    asyncio.run(go())


def test_a_subscriber_that_falls_behind_is_dropped_not_buffered():
    async def go():
        events = ClusterEvents()
        slow = events.subscribe(max_backlog=3)
        keeping_up = events.subscribe(max_backlog=100)
        for i in range(10):
            events.publish(CHECKPOINT, RUNNING_JOB, id=i)
        assert slow.overflowed and slow.closed and events.dropped == 1
        assert events.subscribers == 1
        received = [(await keeping_up.next(1)).data["id"] for _ in range(10)]
        assert received == list(range(10))
        # The dropped one ends after at most what it had queued.
        drained = []
        while (event := await slow.next(1)) is not None:
            drained.append(event)
        assert len(drained) < 3
    asyncio.run(go())


@pytest.mark.parametrize("value", [
    "jobmanager", "/x", "nodes/1/x", "jobs/123/x", f"jobs/{RUNNING_JOB}", "taskmanagers/tm",
    f"jobs/{RUNNING_JOB}/vertices/{'a' * 31}/x",
    f"jobs/{RUNNING_JOB}/vertices/{'a' * 32}/subtasks/x/y"])
def test_malformed_metric_subscriptions_are_refused(value):
    with pytest.raises(ValueError):
        parse_metric_subscription(value)


def test_metric_subscriptions_name_a_metrics_resource():
    sub = parse_metric_subscription(f"jobs/{RUNNING_JOB.upper()}/vertices/{'A' * 32}/0.numRecordsIn")
    assert sub.resource == f"jobs/{RUNNING_JOB}/vertices/{'a' * 32}"
    assert sub.metric == "0.numRecordsIn"
    sub = parse_metric_subscription("taskmanagers/127.0.0.1:4501-ab/Status.JVM.CPU.Load")
    assert (sub.resource, sub.metric) == ("taskmanagers/127.0.0.1:4501-ab", "Status.JVM.CPU.Load")
    sub = parse_metric_subscription(f"jobs/{RUNNING_JOB}/vertices/{'a' * 32}/subtasks/1/x")
    assert (sub.resource, sub.metric) == (f"jobs/{RUNNING_JOB}/vertices/{'a' * 32}/subtasks/1", "x")


async def _read_event(resp, kinds: set[str]) -> tuple[str, dict]:
    """The next event of one of ``kinds`` on an SSE response."""
    kind = None
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 10)).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind in kinds:
            return kind, json.loads(line[6:])


def test_the_stream_pushes_published_events_and_ends_with_the_cluster():
    async def go():
        cluster = StubCluster()
        async with TestClient(TestServer(create_rest_app(cluster))) as client:
            resp = await client.get(f"/v1/events?topics=job-status,taskmanager&jobs={RUNNING_JOB}")
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            kind, hello = await _read_event(resp, {"hello"})
            assert hello["topics"] == ["job-status", "taskmanager"]
            cluster.events.publish(JOB_STATUS, OTHER_JOB, status="RUNNING")
            cluster.events.publish(CHECKPOINT, RUNNING_JOB, id=7)
            cluster.events.publish(JOB_STATUS, RUNNING_JOB, status="CANCELED",
                                   previous="CANCELLING")
            kind, data = await _read_event(resp, {"job-status", "checkpoint"})
            assert (kind, data["jid"], data["status"]) == ("job-status", RUNNING_JOB,
                                                           "CANCELED")
            cluster.events.close()
            rest = await asyncio.wait_for(resp.content.read(), 10)
            assert b"event:" not in rest  # ended, nothing else was sent
    asyncio.run(go())


def test_bad_parameters_and_too_many_streams_are_refused():
    async def go():
        cluster = StubCluster(configuration=Configuration({"rest.events.max-subscribers": 1}))
        async with TestClient(TestServer(create_rest_app(cluster))) as client:
            for query in ("topics=nonsense", "jobs=123", "metrics=jobmanager"):
                async with client.get(f"/events?{query}") as resp:
                    assert resp.status == 400, query
                    assert (await resp.json())["errors"]
            first = await client.get("/events")
            await _read_event(first, {"hello"})
            async with client.get("/events") as second:
                assert second.status == 429
                assert "max-subscribers" in (await second.json())["errors"][0]
            first.close()
            for _ in range(100):  # the server notices the closed stream
                if cluster.events.subscribers == 0:
                    break
                cluster.events.publish(TASK_MANAGER, None, change="registered", id="x")
                await asyncio.sleep(0.05)
            assert cluster.events.subscribers == 0
    asyncio.run(go())
