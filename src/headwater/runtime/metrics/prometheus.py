"""A Prometheus endpoint for the whole cluster, served by the JobManager.

Flink runs a Prometheus reporter in every process; headwater's JobManager already holds
every metric in its :class:`~headwater.runtime.metrics.store.MetricStore`, so one address
serves them all: ``http://<jobmanager>:<metrics.reporter.prom.port>/metrics`` (Flink's
key, default 9249; a range ``9249-9260`` tries each port; 0 turns it off).

Names and labels follow Flink's PrometheusReporter: ``flink_<scope>_<metric>`` with the
scopes ``jobmanager``, ``jobmanager_job``, ``taskmanager``, ``taskmanager_job_task`` and
``taskmanager_job_task_operator``, characters outside ``[a-zA-Z0-9_:]`` replaced by
``_``, and labels ``tm_id``, ``job_id``, ``job_name``, ``task_id``, ``task_name``,
``subtask_index`` and ``operator_name``. Non-numeric metrics are skipped; booleans are
1/0.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def prometheus_name(*parts: str) -> str:
    """``flink_`` plus the parts, cleaned for Prometheus."""
    return _INVALID.sub("_", "_".join(("flink", *parts)))


def _number(value: str) -> float | None:
    if value == "true":
        return 1.0
    if value == "false":
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class StoreCollector:
    """A prometheus_client collector over the MetricStore (and the dispatcher's names)."""

    def __init__(self, fetcher: Any) -> None:
        self.fetcher = fetcher

    def describe(self):  # noqa: D102 - no fixed set of metrics
        return []

    def collect(self):
        """Every numeric metric of the store as gauge samples."""
        families: dict[str, tuple[GaugeMetricFamily, tuple[str, ...]]] = {}

        def add(name: str, labels: dict[str, str], value: str) -> None:
            number = _number(value)
            if number is None:
                return
            entry = families.get(name)
            if entry is None:
                entry = families[name] = (GaugeMetricFamily(name, name, labels=list(labels)),
                                          tuple(labels))
            elif tuple(labels) != entry[1]:
                return  # one name, one label set (Prometheus' rule)
            entry[0].add_metric(list(labels.values()), number)

        store = self.fetcher.store
        dispatcher = self.fetcher.dispatcher
        for metric, value in store.jobmanager.metrics.items():
            add(prometheus_name("jobmanager", metric), {}, value)
        for tm_id, tm in store.taskmanagers.items():
            for metric, value in tm.metrics.items():
                add(prometheus_name("taskmanager", metric), {"tm_id": tm_id}, value)
        for job_id, job in store.jobs.items():
            graph = dispatcher.execution_graph(job_id)
            job_labels = {"job_id": job_id, "job_name": graph.name if graph else ""}
            for metric, value in job.metrics.items():
                add(prometheus_name("jobmanager", "job", metric), job_labels, value)
            for vertex_id, task in job.tasks.items():
                vertex = graph.vertex(vertex_id) if graph else None
                operators = self._operator_names(vertex)
                for index, subtask in task.subtasks.items():
                    labels = {**job_labels, "task_id": vertex_id,
                              "task_name": vertex.name if vertex else "",
                              "subtask_index": str(index),
                              "tm_id": self._tm_of(vertex, index)}
                    for metric, value in subtask.metrics.items():
                        head, _, rest = metric.partition(".")
                        if rest and head in operators:
                            add(prometheus_name("taskmanager", "job", "task", "operator", rest),
                                {**labels, "operator_name": head}, value)
                        else:
                            add(prometheus_name("taskmanager", "job", "task", metric), labels,
                                value)
        for family, _ in families.values():
            yield family

    @staticmethod
    def _operator_names(vertex) -> set[str]:
        from headwater.runtime.metrics.task_metrics import operator_metric_name

        if vertex is None:
            return set()
        return {operator_metric_name(o.name) for o in vertex.job_vertex.operators}

    @staticmethod
    def _tm_of(vertex, index: int) -> str:
        if vertex is None or index >= len(vertex.subtasks):
            return ""
        location = vertex.subtasks[index].current.location
        return location.resource_id if location else ""


def _ports(spec: Any) -> list[int]:
    text = str(spec).strip()
    if "-" in text:
        lo, hi = (int(p) for p in text.split("-", 1))
        return list(range(lo, hi + 1))
    return [int(text)]


async def start_prometheus_server(
        fetcher: Any, host: str, port_spec: Any,
        authorized: Callable[[str | None], bool] | None = None,
) -> tuple[web.AppRunner, int] | None:
    """Serve ``/metrics`` on the first free port of ``port_spec``; None when the spec is
    0 or no port was free (logged, the JobManager runs on without it). ``authorized``
    checks a request's ``Authorization`` header (the REST token; 401 otherwise)."""
    ports = _ports(port_spec)
    if ports == [0]:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(fetcher))

    async def metrics(request: web.Request) -> web.Response:
        if authorized is not None and not authorized(request.headers.get("Authorization")):
            return web.json_response(
                {"errors": ["Authentication required: send the cluster's REST token as "
                            "'Authorization: Bearer <token>'."]},
                status=401, headers={"WWW-Authenticate": 'Bearer realm="headwater"'})
        await fetcher.update()
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for port in ports:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            log.info("Prometheus port %s not available: %s", port, exc)
            continue
        bound = runner.addresses[0][1] if runner.addresses else port
        log.info("Prometheus metrics at http://%s:%s/metrics", host, bound)
        return runner, bound
    log.warning("no free port in %s for the Prometheus endpoint; it is off", port_spec)
    await runner.cleanup()
    return None
