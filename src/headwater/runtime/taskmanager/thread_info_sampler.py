"""The TaskManager's side of flame graphs (Flink's ``ThreadInfoSampleService``).

The JobManager asks for samples of the threads running some attempts
(:class:`~headwater.runtime.rpc.messages.RequestThreadInfoSamples`); the service samples
the task thread of each and, for sources, the source thread too (see
:mod:`headwater.runtime.thread_samples`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
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

    The request handler runs in a worker thread of the TaskManager's event loop, so the
    sampling blocks neither the tasks nor the heartbeats. Attempts that are not running
    here (any more) contribute no samples.
    """

    def __init__(self, tasks: Mapping[str, SampledTask]) -> None:
        self.tasks = tasks

    def sample(self, request: RequestThreadInfoSamples) -> dict[str, Any]:
        """Sample the threads of the requested attempts; the counted samples (wire form)."""
        tasks = [task for aid in request.attempt_ids if (task := self.tasks.get(aid))]

        def threads() -> list[threading.Thread]:
            return [t for task in tasks for t in task.sampled_threads()]

        samples = sample_threads(threads, max(1, request.num_samples),
                                 max(0, request.delay_between_samples) / 1000.0,
                                 max(1, request.max_stack_depth))
        return samples.to_wire()
