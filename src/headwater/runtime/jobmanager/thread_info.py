"""Thread samples of job vertices, taken on demand and cached (Flink's
``ThreadInfoRequestCoordinator`` and ``JobVertexThreadInfoTracker``).

The flame graph endpoint asks the tracker for a vertex's samples. The tracker answers
from its cache at once and, when it has none or the cached ones are older than
``rest.flamegraph.refresh-interval``, starts a new sampling in the background (one at a
time per vertex): the coordinator sends one
:class:`~headwater.runtime.rpc.messages.RequestThreadInfoSamples` to every TaskManager
running a subtask of the vertex (``rest.flamegraph.num-samples`` samples
``rest.flamegraph.delay-between-samples`` ms apart, ``rest.flamegraph.stack-depth`` frames)
and merges the answers. Samples nobody asked for within
``rest.flamegraph.cleanup-interval`` are dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from headwater.clock import now_ms
from headwater.runtime.jobmanager.execution_graph import ExecutionJobVertex, ExecutionState
from headwater.runtime.rpc.messages import Request, RequestThreadInfoSamples
from headwater.runtime.thread_samples import ThreadInfoSamples

log = logging.getLogger(__name__)

#: Sends a request to a TaskManager (resource id, request, timeout in s) and returns the
#: payload of its answer: the ResourceManager's ``request``.
RequestSender = Callable[[str, Request, float], Awaitable[Any]]


@dataclasses.dataclass
class JobVertexThreadInfoStats:
    """One sampling of a vertex: the merged samples of all its running subtasks."""

    request_id: int
    start_time: int
    #: ms since epoch when the last TaskManager answered (the flame graph's endTimestamp)
    end_time: int
    samples: ThreadInfoSamples


@dataclasses.dataclass(frozen=True)
class ThreadInfoSamplingConfig:
    """The ``rest.flamegraph.*`` options of sampling and caching."""

    num_samples: int = 100
    delay_between_samples: int = 50
    max_stack_depth: int = 100
    refresh_interval: int = 60000
    cleanup_interval: int = 600000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ThreadInfoSamplingConfig:
        """The options of a configuration (Flink's keys); a value that is not a number in
        range is reported and replaced by the default, so it cannot fail a job."""
        default = cls()

        def option(key: str, fallback: int, minimum: int) -> int:
            value = config.get(f"rest.flamegraph.{key}", fallback)
            try:
                number = int(value)
            except (TypeError, ValueError):
                number = minimum - 1
            if number < minimum:
                log.warning("rest.flamegraph.%s: %r is not a number >= %d; using %d",
                            key, value, minimum, fallback)
                return fallback
            return number

        return cls(
            num_samples=option("num-samples", default.num_samples, 1),
            delay_between_samples=option("delay-between-samples",
                                         default.delay_between_samples, 0),
            max_stack_depth=option("stack-depth", default.max_stack_depth, 1),
            refresh_interval=option("refresh-interval", default.refresh_interval, 1),
            cleanup_interval=option("cleanup-interval", default.cleanup_interval, 1))


class ThreadInfoRequestCoordinator:
    """Samples the threads of some attempts on every TaskManager running them."""

    #: Seconds a TaskManager may take beyond the sampling itself.
    SLACK = 10.0

    def __init__(self, send: RequestSender) -> None:
        self._send = send
        self._ids = itertools.count(1)

    async def trigger_thread_info_request(
            self, attempts_by_task_manager: Mapping[str, Sequence[str]],
            config: ThreadInfoSamplingConfig) -> JobVertexThreadInfoStats:
        """Ask each TaskManager for samples of its attempts and merge the answers.
        Raises the first TaskManager's error when none answered."""
        request_id = next(self._ids)
        start = now_ms()
        timeout = config.num_samples * config.delay_between_samples / 1000.0 + self.SLACK

        async def ask(resource_id: str, attempts: Sequence[str]) -> ThreadInfoSamples:
            payload = await self._send(resource_id, RequestThreadInfoSamples(
                attempt_ids=list(attempts), num_samples=config.num_samples,
                delay_between_samples=config.delay_between_samples,
                max_stack_depth=config.max_stack_depth), timeout)
            return ThreadInfoSamples.from_wire(payload)

        answers = await asyncio.gather(
            *(ask(rid, attempts) for rid, attempts in attempts_by_task_manager.items()),
            return_exceptions=True)
        merged = ThreadInfoSamples()
        errors = [a for a in answers if isinstance(a, BaseException)]
        for answer in answers:
            if isinstance(answer, ThreadInfoSamples):
                merged.merge(answer)
        if errors and len(errors) == len(answers):
            raise errors[0]
        for error in errors:
            log.warning("a TaskManager did not answer a thread sample request: %s", error)
        return JobVertexThreadInfoStats(request_id, start, now_ms(), merged)


@dataclasses.dataclass
class _Entry:
    stats: JobVertexThreadInfoStats
    last_access: float


class JobVertexThreadInfoTracker:
    """Cached thread samples per vertex of one job, refreshed on demand."""

    def __init__(self, coordinator: ThreadInfoRequestCoordinator,
                 config: ThreadInfoSamplingConfig) -> None:
        self.coordinator = coordinator
        self.config = config
        self._cache: dict[str, _Entry] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._shut_down = False

    def get_vertex_stats(self, vertex: ExecutionJobVertex) -> JobVertexThreadInfoStats | None:
        """The vertex's latest samples (None before the first sampling completed); starts
        a sampling when there are none or they are older than the refresh interval.
        Must run in the JobManager's event loop."""
        self._clean_up()
        entry = self._cache.get(vertex.vertex_id)
        if entry is not None:
            entry.last_access = time.monotonic()
        if entry is None or now_ms() >= entry.stats.end_time + self.config.refresh_interval:
            self._trigger(vertex)
        return entry.stats if entry is not None else None

    def _trigger(self, vertex: ExecutionJobVertex) -> None:
        key = vertex.vertex_id
        if self._shut_down or key in self._pending:
            return
        attempts = attempts_by_task_manager(vertex)
        if not attempts:
            return
        task = asyncio.get_running_loop().create_task(self._sample(key, attempts))
        self._pending[key] = task

    async def _sample(self, key: str, attempts: Mapping[str, Sequence[str]]) -> None:
        try:
            stats = await self.coordinator.trigger_thread_info_request(attempts, self.config)
        except Exception as exc:  # noqa: BLE001 - the next request tries again
            log.error("failed to gather a thread info sample for vertex %s: %s", key, exc)
        else:
            if not self._shut_down:
                self._cache[key] = _Entry(stats, time.monotonic())
        finally:
            self._pending.pop(key, None)

    def _clean_up(self) -> None:
        """Drop samples nobody read within the cleanup interval."""
        horizon = time.monotonic() - self.config.cleanup_interval / 1000.0
        for key in [k for k, e in self._cache.items() if e.last_access < horizon]:
            del self._cache[key]

    def shut_down(self) -> None:
        """Drop every sample and stop samplings in flight (the job ended)."""
        self._shut_down = True
        self._cache.clear()
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()


def attempts_by_task_manager(vertex: ExecutionJobVertex) -> dict[str, list[str]]:
    """The running attempts of a vertex grouped by the TaskManager running them."""
    grouped: dict[str, list[str]] = {}
    for sv in vertex.subtasks:
        ex = sv.current
        if ex.state != ExecutionState.RUNNING or ex.location is None:
            continue
        grouped.setdefault(ex.location.resource_id, []).append(ex.attempt_id)
    return grouped
