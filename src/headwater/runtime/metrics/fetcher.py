"""The JobManager's MetricFetcher: pulls every TaskManager's metrics into a MetricStore.

Like Flink's ``MetricFetcherImpl`` it fetches on demand: REST handlers (and the
Prometheus endpoint) call :meth:`MetricFetcher.update`, which asks every TaskManager
for its dump (``RequestMetrics``) at most once per ``metrics.fetcher.update-interval``
ms and adds the JobManager's own metrics. Concurrent callers share one fetch.

Attempts that ended no longer report; their final I/O figures (sent with their last
state update) are written over the store's counters, so a finished job's counts are
exact.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from headwater.clock import now_ms
from headwater.runtime.metrics.groups import MetricGroup
from headwater.runtime.metrics.jobmanager_metrics import (
    register_job_metrics,
    register_jobmanager_metrics,
)
from headwater.runtime.metrics.registry import MetricRegistry
from headwater.runtime.metrics.store import MetricStore
from headwater.runtime.metrics.task_metrics import operator_metric_name
from headwater.runtime.rpc.messages import RequestMetrics

log = logging.getLogger(__name__)


class MetricFetcher:
    """Keeps ``store`` up to date for a dispatcher (JobManager)."""

    def __init__(self, dispatcher: Any, enabled: bool = True, interval_ms: int = 1000,
                 request_timeout: float = 10.0) -> None:
        self.dispatcher = dispatcher
        self.enabled = enabled
        self.interval = max(0, interval_ms) / 1000.0
        self.request_timeout = request_timeout
        self.store = MetricStore()
        self.registry = MetricRegistry(enabled=enabled)
        self._jm_group: MetricGroup | None = None
        self._job_groups: dict[str, MetricGroup] = {}
        self._last = float("-inf")
        #: Jobs that ended and whose final figures are in the store.
        self._finalized: set[str] = set()
        self._inflight: asyncio.Future | None = None
        #: Wall-clock ms of the last completed fetch (0: never).
        self.last_update_ms = 0

    @classmethod
    def from_configuration(cls, dispatcher: Any, configuration) -> MetricFetcher:
        """A fetcher set up from ``metrics.system.enabled`` and
        ``metrics.fetcher.update-interval``."""
        return cls(dispatcher, enabled=configuration.get_bool("metrics.system.enabled"),
                   interval_ms=int(configuration["metrics.fetcher.update-interval"]))

    def start(self) -> None:
        """Register the JobManager's metrics and start sampling its views."""
        if self._jm_group is None:
            self._jm_group = register_jobmanager_metrics(self.registry, self.dispatcher)
        self.registry.start()

    def stop(self) -> None:
        """Stop sampling."""
        self.registry.stop()

    async def update(self) -> None:
        """Fetch, unless the last fetch is younger than the update interval."""
        if not self.enabled:
            return
        if self._inflight is not None:
            await asyncio.shield(self._inflight)
            return
        if time.monotonic() - self._last < self.interval:
            self._write_final_figures()  # attempts may have ended since the last fetch
            return
        self._inflight = asyncio.ensure_future(self._fetch())
        try:
            await asyncio.shield(self._inflight)
        finally:
            self._inflight = None

    async def _fetch(self) -> None:
        self._last = time.monotonic()
        store = self.store
        self._sync_job_groups()
        for row in self.registry.dump():
            store.add(row)
        rm = self.dispatcher.rm
        tms = list(rm.task_managers)
        answers = await asyncio.gather(
            *(rm.request(rid, RequestMetrics(), timeout=self.request_timeout) for rid in tms),
            return_exceptions=True)
        accumulators: dict[str, dict[str, str]] = {}
        for rid, answer in zip(tms, answers, strict=True):
            if isinstance(answer, BaseException):
                log.debug("metrics of TaskManager %s unavailable: %s", rid, answer)
                continue
            for row in answer.get("metrics", ()):
                try:
                    store.add(row, rid)
                except (ValueError, TypeError, IndexError):
                    log.debug("bad metric row from %s: %r", rid, row)
            accumulators.update(answer.get("accumulators") or {})
        store.accumulators = accumulators
        store.retain_taskmanagers(rm.task_managers)
        known = {g.job_id for g in self.dispatcher.execution_graphs()}
        store.retain_jobs(known)
        self._finalized &= known
        self._write_final_figures()
        self.last_update_ms = now_ms()

    def _sync_job_groups(self) -> None:
        graphs = {g.job_id: g for g in self.dispatcher.execution_graphs()}
        for job_id in [j for j in self._job_groups if j not in graphs]:
            self._job_groups.pop(job_id).close()
        for job_id, graph in graphs.items():
            if job_id not in self._job_groups:
                self._job_groups[job_id] = register_job_metrics(
                    self.registry, graph, functools.partial(self._checkpoint_stats, job_id))

    def _checkpoint_stats(self, job_id: str) -> Any:
        lookup = getattr(self.dispatcher, "job_master", None)
        job_master = lookup(job_id) if lookup is not None else None
        return getattr(job_master, "checkpoint_stats", None)

    def _write_final_figures(self) -> None:
        """Counters of ended attempts from their final reports."""
        store = self.store
        for graph in self.dispatcher.execution_graphs():
            if graph.job_id in self._finalized:
                continue
            if graph.state.is_globally_terminal:
                self._finalized.add(graph.job_id)
            for v in graph.vertices:
                names = [operator_metric_name(o.name) for o in v.job_vertex.operators]
                for sv in v.subtasks:
                    ex = sv.current
                    if not (ex.state.is_terminal and ex.io.complete and ex.attempt_id):
                        continue
                    put = store.put_task_metric
                    i = sv.subtask_index
                    put(graph.job_id, v.vertex_id, i, "numRecordsIn", str(ex.io.read_records))
                    put(graph.job_id, v.vertex_id, i, "numRecordsOut",
                        str(ex.io.write_records))
                    put(graph.job_id, v.vertex_id, i, "numBytesIn", str(ex.io.read_bytes))
                    put(graph.job_id, v.vertex_id, i, "numBytesOut", str(ex.io.write_bytes))
                    for key, metric in (("operatorRecordsIn", "numRecordsIn"),
                                        ("operatorRecordsOut", "numRecordsOut")):
                        counts = ex.task_metrics.get(key) or []
                        for name, count in zip(names, counts, strict=False):
                            put(graph.job_id, v.vertex_id, i, f"{name}.{metric}", str(count))
