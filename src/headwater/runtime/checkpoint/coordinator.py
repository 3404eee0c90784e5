"""The CheckpointCoordinator: triggers checkpoints and savepoints and completes them.

It lives in the JobMaster. A checkpoint starts at the source tasks (TriggerCheckpoint);
sources snapshot and inject a barrier, every other task snapshots when the barrier has
arrived on all its inputs, and each subtask acknowledges with its state file and figures.
When every subtask has acknowledged, the coordinator writes ``_metadata`` (which makes the
checkpoint complete), tells the tasks (NotifyCheckpointComplete: sinks commit), records
the statistics and discards checkpoints beyond ``state.checkpoints.num-retained``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from headwater.clock import now_ms
from headwater.runtime import filesystem
from headwater.runtime.checkpoint import storage
from headwater.runtime.checkpoint.config import CheckpointCoordinatorConfiguration
from headwater.runtime.checkpoint.stats import (
    CheckpointStats,
    CheckpointStatsTracker,
    CheckpointStatus,
    CheckpointType,
    RestoredCheckpointStats,
    SubtaskCheckpointStats,
)
from headwater.runtime.jobmanager.execution_graph import ExecutionState
from headwater.runtime.rpc.messages import (
    AcknowledgeCheckpoint,
    DeclineCheckpoint,
    NotifyCheckpointAborted,
    NotifyCheckpointComplete,
    TriggerCheckpoint,
)

if TYPE_CHECKING:
    from headwater.runtime.jobmanager.job_master import JobMaster

log = logging.getLogger(__name__)


class CheckpointException(Exception):
    """A checkpoint or savepoint could not be taken."""


@dataclasses.dataclass
class CompletedCheckpoint:
    """A checkpoint or savepoint whose ``_metadata`` is written."""

    checkpoint_id: int
    directory: str
    metadata: storage.CheckpointMetadata
    is_savepoint: bool

    @property
    def external_path(self) -> str:
        return storage.to_url(self.directory)


@dataclasses.dataclass
class PendingCheckpoint:
    """A checkpoint waiting for acknowledgements."""

    stats: CheckpointStats
    directory: str
    #: attempt id -> (vertex id, subtask index) still to acknowledge
    waiting: dict[str, tuple[str, int]]
    #: (vertex id, subtask index) -> state file name
    files: dict[tuple[str, int], str]
    future: asyncio.Future
    timeout: asyncio.TimerHandle | None = None

    @property
    def checkpoint_id(self) -> int:
        return self.stats.checkpoint_id


class CheckpointCoordinator:
    """Periodic checkpoints, savepoints and the latest restore point of one job."""

    def __init__(self, job_master: JobMaster, config: CheckpointCoordinatorConfiguration, base_dir: str) -> None:
        self.jm = job_master
        self.config = config
        self.base_dir = base_dir
        self.stats = CheckpointStatsTracker()
        self.pending: dict[int, PendingCheckpoint] = {}
        self.completed: list[CompletedCheckpoint] = []
        self.next_id = 1
        self.consecutive_failures = 0
        self.last_completion = 0.0
        self._periodic: asyncio.Task | None = None
        self._loop = asyncio.get_event_loop()
        #: Where the next (re)deployment restores from.
        self.restore_point: CompletedCheckpoint | None = None
        #: Counts restarts and the end: a checkpoint whose metadata upload finishes in
        #: another epoch than it started in is not completed.
        self._epoch = 0

    # -- restore points -----------------------------------------------------------------

    def load_savepoint(self, location: str, allow_non_restored: bool,
                       read: tuple[str, storage.CheckpointMetadata] | None = None
                       ) -> CompletedCheckpoint:
        """Read (unless ``read`` holds what :func:`storage.read_metadata` answered) and
        validate a savepoint/retained checkpoint for this job's graph."""
        directory, meta = read if read is not None else storage.read_metadata(location)
        vertices = {v.vertex_id: v for v in self.jm.job_graph.vertices}
        for vertex_id, info in meta.vertices.items():
            if vertex_id in vertices or not info.get("has_state"):
                continue
            if not allow_non_restored:
                raise CheckpointException(
                    f"Failed to rollback to checkpoint/savepoint {location}. Cannot map "
                    f"checkpoint/savepoint state for operator {vertex_id} "
                    f"({info.get('name', '?')}) to the new program, because the operator is "
                    f"not available in the new program. If you want to allow to skip this, "
                    f"you can set the --allowNonRestoredState option on the CLI.")
        for vertex_id, info in meta.vertices.items():
            v = vertices.get(vertex_id)
            if v is not None and int(info["max_parallelism"]) != v.max_parallelism \
                    and info.get("has_state"):
                raise CheckpointException(
                    f"The maximum parallelism ({v.max_parallelism}) of the restored vertex "
                    f"{v.name} does not match the max parallelism ({info['max_parallelism']}) "
                    f"of the checkpointed state.")
        restored = CompletedCheckpoint(meta.checkpoint_id, directory, meta, meta.is_savepoint)
        self.restore_point = restored
        if not meta.is_savepoint and meta.job_id == self.jm.job_id:
            # The job's own checkpoint (JobManager failover): it is one of the job's
            # completed checkpoints again, retained and discarded like the others.
            self.completed.append(restored)
        self.next_id = max(self.next_id, meta.checkpoint_id + 1)
        return restored

    def report_restore(self, point: CompletedCheckpoint) -> None:
        """The job was (re)deployed from ``point``."""
        self.stats.report_restored(RestoredCheckpointStats(
            point.checkpoint_id, now_ms(), point.is_savepoint, point.external_path))

    # -- periodic triggering ------------------------------------------------------------

    def start_periodic(self) -> None:
        """Begin periodic checkpoints (when enabled)."""
        if self.config.enabled and self._periodic is None:
            self._periodic = self._loop.create_task(self._periodic_loop())

    def stop_periodic(self) -> None:
        """Stop triggering new checkpoints."""
        if self._periodic is not None:
            self._periodic.cancel()
            self._periodic = None

    async def _periodic_loop(self) -> None:
        interval = self.config.interval / 1000
        await asyncio.sleep(interval)
        while True:
            since_last = self._loop.time() - self.last_completion
            pause = self.config.min_pause / 1000
            if since_last < pause:
                await asyncio.sleep(pause - since_last)
            if len(self.pending) < max(1, self.config.max_concurrent) and self._all_running():
                try:
                    self._trigger(CheckpointType.CHECKPOINT, None)
                except CheckpointException as exc:
                    log.info("checkpoint not triggered: %s", exc)
            await asyncio.sleep(interval)

    def _all_running(self) -> bool:
        return all(ex.state == ExecutionState.RUNNING for _, _, ex in self.jm.graph.all_executions())

    # -- triggering ---------------------------------------------------------------------

    async def trigger_savepoint(self, target_directory: str, *, sync: bool = False,
                                stop: bool = False, drain: bool = False) -> CompletedCheckpoint:
        """Take a savepoint into a fresh directory under ``target_directory``."""
        ctype = CheckpointType.SYNC_SAVEPOINT if sync else CheckpointType.SAVEPOINT
        pending = self._trigger(ctype, storage.new_savepoint_dir(target_directory,
                                                                 self.jm.job_id),
                                stop=stop, drain=drain)
        return await asyncio.shield(pending.future)

    async def trigger_checkpoint(self) -> CompletedCheckpoint:
        """Take a checkpoint now (Flink 1.17's manual checkpoint), beside the periodic ones."""
        return await asyncio.shield(self._trigger(CheckpointType.CHECKPOINT, None).future)

    def _trigger(self, ctype: CheckpointType, directory: str | None, *, stop: bool = False,
                 drain: bool = False) -> PendingCheckpoint:
        g = self.jm.graph
        if not self._all_running():
            raise CheckpointException(
                "Not all required tasks are currently running: checkpoints need every "
                "subtask RUNNING.")
        checkpoint_id = self.next_id
        self.next_id += 1
        if directory is None:
            if not self.config.checkpoints_dir:
                raise CheckpointException("no checkpoint directory (state.checkpoints.dir)")
            directory = storage.checkpoint_dir(self.config.checkpoints_dir, self.jm.job_id,
                                               checkpoint_id)
        ts = now_ms()
        waiting = {ex.attempt_id: (v.vertex_id, sv.subtask_index)
                   for v, sv, ex in g.all_executions()}
        stats = CheckpointStats(checkpoint_id, ctype, ts,
                                {v.vertex_id: v.parallelism for v in g.vertices})
        pending = PendingCheckpoint(stats, directory, waiting, {}, self._loop.create_future())
        pending.future.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
        pending.timeout = self._loop.call_later(self.config.timeout / 1000, self._expire,
                                                checkpoint_id)
        self.pending[checkpoint_id] = pending
        self.stats.report_pending(stats)
        for v, _, ex in g.all_executions():
            if v.job_vertex.is_source:
                self.jm.send_to(ex, TriggerCheckpoint(
                    attempt_id=ex.attempt_id, checkpoint_id=checkpoint_id, timestamp=ts,
                    directory=str(directory), checkpoint_type=ctype.value, stop=stop,
                    drain=drain))
        return pending

    # -- acknowledgements ---------------------------------------------------------------

    def receive_ack(self, msg: AcknowledgeCheckpoint) -> None:
        """A subtask acknowledged."""
        pending = self.pending.get(msg.checkpoint_id)
        if pending is None:
            return
        where = pending.waiting.pop(msg.attempt_id, None)
        if where is None:
            return
        vertex_id, index = where
        pending.files[where] = msg.state_file
        pending.stats.acknowledge(vertex_id, SubtaskCheckpointStats(
            subtask_index=index, ack_timestamp=msg.ack_timestamp, state_size=msg.state_size,
            sync_duration=msg.sync_duration, async_duration=msg.async_duration,
            alignment_duration=msg.alignment_duration,
            alignment_buffered=msg.alignment_buffered, processed_data=msg.processed_data,
            start_delay=max(0, msg.barrier_timestamp - pending.stats.trigger_timestamp)))
        if not pending.waiting:
            self._complete(pending)

    def receive_decline(self, msg: DeclineCheckpoint) -> None:
        """A subtask declined: the checkpoint fails."""
        pending = self.pending.get(msg.checkpoint_id)
        if pending is not None:
            self._fail(pending, f"Checkpoint was declined ({msg.reason})",
                       count=not msg.task_not_ready)

    def _expire(self, checkpoint_id: int) -> None:
        pending = self.pending.get(checkpoint_id)
        if pending is not None:
            self._fail(pending, "Checkpoint expired before completing.", count=True)

    def _complete(self, pending: PendingCheckpoint) -> None:
        del self.pending[pending.checkpoint_id]
        if pending.timeout:
            pending.timeout.cancel()
        g = self.jm.graph
        stats = pending.stats
        vertices = {}
        for v in g.vertices:
            files = [pending.files.get((v.vertex_id, i), "") for i in range(v.parallelism)]
            vertices[v.vertex_id] = {
                "name": v.name, "parallelism": v.parallelism,
                "max_parallelism": v.max_parallelism,
                "operator_ids": [o.operator_id for o in v.job_vertex.operators],
                "uids": [o.uid for o in v.job_vertex.operators],
                "files": files, "has_state": any(files),
            }
        meta = storage.CheckpointMetadata(
            version=storage.METADATA_VERSION, job_id=self.jm.job_id,
            checkpoint_id=pending.checkpoint_id, timestamp=stats.trigger_timestamp,
            is_savepoint=stats.is_savepoint, vertices=vertices)
        if filesystem.is_local(pending.directory):
            try:
                storage.write_metadata(pending.directory, meta)
            except storage.CheckpointStorageError as exc:
                self._fail(pending, str(exc), count=True, already_removed=True)
                return
            self._finish(pending, meta)
            return
        # A remote store: the event loop does not wait for the upload.
        epoch = self._epoch
        written = self._loop.run_in_executor(None, storage.write_metadata, pending.directory,
                                             meta)
        written.add_done_callback(lambda f: self._metadata_written(pending, meta, epoch, f))

    def _metadata_written(self, pending: PendingCheckpoint,
                          meta: storage.CheckpointMetadata, epoch: int,
                          written: asyncio.Future) -> None:
        if written.cancelled():  # the event loop is closing
            return
        exc = written.exception()
        if exc is None and epoch != self._epoch and not pending.stats.is_savepoint:
            # The job restarted or ended meanwhile: its tasks may already have restored an
            # older checkpoint, so this one must not become a restore point.
            exc = CheckpointException("The job restarted while the checkpoint metadata was "
                                      "written.")
        if exc is not None:
            self._fail(pending, str(exc), count=isinstance(exc, OSError), already_removed=True)
            return
        self._finish(pending, meta)

    def _finish(self, pending: PendingCheckpoint, meta: storage.CheckpointMetadata) -> None:
        """``_metadata`` is written: the checkpoint is complete."""
        g = self.jm.graph
        stats = pending.stats
        completed = CompletedCheckpoint(pending.checkpoint_id, pending.directory, meta,
                                        stats.is_savepoint)
        if stats.is_savepoint or self.config.externalized:
            stats.external_path = completed.external_path
        self.stats.report_completed(stats)
        self.jm.on_checkpoint_reported(stats)
        self.consecutive_failures = 0
        self.last_completion = self._loop.time()
        log.info("job %s: %s %d complete (%d bytes, %d ms)", self.jm.job_id,
                 "savepoint" if stats.is_savepoint else "checkpoint", pending.checkpoint_id,
                 stats.state_size, stats.end_to_end_duration)
        if not stats.is_savepoint:
            self.completed.append(completed)
            self.restore_point = completed
            self._prune()
            self.jm.on_checkpoint_completed(completed.checkpoint_id, str(completed.directory))
        for _, _, ex in g.all_executions():
            if ex.state == ExecutionState.RUNNING:
                self.jm.send_to(ex, NotifyCheckpointComplete(attempt_id=ex.attempt_id,
                                                             checkpoint_id=pending.checkpoint_id))
        # Older pending checkpoints are subsumed.
        for cid in [c for c in self.pending if c < pending.checkpoint_id]:
            if not self.pending[cid].stats.is_savepoint:
                self._fail(self.pending[cid], "Checkpoint was subsumed.", count=False)
        if not pending.future.done():
            pending.future.set_result(completed)

    def _prune(self) -> None:
        keep = max(1, self.config.num_retained)
        while len(self.completed) > keep:
            old = self.completed.pop(0)
            stats = self.stats.get(old.checkpoint_id)
            if stats is not None:
                stats.discarded = True
            self._discard(old.directory)

    def _fail(self, pending: PendingCheckpoint, reason: str, *, count: bool,
              already_removed: bool = False) -> None:
        if not already_removed:
            self.pending.pop(pending.checkpoint_id, None)
        if pending.timeout:
            pending.timeout.cancel()
        self.stats.report_failed(pending.stats, now_ms(), reason)
        self.jm.on_checkpoint_reported(pending.stats)
        log.warning("job %s: checkpoint %d failed: %s", self.jm.job_id, pending.checkpoint_id,
                    reason)
        self._discard(pending.directory)
        for _, _, ex in self.jm.graph.all_executions():
            if ex.state == ExecutionState.RUNNING:
                self.jm.send_to(ex, NotifyCheckpointAborted(attempt_id=ex.attempt_id,
                                                            checkpoint_id=pending.checkpoint_id))
        if not pending.future.done():
            pending.future.set_exception(CheckpointException(reason))
        if count and not pending.stats.is_savepoint:
            self.consecutive_failures += 1
            if self.consecutive_failures > self.config.tolerable_failed_checkpoints:
                self.consecutive_failures = 0
                self.jm.on_checkpoint_failures_exceeded(reason)

    def abort_pending(self, reason: str) -> None:
        """Fail every pending checkpoint (the job is restarting, cancelled or failed)."""
        self._epoch += 1
        for pending in list(self.pending.values()):
            self._fail(pending, reason, count=False)

    # -- the end ------------------------------------------------------------------------

    def shutdown(self, final_state: str, retain: bool = False) -> None:
        """The job ended: stop, and keep or discard checkpoints by retention policy
        (``retain``: keep them whatever it says, for a job that resumes later)."""
        self.stop_periodic()
        self.abort_pending(f"The job reached state {final_state}.")
        retain = retain or (self.config.externalized == "RETAIN_ON_CANCELLATION"
                  or (self.config.externalized is not None and final_state == "FAILED"))
        if not retain:
            for c in self.completed:
                self._discard(c.directory)
                stats = self.stats.get(c.checkpoint_id)
                if stats is not None:
                    stats.discarded = True
            self.completed.clear()

    def _discard(self, directory: str) -> None:
        """Delete a checkpoint directory: at once on the local file system, in the
        background on a remote store (the event loop does not wait on the network)."""
        if filesystem.is_local(directory):
            storage.discard(directory)
        else:
            self._loop.run_in_executor(None, storage.discard, directory)

    @property
    def in_progress(self) -> int:
        """Checkpoints waiting for acknowledgements."""
        return sum(1 for p in self.pending.values()
                   if p.stats.status == CheckpointStatus.IN_PROGRESS)
