"""The TaskManager's side of metric fetching (Flink's ``MetricQueryService``).

It answers the JobManager's ``RequestMetrics`` with the dump of the TaskManager's
registry (``[scope, ids, name, value]`` rows, see
:meth:`~headwater.runtime.metrics.registry.MetricRegistry.dump`) plus the current
accumulators of its running attempts (attempt id -> name -> base64 wire value), so the
REST API can show accumulators while a job runs.
"""

from __future__ import annotations

import base64
import logging
import pickle
from collections.abc import Iterable
from typing import Any

from headwater.runtime.accumulators import to_wire
from headwater.runtime.metrics.groups import Scope
from headwater.runtime.metrics.registry import MetricRegistry, set_process_registry
from headwater.runtime.metrics.system import register_process_metrics
from headwater.runtime.rpc.messages import RequestMetrics
from headwater.runtime.taskmanager.task import Task

log = logging.getLogger(__name__)


def encode_accumulators(accumulators: dict[str, Any]) -> dict[str, str]:
    """name -> base64 pickle of (class name, local value) for the JobManager to merge."""
    out = {}
    for name, acc in accumulators.items():
        out[name] = base64.b64encode(pickle.dumps(to_wire(acc), protocol=5)).decode()
    return out


def start_taskmanager_metrics(configuration: dict[str, Any]) -> MetricRegistry:
    """Create this TaskManager process's registry (with the process figures), make it
    the one tasks report to, and start sampling views."""
    enabled = str(configuration.get("metrics.system.enabled", True)).lower() not in (
        "false", "0", "no", "off")
    registry = MetricRegistry(enabled=enabled)
    register_process_metrics(registry.group(Scope.TASKMANAGER))
    set_process_registry(registry)
    registry.start()
    return registry


def live_accumulators(tasks: Iterable[Task]) -> dict[str, dict[str, str]]:
    """Current accumulators of running tasks (a task whose accumulators cannot be encoded
    right now is skipped until the next fetch)."""
    out = {}
    for task in list(tasks):
        try:
            out[task.attempt_id] = encode_accumulators(dict(task.accumulators))
        except Exception:  # noqa: BLE001 - a value changing while it is pickled
            log.debug("accumulators of %s not encodable now", task.attempt_id, exc_info=True)
    return out


class MetricQueryService:
    """Answers ``RequestMetrics`` for one TaskManager."""

    def __init__(self, tasks: dict[str, Task]) -> None:
        self.tasks = tasks
        #: The process registry, once the JobManager's configuration is known.
        self.registry: MetricRegistry | None = None

    def start(self, configuration: dict[str, Any]) -> MetricRegistry:
        """Create and start the TaskManager's registry (at registration)."""
        self.registry = start_taskmanager_metrics(configuration)
        return self.registry

    def answer(self, request: RequestMetrics) -> dict[str, Any]:
        """Every metric of this TaskManager and the live accumulators of its tasks."""
        registry = self.registry
        if registry is None or not registry.enabled:
            return {"metrics": [], "accumulators": {}}
        return {"metrics": registry.dump(),
                "accumulators": live_accumulators(self.tasks.values())}
