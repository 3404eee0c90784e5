"""A task's part in checkpoints: snapshot its chain, write the state, acknowledge; and
restore its chain from a checkpoint before the operators open.

A subtask's state file holds ``{"operators": {operator id: operator state},
"keyed": {key group: {state name: {key: value}}}}``. The snapshot is taken in the task
thread while the stream stands still at the barrier (the *synchronous* part: the chain's
state is pickled into bytes); the file is written by a separate thread (the
*asynchronous* part) while the task goes on processing.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from headwater.clock import now_ms as _now_ms
from headwater.runtime.checkpoint import storage
from headwater.runtime.checkpoint.redistribution import (
    group_tables,
    redistribute_operator_state,
    select_key_groups,
)
from headwater.runtime.rpc.messages import (
    AcknowledgeCheckpoint,
    DeclineCheckpoint,
    Message,
    TaskRestore,
)

if TYPE_CHECKING:
    from headwater.runtime.taskmanager.task import Task

_EMPTY_OPERATORS = pickle.dumps({}, protocol=5)


class SubtaskCheckpointer:
    """Snapshots and restores one task's operator chain."""

    def __init__(self, task: Task, send: Callable[[Message], None]) -> None:
        self.task = task
        self.send = send
        self._writers: list[threading.Thread] = []

    # -- snapshot -----------------------------------------------------------------------

    def checkpoint(self, checkpoint_id: int, directory: str, barrier_timestamp: int,
                   alignment_ns: int = 0, alignment_buffered: int = 0,
                   processed_data: int = 0) -> None:
        """Take the synchronous snapshot now and write it in the background.
        Called in the task thread (or under a source task's checkpoint lock)."""
        task = self.task
        start = time.perf_counter()
        try:
            operators = {}
            for spec, op in zip(task.tdd.operators, task.operators, strict=True):
                snap = op.snapshot_state(checkpoint_id)
                if snap is not None:
                    operators[spec.operator_id] = snap
            backend = task.keyed_backend
            #: operator states; keyed state as tables, groups or (deferred) frozen bytes
            state: dict[str, Any] = {"operators": operators}
            deferred: Callable[[], Any] | None = None
            if backend is not None and hasattr(backend, "snapshot_tables"):
                tables = {k: v for k, v in backend.snapshot_tables().items() if v}
                if tables:
                    state["keyed_tables"] = tables
            elif backend is not None and hasattr(backend, "snapshot_deferred"):
                deferred = backend.snapshot_deferred()  # read out by the writer thread
            elif backend is not None:
                keyed = backend.snapshot()
                if keyed:
                    state["keyed"] = keyed
            if deferred is not None:
                # Operator state is live: freeze it now; keyed state comes later.
                state["operators"] = pickle.dumps(operators, protocol=5)
                data: dict[str, Any] | bytes = state
            else:
                has_state = bool(operators) or len(state) > 1
                data = pickle.dumps(state, protocol=5) if has_state else b""
        except Exception as exc:  # noqa: BLE001 - user snapshot code may raise
            self.send(DeclineCheckpoint(attempt_id=task.attempt_id, checkpoint_id=checkpoint_id,
                                        reason=f"snapshot failed: {type(exc).__name__}: {exc}"))
            return
        sync_ms = int((time.perf_counter() - start) * 1000)
        writer = threading.Thread(
            target=self._write, name=f"checkpoint-writer {task.name}", daemon=True,
            args=(checkpoint_id, directory, data, sync_ms, barrier_timestamp,
                  alignment_ns // 1_000_000, alignment_buffered, processed_data, deferred))
        self._writers = [w for w in self._writers if w.is_alive()]
        self._writers.append(writer)
        writer.start()

    def _write(self, checkpoint_id: int, directory: str, data: dict[str, Any] | bytes,
               sync_ms: int, barrier_timestamp: int, alignment_ms: int,
               alignment_buffered: int, processed_data: int,
               deferred: Callable[[], Any] | None = None) -> None:
        task = self.task
        start = time.perf_counter()
        name = ""
        try:
            if isinstance(data, dict):  # read the deferred keyed snapshot out, off the task
                assert deferred is not None
                keyed = deferred()
                if keyed:
                    data["keyed"] = keyed
                has_state = bool(keyed) or data["operators"] != _EMPTY_OPERATORS
                data = pickle.dumps(data, protocol=5) if has_state else b""
            if data:
                name = storage.state_file_name(task.tdd.vertex_id, task.tdd.subtask_index)
                storage.write_state(directory, name, data)
        except Exception as exc:  # noqa: BLE001 - storage or state read-out failed
            self.send(DeclineCheckpoint(attempt_id=task.attempt_id, checkpoint_id=checkpoint_id,
                                        reason=f"{type(exc).__name__}: {exc}"))
            return
        self.send(AcknowledgeCheckpoint(
            attempt_id=task.attempt_id, checkpoint_id=checkpoint_id, state_file=name,
            state_size=len(data), sync_duration=sync_ms,
            async_duration=int((time.perf_counter() - start) * 1000),
            alignment_duration=alignment_ms, alignment_buffered=alignment_buffered,
            processed_data=processed_data, barrier_timestamp=barrier_timestamp,
            ack_timestamp=_now_ms()))

    def wait_for_writes(self, timeout: float = 60.0) -> None:
        """Wait until every background write has acknowledged (before a final state)."""
        deadline = time.monotonic() + timeout
        for w in self._writers:
            w.join(max(0.0, deadline - time.monotonic()))

    # -- restore ------------------------------------------------------------------------

    def restore(self, restore: TaskRestore | None) -> None:
        """Give every operator its state (None on a fresh start) and fill the keyed
        backend with this subtask's key groups. Called before the operators open."""
        task = self.task
        tdd = task.tdd
        if restore is None:
            for op in task.operators:
                op.initialize_state(None)
            return
        directory = restore.directory
        old = [storage.read_state(directory, f) if f else {} for f in restore.files]
        old = [o or {} for o in old]
        for o in old:  # operator state frozen as bytes by a deferred (RocksDB) snapshot
            if isinstance(o.get("operators"), bytes):
                o["operators"] = pickle.loads(o["operators"])
        for spec, op in zip(tdd.operators, task.operators, strict=True):
            snapshots = [o.get("operators", {}).get(spec.operator_id) for o in old]
            state = redistribute_operator_state(snapshots, tdd.parallelism, tdd.subtask_index)
            op.initialize_state(state)
        backend = task.keyed_backend
        if backend is not None:
            groups = task.key_group_range
            owned = range(groups.start, groups.end + 1)
            backend.restore(select_key_groups([o.get("keyed") for o in old], owned))
            backend.restore(group_tables([o.get("keyed_tables") for o in old], owned,
                                         tdd.max_parallelism))
