"""Executors that the ``headwater`` tooling slips under ``env.execute()``.

* :class:`PlanCapturingExecutor`: in the extraction child process, ``execute()`` writes
  the serialized JobGraph to the file named by ``HEADWATER_PLAN_OUTPUT`` and ends the
  program (Flink's "program abort" after the plan is fetched): nothing runs.
* :class:`RunOptionsExecutor`: under ``headwater run -s/-n``, sets the savepoint to
  restore from on the JobGraph before the real executor submits it.

:func:`executor_from_env` picks them from the environment; it is consulted by
``headwater.cluster.minicluster.default_executor``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from headwater.graph.job_graph import JobGraph
from headwater.graph.serialization import serialize_job_graph

#: File the extraction child writes the serialized JobGraph to (set: capture mode).
PLAN_OUTPUT_ENV = "HEADWATER_PLAN_OUTPUT"
#: Savepoint to restore the submitted job from (``headwater run -s``).
SAVEPOINT_PATH_ENV = "HEADWATER_SAVEPOINT_PATH"
#: "1": allow savepoint state that maps to no operator (``headwater run -n``).
ALLOW_NON_RESTORED_ENV = "HEADWATER_ALLOW_NON_RESTORED_STATE"


class PlanCaptured(SystemExit):
    """Ends the program once its job graph has been captured (exit status 0)."""

    def __init__(self) -> None:
        super().__init__(0)


class PlanCapturingExecutor:
    """Writes the job graph to a file instead of running it, then ends the program."""

    def __init__(self, output: str) -> None:
        self.output = output

    def execute(self, job_graph: JobGraph) -> Any:
        """Capture the graph and stop the program (never returns)."""
        data = serialize_job_graph(job_graph)
        tmp = f"{self.output}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self.output)
        raise PlanCaptured()

    def execute_async(self, job_graph: JobGraph) -> Any:
        """Same as :meth:`execute`."""
        return self.execute(job_graph)


class RunOptionsExecutor:
    """Applies run options (savepoint restore settings) to each graph, then delegates."""

    def __init__(self, inner: Any, savepoint_path: str | None,
                 allow_non_restored_state: bool) -> None:
        self.inner = inner
        self.savepoint_path = savepoint_path
        self.allow_non_restored_state = allow_non_restored_state

    def _apply(self, job_graph: JobGraph) -> JobGraph:
        if self.savepoint_path:
            job_graph.savepoint_path = self.savepoint_path
        job_graph.allow_non_restored_state = self.allow_non_restored_state
        return job_graph

    def execute(self, job_graph: JobGraph) -> Any:
        """Apply the options, then run with the inner executor."""
        return self.inner.execute(self._apply(job_graph))

    def execute_async(self, job_graph: JobGraph) -> Any:
        """Apply the options, then submit with the inner executor."""
        return self.inner.execute_async(self._apply(job_graph))

    def invalidate_dataset(self, dataset_id: str) -> None:
        """Release a cluster data set through the inner executor."""
        release = getattr(self.inner, "invalidate_dataset", None)
        if release is not None:
            release(dataset_id)


def executor_from_env(default: Callable[[], Any]) -> Any:
    """The executor the environment asks for, else ``default()`` (possibly wrapped)."""
    output = os.environ.get(PLAN_OUTPUT_ENV)
    if output:
        return PlanCapturingExecutor(output)
    executor = default()
    savepoint = os.environ.get(SAVEPOINT_PATH_ENV)
    allow = os.environ.get(ALLOW_NON_RESTORED_ENV) == "1"
    if savepoint or allow:
        return RunOptionsExecutor(executor, savepoint, allow)
    return executor
