"""The TaskManager's side of flame graphs (Flink's ``ThreadInfoSampleService``).

The JobManager asks for samples of the threads running some attempts
(:class:`~headwater.runtime.rpc.messages.RequestThreadInfoSamples`); the service samples
the task thread of each and, for sources, the source thread too (see
:mod:`headwater.runtime.thread_samples`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from headwater.runtime.rpc.messages import RequestThreadInfoSamples
from headwater.runtime.thread_samples import sample_threads


class SampledTask(Protocol):
    """What the sampler needs of a task."""

    def sampled_threads(self) -> list[threading.Thread]:
        """The threads running the task's code."""
        ...


class ThreadInfoSampleService:
    """Answers :class:`RequestThreadInfoSamples` from the TaskManager's running tasks.

    Samplings run on threads of their own (at most ``max_concurrent`` at once; more
    wait), so they block neither the tasks, nor the heartbeats, nor the worker threads
    answering the JobManager's other requests. Attempts that are not running here (any
    more) contribute no samples.
    """

    def __init__(self, tasks: Mapping[str, SampledTask], max_concurrent: int = 4) -> None:
        self.tasks = tasks
        self._executor = ThreadPoolExecutor(max_concurrent,
                                            thread_name_prefix="Thread info sampler")

    def sample(self, request: RequestThreadInfoSamples) -> Future[dict[str, Any]]:
        """Start sampling the threads of the requested attempts; a Future of the counted
        samples (wire form)."""
        return self._executor.submit(self.sample_now, request)

    def sample_now(self, request: RequestThreadInfoSamples) -> dict[str, Any]:
        """Sample the threads of the requested attempts in the calling thread; the
        counted samples (wire form)."""
        tasks = [task for aid in request.attempt_ids if (task := self.tasks.get(aid))]

        def threads() -> list[threading.Thread]:
            return [t for task in tasks for t in task.sampled_threads()]

        samples = sample_threads(threads, max(1, request.num_samples),
                                 max(0, request.delay_between_samples) / 1000.0,
                                 max(1, request.max_stack_depth))
        return samples.to_wire()

    def shutdown(self) -> None:
        """Stop taking requests (samplings under way end on their own)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
