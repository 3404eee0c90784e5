"""The system metrics of a running task and its operators, under Flink's names.

Every figure is read from what the task measures itself (:class:`TaskMetrics`, its input
gate, result partitions and record writers); rates are views the registry samples every
second.

Task scope: ``numRecordsIn``, ``numRecordsOut``, ``numBytesIn`` (bytes read from remote
channels), ``numBytesOut`` (bytes written to remote channels) and their ``PerSecond``
meters; ``currentInputWatermark`` (tasks with inputs); ``isBackPressured`` (waiting for
credit right now); ``backPressuredTimeMsPerSecond``, ``idleTimeMsPerSecond`` and
``busyTimeMsPerSecond`` over the last 5 s; ``buffers.inputQueueLength`` (buffers and
events waiting in the input gate), ``buffers.inPoolUsage`` (that queue over the credits
the gate grants), ``buffers.outputQueueLength`` (buffers sent but not yet consumed: spent
credits) and ``buffers.outPoolUsage`` (spent credits over all credits).

Operator scope: ``numRecordsIn``, ``numRecordsOut`` and their ``PerSecond`` meters,
``currentInputWatermark`` (not for sources) and ``currentOutputWatermark``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from headwater.runtime.metrics.groups import (
    OPERATOR_NAME_MAX_LENGTH,
    MetricGroup,
    Scope,
    filter_name,
)
from headwater.runtime.metrics.registry import process_registry
from headwater.runtime.metrics.types import FunctionCounter, Meter, TimeRateGauge
from headwater.runtime.network.blocking_partition import BlockingResultPartition

#: Span of the time-based gauges (Flink samples its TimerGauges every 5 s).
TIME_GAUGE_SPAN = 5.0


def _back_pressured_ns(task: Any) -> int:
    """Time spent waiting for credit so far, including a wait in progress."""
    total = 0
    now = time.perf_counter_ns()
    for p in task.partitions:
        since = p.blocked_since
        total += p.back_pressured_ns + (now - since if since else 0)
    return total


def _is_back_pressured(task: Any) -> bool:
    return any(p.blocked_since for p in task.partitions)


def _credits_in_flight(task: Any) -> tuple[int, int]:
    """(credits spent, credits granted) over the task's attached output channels."""
    spent = granted = 0
    for p in task.partitions:
        if isinstance(p, BlockingResultPartition):
            continue  # writes to files: no credits
        for sp in p.subpartitions:
            if sp._attached.is_set() and not sp.closed:
                granted += task.credits
                spent += max(0, task.credits - sp.credits._value)
    return spent, granted


def _out_pool_usage(task: Any) -> float:
    spent, granted = _credits_in_flight(task)
    return min(1.0, spent / granted) if granted else 0.0


def _in_pool_usage(task: Any) -> float:
    capacity = len(task.gate.channels) * task.credits
    return min(1.0, task.gate.queue.qsize() / capacity) if capacity else 0.0


def operator_metric_name(name: str) -> str:
    """An operator's name as metric scopes carry it: truncated to 80 characters and
    cleaned (``"Source: lines"`` -> ``"Source__lines"``)."""
    return filter_name(name[:OPERATOR_NAME_MAX_LENGTH])


def _counter_with_rate(group: MetricGroup, name: str, read) -> None:
    counter = group.counter(name, FunctionCounter(read))
    group.meter(name + "PerSecond", Meter(counter))


def _watermark_of(metrics: Any, index: int) -> Callable[[], int]:
    """Reads the watermark at ``index`` of the task's per-operator watermarks."""
    def read() -> int:
        return metrics.operator_watermarks[index]
    return read


def register_task_metrics(task: Any, is_source: bool) -> tuple[MetricGroup, list[MetricGroup]]:
    """Create the task's metric group and one group per chained operator, with their
    system metrics. Returns (task group, operator groups); closing the task group closes
    the operator groups too."""
    tdd = task.tdd
    registry = process_registry()
    ids = (tdd.job_id, tdd.vertex_id, tdd.subtask_index)
    variables = {"<job_id>": tdd.job_id, "<job_name>": tdd.job_name,
                 "<task_id>": tdd.vertex_id, "<task_name>": tdd.vertex_name,
                 "<subtask_index>": str(tdd.subtask_index),
                 "<task_attempt_num>": str(tdd.attempt_number),
                 "<task_attempt_id>": tdd.attempt_id}
    group = (registry.group(Scope.TASK, ids, variables) if registry is not None
             else MetricGroup(None, Scope.TASK, ids, (), variables))
    m = task.metrics

    _counter_with_rate(group, "numRecordsIn", lambda: m.read_records)
    _counter_with_rate(group, "numRecordsOut",
                       lambda: sum(w.records_out for w in task.all_writers))
    _counter_with_rate(group, "numBytesIn", lambda: task.gate.bytes_received)
    _counter_with_rate(group, "numBytesOut", lambda: sum(w.bytes_out for w in task.all_writers))
    if not is_source:
        group.gauge("currentInputWatermark", lambda: m.input_watermark)
    group.gauge("isBackPressured", lambda: _is_back_pressured(task))
    back_pressured = group.gauge("backPressuredTimeMsPerSecond", TimeRateGauge(
        lambda: _back_pressured_ns(task), TIME_GAUGE_SPAN))
    idle = group.gauge("idleTimeMsPerSecond", TimeRateGauge(lambda: m.idle_ns, TIME_GAUGE_SPAN))
    group.gauge("busyTimeMsPerSecond", lambda: float(
        max(0, 1000 - idle.get_value() - back_pressured.get_value())))
    buffers = group.add_group("buffers")
    buffers.gauge("inputQueueLength", lambda: task.gate.queue.qsize())
    buffers.gauge("inPoolUsage", lambda: _in_pool_usage(task))
    buffers.gauge("outputQueueLength", lambda: _credits_in_flight(task)[0])
    buffers.gauge("outPoolUsage", lambda: _out_pool_usage(task))

    operators = []
    n = len(tdd.operators)
    for i, spec in enumerate(tdd.operators):
        op_ids = (*ids, operator_metric_name(spec.name))
        op_vars = {**variables, "<operator_id>": spec.operator_id,
                   "<operator_name>": spec.name}
        op = (registry.group(Scope.OPERATOR, op_ids, op_vars) if registry is not None
              else MetricGroup(None, Scope.OPERATOR, op_ids, (), op_vars))
        _counter_with_rate(op, "numRecordsIn", lambda i=i: m.operator_records_in[i])
        _counter_with_rate(op, "numRecordsOut", lambda i=i: m.operator_records_out[i])
        if not (i == 0 and is_source):
            op.gauge("currentInputWatermark", _watermark_of(m, i))
        if i + 1 < n:
            op.gauge("currentOutputWatermark", _watermark_of(m, i + 1))
        else:
            op.gauge("currentOutputWatermark", lambda: m.output_watermark)
        operators.append(group.attach(op))
    return group, operators
