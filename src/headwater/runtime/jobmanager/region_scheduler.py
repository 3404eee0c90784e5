"""Scheduling and failover by pipelined region, for BATCH jobs (Flink's
``PipelinedRegionSchedulingStrategy`` and ``RestartPipelinedRegionFailoverStrategy``).

A region is deployed as soon as every producer of its blocking inputs has finished and
slots are free for it; its slots are freed when all its subtasks finished, so the next
stage can use them. A failure restarts only:

- the region of the failed subtask,
- the regions whose finished partitions it reads but that are gone (their TaskManager
  was lost), recursively, and
- the regions that already read from a restarted region and have not finished.

Everything else keeps its attempt: the REST attempts show exactly what ran again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from headwater.runtime.jobmanager.cluster_datasets import cache_partition_id
from headwater.runtime.jobmanager.connections import result_partition_id
from headwater.runtime.jobmanager.execution_graph import (
    Execution,
    ExecutionJobVertex,
    ExecutionState,
    ExecutionVertex,
    JobStatus,
)
from headwater.runtime.jobmanager.pipelined_regions import (
    PipelinedRegion,
    SubtaskId,
    compute_regions,
)
from headwater.runtime.jobmanager.resource_manager import NoResourceAvailable, Slot
from headwater.runtime.rpc.messages import ReleasePartitions

if TYPE_CHECKING:
    from headwater.runtime.jobmanager.job_master import JobMaster

log = logging.getLogger(__name__)

#: How often the scheduler looks for free slots when nothing else woke it (s).
_POLL_INTERVAL = 0.5


class _RegionsOfJob:
    """The pipelined regions of one job and how to reach their subtasks."""

    def __init__(self, master: JobMaster, regions: list[PipelinedRegion]) -> None:
        self.master = master
        self.regions = regions
        self.region_of: dict[SubtaskId, int] = {
            m: r.index for r in regions for m in r.members}
        #: Regions being cancelled or waiting to be deployed again.
        self.restarting: set[int] = set()
        self._delay_ms = 0

    def subtask(self, member: SubtaskId) -> tuple[ExecutionJobVertex, ExecutionVertex]:
        """The vertex and subtask of a region member."""
        v = self.master.graph.edge_end(member[0])
        return v, v.subtasks[member[1]]


class RegionScheduler(_RegionsOfJob):
    """Deploys one BATCH job region by region and restarts failed regions."""

    def __init__(self, master: JobMaster, is_blocking: Callable[[Any], bool]) -> None:
        super().__init__(master, compute_regions(master.graph.vertices, is_blocking))
        #: Regions deployed (running or finished) with their current attempts.
        self.deployed: set[int] = set()
        #: Slots held by deployed regions that have not finished.
        self.slots: dict[int, list[Slot]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._restart_pending = False

    # -- state ---------------------------------------------------------------------------

    def execution(self, member: SubtaskId) -> Execution:
        """The current attempt of a region member."""
        return self.subtask(member)[1].current

    def is_finished(self, region: int) -> bool:
        """Whether every subtask of the region finished (with its current attempt)."""
        return all(self.execution(m).state == ExecutionState.FINISHED
                   for m in self.regions[region].members)

    def all_finished(self) -> bool:
        """Whether the whole job is done."""
        return not self.restarting and all(self.is_finished(r.index) for r in self.regions)

    def _inputs_ready(self, region: PipelinedRegion) -> bool:
        return all(p not in self.restarting for p in region.producer_regions) and all(
            self.execution(p).state == ExecutionState.FINISHED for p in region.producers)

    def _ready(self) -> list[PipelinedRegion]:
        return [r for r in self.regions if r.index not in self.deployed
                and r.index not in self.restarting and self._inputs_ready(r)]

    # -- scheduling ----------------------------------------------------------------------

    def start(self) -> None:
        """Begin deploying regions in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """Something changed (a subtask finished, a restart is due): look again."""
        self._wake.set()

    async def _run(self) -> None:
        m = self.master
        timeout = int(m.config["slot.request.timeout"]) / 1000
        while m.graph.state == JobStatus.RUNNING and m.region_scheduler is self \
                and not self.all_finished():
            self._wake.clear()
            for region in self._ready():
                slots = m.rm.allocate(m.job_id, region.slots_needed)
                if slots is None:
                    m.rm.request_slots(region.slots_needed - len(m.rm.free_slots()))
                    break
                self._deploy(region, slots)
            ready = self._ready()
            if ready and not self.slots and not self.restarting:
                # Nothing of this job runs, so nothing of it will free a slot: wait for
                # new ones as a streaming job does.
                region = ready[0]
                try:
                    slots = await m.rm.wait_for_slots(m.job_id, region.slots_needed, timeout)
                except NoResourceAvailable as exc:
                    m.fail_job(f"org.apache.flink.runtime.jobmanager.scheduler."
                               f"NoResourceAvailableException: {exc}")
                    return
                if m.graph.state != JobStatus.RUNNING or region not in self._ready():
                    m.rm.release_slots(m.job_id, slots)
                    continue
                self._deploy(region, slots)
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), _POLL_INTERVAL)
            except TimeoutError:
                pass

    def _deploy(self, region: PipelinedRegion, slots: list[Slot]) -> None:
        self.deployed.add(region.index)
        self.slots[region.index] = slots
        placement = region.slot_of()
        log.debug("job %s: deploying region %d (%d subtasks)", self.master.job_id,
                  region.index, len(region.members))
        self.master.deploy([(*self.subtask(m), slots[placement[m]]) for m in region.members])

    def on_finished(self, member: SubtaskId) -> None:
        """A subtask finished: free its region's slots once the whole region has."""
        k = self.region_of[member]
        if k in self.slots and self.is_finished(k):
            self.master.rm.release_slots(self.master.job_id, self.slots.pop(k))
        self.wake()

    # -- failover -----------------------------------------------------------------------

    def regions_to_restart(self, failed: set[SubtaskId], lost: set[str]) -> set[int]:
        """The regions a failure of ``failed`` restarts, when the TaskManagers ``lost``
        (resource ids) took their partitions with them."""
        restart = {self.region_of[f] for f in failed}
        todo = list(restart)
        while todo:  # upstream: finished producers whose partitions are gone
            k = todo.pop()
            for p in self.regions[k].producers:
                pr = self.region_of[p]
                ex = self.execution(p)
                if pr not in restart and ex.state == ExecutionState.FINISHED and \
                        ex.location is not None and ex.location.resource_id in lost:
                    restart.add(pr)
                    todo.append(pr)
        todo = list(restart)
        while todo:  # downstream: regions that read a restarted region's partial output
            k = todo.pop()
            for c in self.regions[k].consumer_regions:
                if c not in restart and c in self.deployed and not self.is_finished(c):
                    restart.add(c)
                    todo.append(c)
        return restart

    def lost_partitions(self, lost: set[str]) -> set[SubtaskId]:
        """Finished producers on the ``lost`` TaskManagers whose partitions a region that
        has not been deployed yet will read. (A deployed region that still reads them
        fails, and its failover finds them; one that read them all needs them no more.)"""
        needed = set()
        for r in self.regions:
            if r.index in self.deployed or self.is_finished(r.index):
                continue
            for p in r.producers:
                ex = self.execution(p)
                if ex.state == ExecutionState.FINISHED and ex.location is not None \
                        and ex.location.resource_id in lost:
                    needed.add(p)
        return needed

    def restart(self, regions: set[int], delay_ms: int) -> bool:
        """Cancel these regions' running subtasks, then, ``delay_ms`` after the last one
        ended, run them again with new attempts. Whether any region was not already
        restarting."""
        new = regions - self.restarting
        self.restarting |= regions
        for k in regions:
            for m in self.regions[k].members:
                self.master.cancel_execution(self.execution(m))
        self._delay_ms = delay_ms
        self.check_restart()
        return bool(new)

    def check_restart(self) -> None:
        """Once every subtask of the restarting regions ended, reset them to new attempts
        and schedule them after the restart delay."""
        if not self.restarting or self._restart_pending:
            return
        members = [m for k in self.restarting for m in self.regions[k].members]
        if not all(self.execution(m).state.is_terminal for m in members):
            return
        for k in self.restarting:
            if k in self.slots:
                self.master.rm.release_slots(self.master.job_id, self.slots.pop(k))
            self.deployed.discard(k)
        self._new_attempts(members)
        self._restart_pending = True
        asyncio.get_running_loop().create_task(self._resume(self._delay_ms))

    def _new_attempts(self, members: list[SubtaskId]) -> None:
        for m in members:
            v, sv = self.subtask(m)
            if sv.current.state.is_terminal:
                self._release_outputs(v, sv.current)
                sv.new_attempt()

    def _release_outputs(self, v: ExecutionJobVertex, ex: Execution) -> None:
        """The partitions an attempt that runs again wrote are of no use any more."""
        if ex.location is None or not ex.attempt_id:
            return
        ids = [result_partition_id(ex.attempt_id, k) for k in range(len(v.job_vertex.outputs))]
        if v.job_vertex.cache_dataset_id is not None:
            ids.append(cache_partition_id(ex.attempt_id))
        self.master.rm.send(ex.location.resource_id,
                            ReleasePartitions(job_id=self.master.job_id, partition_ids=ids))

    async def _resume(self, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        self._restart_pending = False
        # Regions that failed again during the delay were cancelled as they were.
        self._new_attempts([m for k in self.restarting for m in self.regions[k].members])
        self.restarting.clear()
        self.wake()


class StreamingRegionFailover(_RegionsOfJob):
    """A STREAMING job whose pipelined regions are independent (no exchange joins them,
    e.g. source -> map -> sink with FORWARD edges): a failure restarts only its region,
    restored from the latest completed checkpoint, while the other regions keep running
    (Flink's region failover for streaming jobs). Jobs with one region restart as a
    whole, as before."""

    def __init__(self, master: JobMaster, regions: list[PipelinedRegion]) -> None:
        super().__init__(master, regions)
        self._resuming: set[int] = set()

    @classmethod
    def of(cls, master: JobMaster) -> StreamingRegionFailover | None:
        """The failover for ``master``'s job if it has independent regions, else None."""
        regions = compute_regions(master.graph.vertices, lambda edge: False)
        return cls(master, regions) if len(regions) > 1 else None

    def is_restarting(self, member: SubtaskId) -> bool:
        """Whether the member's region is already being restarted."""
        return self.region_of[member] in self.restarting

    def restart(self, failed: SubtaskId, delay_ms: int) -> None:
        """Cancel the failed subtask's region; once it ended, deploy it again after
        ``delay_ms``."""
        k = self.region_of[failed]
        self.restarting.add(k)
        self._delay_ms = delay_ms
        for m in self.regions[k].members:
            self.master.cancel_execution(self.subtask(m)[1].current)
        self.check()

    def check(self) -> None:
        """Schedule the redeployment of every restarting region whose subtasks all ended."""
        for k in sorted(self.restarting - self._resuming):
            if all(self.subtask(m)[1].current.state.is_terminal
                   for m in self.regions[k].members):
                self._resuming.add(k)
                asyncio.get_running_loop().create_task(self._resume(k, self._delay_ms))

    async def _resume(self, k: int, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        m = self.master
        try:
            if m.graph.state != JobStatus.RUNNING or m.streaming_regions is not self:
                return
            placements: list[tuple[ExecutionJobVertex, ExecutionVertex, Slot]] = []
            # Members share a slot by subtask index; a lost TaskManager's slots are gone.
            homeless: dict[int, list[tuple[ExecutionJobVertex, ExecutionVertex]]] = {}
            for member in self.regions[k].members:
                v, sv = self.subtask(member)
                old = sv.current
                alive = old.location is not None and old.slot_index >= 0 \
                    and old.location.resource_id in m.rm.task_managers
                sv.new_attempt()
                if alive:
                    assert old.location is not None
                    placements.append((v, sv, (old.location.resource_id, old.slot_index)))
                else:
                    homeless.setdefault(member[1], []).append((v, sv))
            if homeless:
                timeout = int(m.config["slot.request.timeout"]) / 1000
                slots = await m.rm.wait_for_slots(m.job_id, len(homeless), timeout)
                if m.graph.state != JobStatus.RUNNING:
                    m.rm.release_slots(m.job_id, slots)
                    return
                for slot, group in zip(slots, homeless.values(), strict=True):
                    placements.extend((v, sv, slot) for v, sv in group)
            log.info("job %s: redeploying region %d of %d from the latest checkpoint",
                     m.job_id, k, len(self.regions))
            m.deploy(placements)
        except NoResourceAvailable as exc:
            m.fail_job(f"org.apache.flink.runtime.jobmanager.scheduler."
                       f"NoResourceAvailableException: {exc}")
        finally:
            self.restarting.discard(k)
            self._resuming.discard(k)
