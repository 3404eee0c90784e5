"""Metric groups: where a metric lives (Flink's scopes) and the user-facing group API.

Every group belongs to one scope: the JobManager, a TaskManager, a job, a task (one
subtask attempt) or an operator of a task's chain. Groups made with ``add_group`` add
names to the metric's id within the same scope::

    group = runtime_context.get_metrics_group()
    group.add_group("parser").counter("badLines").inc()
    # reported for the operator as "parser.badLines"

Names are cleaned like Flink's metric query service does: ``' '``, ``'.'``, ``':'`` and
``','`` become ``'_'`` (``"Source: lines"`` -> ``"Source__lines"``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from headwater.runtime.metrics.types import Counter, Gauge, Histogram, Meter, Metric

if TYPE_CHECKING:
    from headwater.runtime.metrics.registry import MetricRegistry

#: Flink truncates operator names in metric scopes to this length.
OPERATOR_NAME_MAX_LENGTH = 80


class Scope(enum.IntEnum):
    """Flink's ``QueryScopeInfo`` categories."""

    JOBMANAGER = 0
    TASKMANAGER = 1
    JOB = 2
    TASK = 3
    OPERATOR = 4


_INVALID = str.maketrans({" ": "_", ".": "_", ":": "_", ",": "_"})


def filter_name(name: str) -> str:
    """A scope or metric name component as Flink's query service reports it."""
    return str(name).translate(_INVALID)


class MetricGroup:
    """A named container of metrics in one scope (Flink's ``MetricGroup``).

    ``ids`` identify the scope's owner: () for the JobManager and a TaskManager,
    (job id,) for a job, (job id, vertex id, subtask index) for a task and the same plus
    the operator name for an operator.
    """

    def __init__(self, registry: MetricRegistry | None, scope: Scope, ids: tuple = (),
                 user_scope: tuple[str, ...] = (),
                 variables: dict[str, str] | None = None) -> None:
        self.registry = registry
        self.scope = scope
        self.ids = tuple(ids)
        self.user_scope = user_scope
        self.variables = dict(variables or {})
        self._metrics: dict[str, Metric] = {}
        self._children: dict[str, MetricGroup] = {}
        self._attached: list[MetricGroup] = []
        self.closed = False

    # -- the user API -------------------------------------------------------------------

    def add_group(self, name: str, value: str | None = None) -> MetricGroup:
        """A sub-group; ``add_group(key, value)`` is Flink's key-value group."""
        key = str(name) if value is None else f"{name}.{value}"
        child = self._children.get(key)
        if child is None:
            parts = (filter_name(name),) if value is None else (filter_name(name),
                                                                 filter_name(value))
            variables = dict(self.variables)
            if value is not None:
                variables[str(name)] = str(value)
            child = MetricGroup(self.registry, self.scope, self.ids,
                                self.user_scope + parts, variables)
            self._children[key] = child
        return child

    def counter(self, name: str, counter: Counter | None = None) -> Counter:
        """Register (and return) a counter."""
        return self._add(name, counter if counter is not None else Counter())

    def gauge(self, name: str, gauge: Callable[[], Any] | Gauge) -> Gauge:
        """Register a gauge: a function called whenever the value is reported."""
        return self._add(name, gauge if isinstance(gauge, Gauge) else Gauge(gauge))

    def meter(self, name: str, meter: Meter | None = None,
              time_span_in_seconds: float = 60) -> Meter:
        """Register a meter (a rate per second over ``time_span_in_seconds``)."""
        return self._add(name, meter if meter is not None
                         else Meter(time_span_in_seconds=time_span_in_seconds))

    def histogram(self, name: str, histogram: Histogram | None = None) -> Histogram:
        """Register a histogram."""
        return self._add(name, histogram if histogram is not None else Histogram())

    def get_metric_identifier(self, name: str) -> str:
        """The id the metric is reported under within its scope (``group.name``)."""
        return ".".join((*self.user_scope, filter_name(name)))

    def get_all_variables(self) -> dict[str, str]:
        """Flink-style scope variables (``<job_id>``, ``<task_name>``...)."""
        return dict(self.variables)

    # -- runtime ------------------------------------------------------------------------

    def _add(self, name: str, metric: Metric) -> Any:
        if self.closed:
            return metric
        ident = self.get_metric_identifier(name)
        if ident in self._metrics:  # Flink: a duplicate name is ignored with a warning
            return metric
        self._metrics[ident] = metric
        if self.registry is not None:
            self.registry.register(self, ident, metric)
        return metric

    def metrics(self) -> dict[str, Metric]:
        """This group's own metrics, by id."""
        return dict(self._metrics)

    def attach(self, group: MetricGroup) -> MetricGroup:
        """Close ``group`` together with this one (a task's operator groups)."""
        self._attached.append(group)
        return group

    def close(self) -> None:
        """Unregister this group's metrics and its sub-groups'."""
        if self.closed:
            return
        self.closed = True
        for child in [*self._children.values(), *self._attached]:
            child.close()
        if self.registry is not None:
            for ident, metric in list(self._metrics.items()):
                self.registry.unregister(self, ident, metric)
