"""A Task: one attempt of one subtask, and its lifecycle.

The task thread deploys the attempt (connects its input gate and result partitions,
restores and opens the operator chain), runs it, and finishes, fails or is cancelled,
reporting RUNNING, then FINISHED, FAILED or CANCELED, to its TaskManager. Running means
the input loop (:mod:`~headwater.runtime.taskmanager.input_processor`) for tasks with
inputs and the source driver (:mod:`~headwater.runtime.taskmanager.source_driver`) for
sources. Other threads reach a running task only through its mailbox
(:mod:`~headwater.runtime.taskmanager.mailbox`): :meth:`Task.trigger_checkpoint`,
:meth:`Task.notify_checkpoint` and :meth:`Task.cancel` post mails that the task thread
runs between two buffers.
"""

from __future__ import annotations

import functools
import logging
import pickle
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from headwater.config import DEFAULTS, is_batch
from headwater.runtime import filesystem
from headwater.runtime.metrics.groups import MetricGroup
from headwater.runtime.metrics.task_metrics import register_task_metrics
from headwater.runtime.network.blocking_partition import BlockingResultPartition, partition_dir
from headwater.runtime.network.connection_security import ConnectionSecurity
from headwater.runtime.network.events import END_OF_PARTITION
from headwater.runtime.network.input_gate import InputGate
from headwater.runtime.network.partition import PartitionRegistry, ResultPartition, TaskCancelled
from headwater.runtime.network.record_writer import RecordWriter
from headwater.runtime.operators.base import SourceOperator, StreamOperator
from headwater.runtime.operators.batch_keyed import batch_variant
from headwater.runtime.rpc.messages import (
    DeclineCheckpoint,
    Message,
    PartitionDescriptor,
    TaskDeploymentDescriptor,
    TriggerCheckpoint,
)
from headwater.runtime.state.key_groups import KeyGroupRange, key_group_range_for_operator
from headwater.runtime.taskmanager.checkpointing import SubtaskCheckpointer
from headwater.runtime.taskmanager.input_processor import InputProcessor
from headwater.runtime.taskmanager.io_counters import IOFigures, TaskMetrics, read_io
from headwater.runtime.taskmanager.mailbox import Mail, Mailbox
from headwater.runtime.taskmanager.operator_chain import OperatorChain, create_writers
from headwater.runtime.taskmanager.source_driver import SourceDriver, SourceOutput
from headwater.runtime.taskmanager.timers import ProcessingTimeService

log = logging.getLogger(__name__)

#: Called with (task, state) or (task, state, failure) from the task thread.
StateListener = Callable[..., None]


def create_keyed_backend(config: Mapping[str, Any], max_parallelism: int,
                         key_group_range: KeyGroupRange) -> Any:
    """The keyed state backend ``state.backend`` asks for (heap when unset)."""
    try:
        from headwater.runtime.state.backends import create_keyed_backend_for
    except ImportError:
        from headwater.runtime.state.heap import HeapKeyedStateBackend

        return HeapKeyedStateBackend(max_parallelism, key_group_range)
    return create_keyed_backend_for(config, max_parallelism, key_group_range)


class Task:
    """Runs one attempt; ``start`` launches its thread."""

    def __init__(self, tdd: TaskDeploymentDescriptor, registry: PartitionRegistry, host: str,
                 resource_id: str, on_state: StateListener,
                 send_message: Callable[[Message], None] | None = None,
                 security: ConnectionSecurity | None = None) -> None:
        self.tdd = tdd
        self.attempt_id = tdd.attempt_id
        self.registry = registry
        self.host = host
        self.resource_id = resource_id
        self.on_state = on_state
        self.cancelled = threading.Event()
        #: Why the TaskManager failed the task from outside (None: it did not).
        self._external_failure: BaseException | None = None
        self.metrics = TaskMetrics(len(tdd.operators))
        self.operators: list[StreamOperator] = []
        self.accumulators: dict[str, Any] = {}
        #: The task's metric group (created in ``_setup``; operators get their own).
        self.metric_group: MetricGroup | None = None
        self.state = "DEPLOYING"
        cfg = tdd.configuration
        filesystem.configure(cfg)  # s3.* keys travel with the job's configuration
        self.batch_size = int(cfg.get("taskmanager.network.batch-size",
                                      DEFAULTS["taskmanager.network.batch-size"]))
        self.credits = int(cfg.get("taskmanager.network.credits-per-channel",
                                   DEFAULTS["taskmanager.network.credits-per-channel"]))
        self.buffer_timeout = float(cfg.get("execution.buffer-timeout", 100)) / 1000.0
        self.connect_timeout = float(cfg.get("taskmanager.network.request-timeout", 60000)) / 1000
        self.partitions: list[ResultPartition | BlockingResultPartition] = []
        try:
            for desc in tdd.outputs:
                self.partitions.append(self._create_partition(desc))
        except BaseException:
            self._release_blocking_partitions()
            raise
        for p in self.partitions:
            registry.register(p)
        self.gate = InputGate(self.credits, self.cancelled, security)
        for gate_desc in tdd.inputs:
            for ch in gate_desc.channels:
                self.gate.add_channel(gate_desc.input_number, ch.partition_id,
                                      ch.subpartition_index, ch.host, ch.data_port,
                                      local=ch.resource_id == resource_id)
        self.mailbox = Mailbox(self.gate.queue)
        self.chain: OperatorChain | None = None
        self.timers = ProcessingTimeService()
        self.keyed_backend: Any = None
        self.key_group_range = key_group_range_for_operator(
            tdd.max_parallelism, tdd.parallelism, tdd.subtask_index)
        self.checkpointer = SubtaskCheckpointer(self, send_message or (lambda m: None))
        self.exactly_once = str(tdd.configuration.get(
            "execution.checkpointing.mode", "EXACTLY_ONCE")).upper() != "AT_LEAST_ONCE"
        self._source: SourceDriver | None = None
        #: Checkpoints whose completion (or abort) the chain was told of.
        self._notified: set[int] = set()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"{tdd.vertex_name} ({tdd.subtask_index + 1}/"
                                             f"{tdd.parallelism})#{tdd.attempt_number}")

    def _create_partition(self, desc: PartitionDescriptor
                          ) -> ResultPartition | BlockingResultPartition:
        if desc.blocking:
            directory = partition_dir(self.tdd.configuration, self.resource_id,
                                      self.tdd.job_id, desc.partition_id)
            return BlockingResultPartition(desc.partition_id, self.tdd.job_id,
                                           desc.num_subpartitions, directory, self.cancelled)
        return ResultPartition(desc.partition_id, desc.num_subpartitions, self.cancelled,
                               self.connect_timeout)

    def _release_blocking_partitions(self) -> None:
        """Forget the blocking partitions and delete their files (the task failed)."""
        for p in self.partitions:
            if isinstance(p, BlockingResultPartition):
                self.registry.unregister(p.partition_id)
                p.release()

    @property
    def name(self) -> str:
        """Flink's task name with subtask: "Map (1/2)#0"."""
        return self._thread.name

    @property
    def all_writers(self) -> list[RecordWriter]:
        """The record writers of every output edge (none before the chain is set up)."""
        return self.chain.all_writers if self.chain is not None else []

    def start(self) -> None:
        """Start the task thread."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the task thread."""
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        """Whether the task thread still runs."""
        return self._thread.is_alive()

    def sampled_threads(self) -> list[threading.Thread]:
        """The threads that run this task's code: the task thread and, for a source, the
        source thread (a flame graph samples both)."""
        source = self._source
        return [self._thread] if source is None else [self._thread, source.thread]

    def io_figures(self) -> IOFigures:
        """The task's I/O figures now (any thread; reads only)."""
        return read_io(self.metrics, self.gate, self.all_writers, self.partitions)

    # -- requests from other threads: mails ---------------------------------------------

    def fail_externally(self, cause: BaseException) -> None:
        """Fail the task from outside (the TaskManager's memory limit): it stops as on a
        cancel and reports FAILED with ``cause``."""
        if self._external_failure is None:
            self._external_failure = cause
        self.cancel()

    def cancel(self) -> None:
        """Ask the task to stop; it reports CANCELED when it has."""
        if self.cancelled.is_set():
            return
        self.cancelled.set()
        source = self._source
        if source is not None:
            source.cancel_source()
        self.mailbox.post_cancel()

    def trigger_checkpoint(self, msg: TriggerCheckpoint) -> None:
        """Source tasks: take a checkpoint (the task thread snapshots the chain and injects
        the barrier); declined when the task does not run a source right now."""
        decline = functools.partial(self._decline, msg.checkpoint_id)
        source = self._source
        if self.state != "RUNNING" or source is None:
            decline()
            return
        self.mailbox.post(Mail(functools.partial(source.trigger_checkpoint, msg, decline),
                               f"trigger checkpoint {msg.checkpoint_id}", reject=decline))

    def _decline(self, checkpoint_id: int) -> None:
        self.checkpointer.send(DeclineCheckpoint(
            attempt_id=self.attempt_id, checkpoint_id=checkpoint_id,
            reason=f"task {self.name} is not running (it is {self.state.lower()})",
            task_not_ready=True))

    def notify_checkpoint(self, checkpoint_id: int, complete: bool) -> None:
        """A checkpoint completed (or was aborted): the task thread tells the operators."""
        source = self._source
        chain = self.chain
        if source is not None:
            action = functools.partial(source.notify_checkpoint, checkpoint_id, complete)
        elif chain is not None:
            action = functools.partial(self._notify_chain, chain, checkpoint_id, complete)
        else:
            return
        self.mailbox.post(Mail(action, f"checkpoint {checkpoint_id} complete={complete}"))

    def _notify_chain(self, chain: OperatorChain, checkpoint_id: int, complete: bool) -> None:
        self._notified.add(checkpoint_id)
        chain.notify_checkpoint(checkpoint_id, complete)

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        failure = None
        final = "FAILED"
        try:
            chain = self._setup()
            self.state = "RUNNING"
            self.on_state(self, "RUNNING")
            if self._source is not None:
                self._source.run()
            else:
                InputProcessor(self.gate, chain, self.timers, self.metrics, self.checkpointer,
                               self.exactly_once, self.buffer_timeout,
                               self._notified).run()
            if self.cancelled.is_set():
                raise TaskCancelled()
            chain.finish(1 if self._source is not None else 0)
            chain.broadcast_event(END_OF_PARTITION)
            for p in self.partitions:
                if isinstance(p, BlockingResultPartition):
                    p.finish()  # before FINISHED is reported: consumers may come at once
            final = "FINISHED"
        except TaskCancelled:
            final = "CANCELED"
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything
            if self.cancelled.is_set():
                final = "CANCELED"
            else:
                final = "FAILED"
                failure = "".join(traceback.format_exception(exc))
        finally:
            self.mailbox.close()  # mails that came too late are rejected
            # Checkpoint writes still running may read the keyed backend (RocksDB
            # snapshots are read out by the writer): let them end before it is disposed.
            # Their acknowledgements also precede the final state, so a savepoint taken
            # at the end (stop-with-savepoint) completes before the job does.
            self.checkpointer.wait_for_writes(timeout=60.0 if final == "FINISHED" else 10.0)
            self._teardown(final == "FINISHED")
        if self._external_failure is not None and final != "FINISHED":
            final = "FAILED"
            failure = "".join(traceback.format_exception(self._external_failure))
        self.state = final
        self.on_state(self, final, failure)

    def _setup(self) -> OperatorChain:
        tdd = self.tdd
        self.operators = [pickle.loads(o.blob) for o in tdd.operators]
        batch = is_batch(tdd.configuration)
        if batch:
            self.operators = [batch_variant(op, tdd.configuration, head=i == 0)
                              for i, op in enumerate(self.operators)]
        head = self.operators[0]
        if any(getattr(op, "keyed", False) for op in self.operators):
            self.keyed_backend = create_keyed_backend(tdd.configuration, tdd.max_parallelism,
                                                      self.key_group_range)
        writers, side_writers = create_writers(tdd, self.partitions, self.batch_size)
        chain = OperatorChain(self.operators, writers, side_writers, self.metrics,
                              batch=batch)
        self.chain = chain
        self.metric_group, operator_groups = register_task_metrics(
            self, isinstance(head, SourceOperator))
        self.metrics.started_ns = time.perf_counter_ns()
        chain.setup(tdd, self.keyed_backend, self.accumulators, self.timers, operator_groups)
        self.checkpointer.restore(tdd.restore)
        if isinstance(head, SourceOperator):  # before RUNNING: checkpoints may come
            output = SourceOutput(chain, self.metrics, self.cancelled, self.batch_size)
            self._source = SourceDriver(self.name, head, chain, self.mailbox,
                                        self.gate.queue, self.timers, self.checkpointer,
                                        output, self.buffer_timeout)
        self.gate.connect(self.registry, self.connect_timeout)
        if not chain.open(self.cancelled.is_set):
            raise TaskCancelled()
        return chain

    def _teardown(self, finished: bool) -> None:
        if self.metric_group is not None:
            self.metric_group.close()
        if self.chain is not None:
            self.chain.close()
        self.gate.close()
        if self.keyed_backend is not None:
            # Pending checkpoint writes hold pickled bytes, not the backend: safe to drop.
            try:
                self.keyed_backend.dispose()
            except Exception:  # noqa: BLE001
                log.exception("disposing the keyed state backend failed")
        if not finished:  # the partitions of a finished task outlive it
            self._release_blocking_partitions()
        for p in self.partitions:
            if isinstance(p, BlockingResultPartition):
                continue
            self.registry.unregister(p.partition_id)
            if self.cancelled.is_set() or any(not sp.closed for sp in p.subpartitions):
                p.release()
