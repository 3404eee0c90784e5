"""The JobMaster: schedules one job's subtasks onto slots and follows them to the end.

STREAMING jobs are scheduled eagerly: the job needs as many slots as its largest vertex
parallelism, subtask i of every vertex shares slot i (slot sharing), every attempt is
deployed at once with the addresses of the partitions it reads, and a failure restarts
the whole job from its latest checkpoint. BATCH jobs are scheduled and restarted by
pipelined region (:mod:`~headwater.runtime.jobmanager.region_scheduler`). The JobMaster
turns task state updates into the ExecutionGraph's job, vertex and attempt states.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from headwater.config import Configuration, is_batch
from headwater.graph.job_graph import JobEdge, JobGraph
from headwater.ids import new_id
from headwater.runtime import accumulators as acc
from headwater.runtime import filesystem
from headwater.runtime.checkpoint import storage
from headwater.runtime.checkpoint.config import CheckpointCoordinatorConfiguration
from headwater.runtime.checkpoint.coordinator import CheckpointCoordinator, CheckpointException
from headwater.runtime.checkpoint.stats import CheckpointStats
from headwater.runtime.checkpoint.storage import CheckpointStorageError
from headwater.runtime.jobmanager.cluster_datasets import (
    ClusterDataSet,
    ClusterDataSets,
    DataSetPartition,
    cache_partition_id,
    read_cached_datasets,
    release_dataset,
)
from headwater.runtime.jobmanager.connections import (
    consumers_of,
    producers_of,
    result_partition_id,
)
from headwater.runtime.jobmanager.events import CHECKPOINT, EXCEPTION, JOB_STATUS, ClusterEvents
from headwater.runtime.jobmanager.execution_graph import (
    Execution,
    ExecutionGraph,
    ExecutionJobVertex,
    ExecutionState,
    ExecutionVertex,
    FailureInfo,
    JobStatus,
    TaskManagerLocation,
    now_ms,
)
from headwater.runtime.jobmanager.region_scheduler import (
    RegionScheduler,
    StreamingRegionFailover,
)
from headwater.runtime.jobmanager.resource_manager import (
    NoResourceAvailable,
    ResourceManager,
    Slot,
)
from headwater.runtime.jobmanager.restart_strategy import restart_strategy_from
from headwater.runtime.jobmanager.shuffle_mode import (
    ALL_EXCHANGES_BLOCKING,
    BATCH_SHUFFLE_MODE,
    is_blocking,
)
from headwater.runtime.jobmanager.thread_info import (
    JobVertexThreadInfoStats,
    JobVertexThreadInfoTracker,
    ThreadInfoRequestCoordinator,
    ThreadInfoSamplingConfig,
)
from headwater.runtime.rpc.messages import (
    AcknowledgeCheckpoint,
    CancelTask,
    ChannelDescriptor,
    DeployTask,
    InputGateDescriptor,
    OperatorBlob,
    PartitionDescriptor,
    ReleasePartitions,
    TaskDeploymentDescriptor,
    TaskIOReport,
    TaskRestore,
    TaskStateUpdate,
)

log = logging.getLogger(__name__)



class JobMaster:
    """Runs one job."""

    def __init__(self, job_graph: JobGraph, resource_manager: ResourceManager,
                 config: Configuration, on_terminal: Callable[[JobMaster], None],
                 initialized_at: int | None = None,
                 events: ClusterEvents | None = None,
                 datasets: ClusterDataSets | None = None) -> None:
        self.job_graph = job_graph
        #: Where status changes, checkpoints and failures are announced.
        self.events = events if events is not None else ClusterEvents()
        self.rm = resource_manager
        self.config = config.with_overrides(job_graph.configuration)
        #: BATCH runtime mode: blocking exchanges, region scheduling and failover, no
        #: checkpoints.
        self.batch = is_batch(self.config)
        if self.batch:
            self.config = self.config.with_overrides({
                "execution.checkpointing.interval": -1,
                BATCH_SHUFFLE_MODE: job_graph.configuration.get(BATCH_SHUFFLE_MODE)
                or ALL_EXCHANGES_BLOCKING})
        self.region_scheduler: RegionScheduler | None = None
        #: jobmanager.execution.failover-strategy "region" (the default): a failure
        #: restarts only its pipelined region (BATCH jobs; STREAMING jobs whose regions
        #: are independent), else the whole job.
        failover_by_region = str(self.config.get("jobmanager.execution.failover-strategy")
                                 or "region").strip().lower() == "region"
        self.region_failover = self.batch and failover_by_region
        self._streaming_region_failover = failover_by_region and not self.batch
        #: Set while a STREAMING job with independent regions runs.
        self.streaming_regions: StreamingRegionFailover | None = None
        #: TaskManagers lost while the job ran (their partitions are gone).
        self._lost_task_managers: set[str] = set()
        #: The cluster's cached data sets: read here instead of computed, or kept for later.
        self.datasets = datasets if datasets is not None else ClusterDataSets()
        if self.batch:
            read_cached_datasets(job_graph, self.datasets)
        self.graph = ExecutionGraph.from_job_graph(job_graph, initialized_at)
        self._on_terminal = on_terminal
        self._by_attempt: dict[str, tuple] = {}  # attempt id -> (vertex, subtask, execution)
        self.terminated = asyncio.Event()
        self._task_accumulators: dict[str, dict[str, str]] = {}
        self._schedule_task: asyncio.Task | None = None
        settings = CheckpointCoordinatorConfiguration.from_config(self.config)
        self.coordinator = CheckpointCoordinator(self, settings, settings.checkpoints_dir or "")
        self._checkpoints_dir = settings.checkpoints_dir
        #: What REST shows of checkpoints: nothing for a BATCH job (it has no checkpoint
        #: coordinator, as Flink's batch jobs), so the checkpoint endpoints answer 404.
        self.checkpoint_config: CheckpointCoordinatorConfiguration | None = \
            None if self.batch else settings
        self.checkpoint_stats = None if self.batch else self.coordinator.stats
        self.restart_strategy = restart_strategy_from(self.config, settings.enabled)
        self._restart_scheduled = False
        self._first_schedule = True
        #: Set by rescale(): the parallelism the next restart deploys with.
        self._rescale_to: int | None = None
        #: Resolved when every subtask of the current deployment runs.
        self._all_running = asyncio.Event()
        #: Cancelled by a cluster shutdown with HA: the checkpoints stay for recovery.
        self.suspended = False
        #: Told (checkpoint id, location) of every completed checkpoint (the HA store).
        self.checkpoint_listener: Callable[[str, int, str], None] | None = None
        #: Thread samples of the vertices, for flame graphs (the cluster's settings).
        self.thread_info_tracker = JobVertexThreadInfoTracker(
            ThreadInfoRequestCoordinator(resource_manager.request),
            ThreadInfoSamplingConfig.from_config(config))

    @property
    def job_id(self) -> str:
        return self.job_graph.job_id

    # -- scheduling ---------------------------------------------------------------------

    def start(self) -> None:
        """Begin scheduling in the background."""
        self._schedule_task = asyncio.get_running_loop().create_task(self._schedule())

    async def _schedule(self) -> None:
        g = self.graph
        if self._first_schedule:
            self._first_schedule = False
            if self.job_graph.savepoint_path:
                path = self.job_graph.savepoint_path
                try:
                    read = None
                    if not filesystem.is_local(path):  # off the event loop
                        before = g.state
                        read = await asyncio.to_thread(storage.read_metadata, path)
                        if g.state != before:  # cancelled meanwhile
                            return
                    self.coordinator.load_savepoint(path,
                                                    self.job_graph.allow_non_restored_state,
                                                    read)
                except (CheckpointException, CheckpointStorageError) as exc:
                    self.fail_job(f"java.lang.IllegalStateException: {exc}")
                    return
        self._set_status(JobStatus.RUNNING)
        self._all_running.clear()
        gone = [v.reads_cached_dataset for v in self.job_graph.vertices
                if v.reads_cached_dataset is not None
                and self.datasets.usable(v.reads_cached_dataset, v.parallelism) is None]
        if gone:
            self.fail_job(f"java.lang.IllegalStateException: the cached data set "
                          f"{gone[0]} this job reads was released or lost; submit the "
                          "program again to compute it")
            return
        if self.batch:
            self.region_scheduler = RegionScheduler(self, self.is_blocking)
            self.region_scheduler.start()
            return
        for _, _, ex in g.all_executions():
            ex.transition(ExecutionState.SCHEDULED)
        needed = max(v.parallelism for v in g.vertices)
        try:
            slots = await self.rm.wait_for_slots(
                self.job_id, needed, int(self.config["slot.request.timeout"]) / 1000)
        except NoResourceAvailable as exc:
            self.fail_job(f"org.apache.flink.runtime.jobmanager.scheduler."
                           f"NoResourceAvailableException: {exc}")
            return
        if g.state != JobStatus.RUNNING:  # cancelled while waiting
            self.rm.release(self.job_id)
            self._check_terminal()
            return
        self._deploy_all(slots)

    def _deploy_all(self, slots: list[tuple[str, int]]) -> None:
        self.deploy([(v, sv, slots[sv.subtask_index])
                     for v in self.graph.vertices for sv in v.subtasks])
        if self._streaming_region_failover:
            self.streaming_regions = StreamingRegionFailover.of(self)
        self.coordinator.start_periodic()

    def deploy(self, placements: list[tuple[ExecutionJobVertex, ExecutionVertex, Slot]]
               ) -> None:
        """Deploy these subtasks to these slots (a whole job, or one pipelined region)."""
        # Fix every attempt's id and location first: consumers need producers' addresses.
        for v, sv, (rid, slot) in placements:
            if self.batch:  # its BLOCKING partitions stay there after the task
                self.rm.hold_partitions(rid, self.job_id)
            tm = self.rm.task_managers.get(rid)
            ex = sv.current
            ex.attempt_id = new_id()
            ex.location = TaskManagerLocation(rid, tm.host if tm else "?",
                                              tm.data_port if tm else -1)
            ex.slot_index = slot
            self._by_attempt[ex.attempt_id] = (v, sv, ex)
        # Tasks see the cluster's configuration with the job's own settings on top.
        task_config = dict(self.config)
        point = self.coordinator.restore_point
        if point is not None:
            self.coordinator.report_restore(point)
        for v, sv, _ in placements:
            restore = None
            if point is not None and v.vertex_id in point.metadata.vertices:
                restore = TaskRestore(
                    checkpoint_id=point.checkpoint_id, directory=str(point.directory),
                    files=list(point.metadata.vertices[v.vertex_id]["files"]))
            ex = sv.current
            ex.transition(ExecutionState.SCHEDULED)
            tdd = self._deployment_descriptor(v, sv.subtask_index, ex, task_config)
            tdd.restore = restore
            ex.transition(ExecutionState.DEPLOYING)
            rid = ex.location.resource_id if ex.location else "(unassigned)"
            if not self.rm.send(rid, DeployTask(tdd=tdd)):
                self._task_failed(ex, v, sv.subtask_index, f"TaskManager {rid} is gone")
                return

    def is_blocking(self, edge: JobEdge) -> bool:
        """Whether an edge's partitions are written to files and read after their producer
        finished (BATCH: every exchange but FORWARD, unless the job asks for
        ALL_EXCHANGES_PIPELINED)."""
        return is_blocking(edge, self.config)

    def _deployment_descriptor(self, v, index: int, ex: Execution,
                               task_config: dict) -> TaskDeploymentDescriptor:
        g = self.graph
        jv = v.job_vertex
        outputs = []
        for k, edge in enumerate(jv.outputs):
            target = g.edge_end(edge.target_vertex_id)
            consumers = consumers_of(edge.ship_strategy.value, v.parallelism,
                                     target.parallelism, index)
            outputs.append(PartitionDescriptor(
                partition_id=result_partition_id(ex.attempt_id, k), ship_strategy=edge.ship_strategy.value,
                num_subpartitions=len(consumers), consumer_parallelism=target.parallelism,
                consumer_max_parallelism=target.max_parallelism, key_selector=edge.key_selector,
                side_output_tag=edge.side_output_tag, type_number=edge.type_number,
                blocking=self.is_blocking(edge)))
        if jv.cache_dataset_id is not None:  # cache(): one more output, kept after the job
            outputs.append(PartitionDescriptor(
                partition_id=cache_partition_id(ex.attempt_id), ship_strategy="FORWARD",
                num_subpartitions=1, consumer_parallelism=1, consumer_max_parallelism=1,
                blocking=True))
        inputs = []
        if jv.reads_cached_dataset is not None:
            dataset = self.datasets.get(jv.reads_cached_dataset)
            assert dataset is not None
            part = dataset.partitions[index]
            inputs.append(InputGateDescriptor(input_number=0, ship_strategy="FORWARD",
                                              channels=[ChannelDescriptor(
                                                  partition_id=part.partition_id,
                                                  subpartition_index=0, host=part.host,
                                                  data_port=part.data_port,
                                                  resource_id=part.resource_id)]))
        for edge in jv.inputs:
            source = g.edge_end(edge.source_vertex_id)
            out_index = next(k for k, e in enumerate(source.job_vertex.outputs)
                             if e.target_vertex_id == jv.vertex_id
                             and e.input_number == edge.input_number)
            channels = []
            for p in producers_of(edge.ship_strategy.value, source.parallelism, v.parallelism,
                                  index):
                pex = source.subtasks[p].current
                assert pex.location is not None  # every producer was placed before deployment
                sub = consumers_of(edge.ship_strategy.value, source.parallelism, v.parallelism,
                                   p).index(index)
                channels.append(ChannelDescriptor(
                    partition_id=result_partition_id(pex.attempt_id, out_index), subpartition_index=sub,
                    host=pex.location.host, data_port=pex.location.data_port,
                    resource_id=pex.location.resource_id))
            inputs.append(InputGateDescriptor(input_number=edge.input_number,
                                              ship_strategy=edge.ship_strategy.value,
                                              channels=channels))
        return TaskDeploymentDescriptor(
            job_id=self.job_id, job_name=self.job_graph.name, vertex_id=jv.vertex_id,
            vertex_name=jv.name, subtask_index=index, parallelism=v.parallelism,
            max_parallelism=v.max_parallelism, attempt_number=ex.attempt_number,
            attempt_id=ex.attempt_id, slot_index=ex.slot_index,
            operators=[OperatorBlob(o.operator_id, o.name, o.uid, o.operator)
                       for o in jv.operators],
            inputs=inputs, outputs=outputs, configuration=task_config)

    # -- updates from TaskManagers ------------------------------------------------------

    def owns(self, attempt_id: str) -> bool:
        """Whether this attempt belongs to this job."""
        return attempt_id in self._by_attempt

    def vertex_thread_info_stats(self, vertex_id: str) -> JobVertexThreadInfoStats | None:
        """The latest thread samples of a vertex's running subtasks (None: none yet, or
        no such vertex); starts a new sampling when there are none or they are old."""
        vertex = self.graph.vertex(vertex_id)
        if vertex is None:
            return None
        return self.thread_info_tracker.get_vertex_stats(vertex)

    def task_accumulators(self, attempt_id: str) -> dict[str, str] | None:
        """The accumulators an ended attempt reported last (name -> base64 wire), or
        None."""
        return self._task_accumulators.get(attempt_id)

    def task_accumulator_reports(self) -> dict[str, dict[str, str]]:
        """Every attempt's last accumulator report."""
        return self._task_accumulators

    def _set_status(self, state: JobStatus) -> None:
        """Move the job to ``state`` and announce it."""
        previous = self.graph.state
        if self.graph.transition(state):
            self.events.publish(JOB_STATUS, self.job_id, name=self.job_graph.name,
                                status=state.value, previous=previous.value)

    def _record_failure(self, info: FailureInfo) -> None:
        """Add a failure to the job's exception history and announce it."""
        self.graph.failure_history.append(info)
        self.events.publish(EXCEPTION, self.job_id, exception=info.exception,
                            taskName=info.task_name, location=info.location,
                            exceptionTimestamp=info.timestamp)

    def on_checkpoint_reported(self, stats: CheckpointStats) -> None:
        """The coordinator completed or failed a checkpoint or savepoint: announce it."""
        self.events.publish(CHECKPOINT, self.job_id, id=stats.checkpoint_id,
                            status=stats.status.value, is_savepoint=stats.is_savepoint,
                            external_path=stats.external_path,
                            failure_message=stats.failure_message)

    def on_checkpoint_completed(self, checkpoint_id: int, location: str) -> None:
        """The coordinator completed a checkpoint (not a savepoint)."""
        if self.checkpoint_listener is not None:
            self.checkpoint_listener(self.job_id, checkpoint_id, location)

    def on_task_io(self, report: TaskIOReport) -> None:
        """Fresh I/O counters of a running attempt."""
        entry = self._by_attempt.get(report.attempt_id)
        if entry is None:
            return
        ex = entry[2]
        if ex.state.is_terminal:
            return
        self._apply_io(ex, report, complete=False)

    @staticmethod
    def _apply_io(ex: Execution, report: TaskIOReport, complete: bool) -> None:
        io = ex.io
        io.read_bytes, io.write_bytes = report.read_bytes, report.write_bytes
        io.read_records, io.write_records = report.read_records, report.write_records
        io.complete = complete
        ex.task_metrics = report.metrics

    def on_task_state(self, update: TaskStateUpdate) -> None:
        """An attempt changed state on its TaskManager."""
        entry = self._by_attempt.get(update.attempt_id)
        if entry is None:
            return
        v, sv, ex = entry
        state = ExecutionState(update.state)
        if update.io is not None:
            self._apply_io(ex, update.io, complete=state.is_terminal)
        if update.accumulators:
            self._task_accumulators[update.attempt_id] = dict(update.accumulators)
        if state == ExecutionState.FAILED:
            self._task_failed(ex, v, sv.subtask_index, update.failure or "unknown failure",
                              update.timestamp or None)
            return
        ex.transition(state, update.timestamp or None)
        if self.region_scheduler is not None:
            if state == ExecutionState.FINISHED:
                self.region_scheduler.on_finished((v.vertex_id, sv.subtask_index))
            self.region_scheduler.check_restart()
        if self.streaming_regions is not None:
            self.streaming_regions.check()
        if state == ExecutionState.RUNNING and all(
                e.state == ExecutionState.RUNNING for _, _, e in self.graph.all_executions()):
            self._all_running.set()
        self._check_terminal()

    def on_checkpoint_message(self, msg) -> None:
        """An acknowledgement or decline from a subtask."""
        if isinstance(msg, AcknowledgeCheckpoint):
            self.coordinator.receive_ack(msg)
        else:
            self.coordinator.receive_decline(msg)

    def send_to(self, ex: Execution, message) -> bool:
        """Send a message to the TaskManager running ``ex``."""
        if ex.location is None:
            return False
        return self.rm.send(ex.location.resource_id, message)

    def on_task_manager_lost(self, rid: str, reason: str) -> None:
        """Every attempt on a lost TaskManager fails; in BATCH, the finished subtasks whose
        partitions lived there and are still to be read run again."""
        self._lost_task_managers.add(rid)
        scheduler = self.region_scheduler if self.region_failover else None
        needed = scheduler.lost_partitions({rid}) if scheduler is not None else set()
        for v, sv, ex in list(self.graph.all_executions()):
            if ex.location is not None and ex.location.resource_id == rid \
                    and not ex.state.is_terminal:
                self._task_failed(
                    ex, v, sv.subtask_index,
                    f"org.apache.flink.util.FlinkException: {reason}\n"
                    f"(headwater: the TaskManager process {rid} stopped answering)")
        if needed and self.graph.state == JobStatus.RUNNING:
            self._region_failover(needed)

    # -- failure, cancel and the end -----------------------------------------------------

    def _task_failed(self, ex: Execution, v, index: int, failure: str,
                     timestamp: int | None = None) -> None:
        ts = timestamp or now_ms()
        if not ex.transition(ExecutionState.FAILED, ts):
            return
        location = (f"{ex.location.host}:{ex.location.data_port}" if ex.location else None)
        info = FailureInfo(exception=failure, timestamp=ts,
                           task_name=f"{v.name} ({index + 1}/{v.parallelism})",
                           location=location)
        ex.failure = info
        self._record_failure(info)
        if self.graph.state in (JobStatus.RUNNING, JobStatus.CREATED):
            self.graph.failure = info
            if self.region_failover and self.region_scheduler is not None \
                    and self.graph.state == JobStatus.RUNNING:
                self._region_failover({(v.vertex_id, index)})
            elif self.streaming_regions is not None and self.graph.state == JobStatus.RUNNING:
                self._restart_streaming_region((v.vertex_id, index))
            else:
                self._failover()
        self._check_terminal()

    def _region_failover(self, failed: set[tuple[str, int]]) -> None:
        """BATCH: restart only the regions that the ``failed`` subtasks (or finished
        producers whose partitions were lost) touch, strategy permitting."""
        scheduler = self.region_scheduler
        assert scheduler is not None
        regions = scheduler.regions_to_restart(failed, self._lost_task_managers)
        if not regions - scheduler.restarting:  # part of a restart under way
            scheduler.restart(regions, self.restart_strategy.backoff_ms())
            return
        if not self.restart_strategy.can_restart():
            self._failover()
            return
        self.graph.num_restarts += 1
        log.info("job %s: restarting %d of %d region(s) (restart %d)", self.job_id,
                 len(regions), len(scheduler.regions), self.graph.num_restarts)
        scheduler.restart(regions, self.restart_strategy.backoff_ms())

    def _restart_streaming_region(self, failed: tuple[str, int]) -> None:
        """STREAMING, independent regions: restart only the failed subtask's region from
        the latest completed checkpoint (strategy permitting)."""
        regions = self.streaming_regions
        assert regions is not None
        if regions.is_restarting(failed):  # a cascade of the failure being handled
            regions.check()
            return
        if not self.restart_strategy.can_restart():
            self._failover()
            return
        self.graph.num_restarts += 1
        self._all_running.clear()
        self.coordinator.abort_pending("A pipelined region of the job is restarting.")
        log.info("job %s: restarting one of %d independent regions (restart %d)",
                 self.job_id, len(regions.regions), self.graph.num_restarts)
        regions.restart(failed, self.restart_strategy.backoff_ms())

    def _failover(self) -> None:
        """A failure while running: restart (strategy permitting) or fail the job."""
        if self.restart_strategy.can_restart():
            log.info("job %s: restarting (restart %d) after: %s", self.job_id,
                     self.graph.num_restarts + 1,
                     (self.graph.failure.exception.strip().splitlines() or ["?"])[-1]
                     if self.graph.failure else "?")
            self._begin_restart()
        else:
            self._set_status(JobStatus.FAILING)
            self.coordinator.stop_periodic()
            self._cancel_executions()

    def _begin_restart(self, count: bool = True) -> None:
        """Cancel every attempt; once all ended, redeploy from the latest checkpoint."""
        self._set_status(JobStatus.RESTARTING)
        self._all_running.clear()
        self.streaming_regions = None
        if count:
            self.graph.num_restarts += 1
        self.coordinator.stop_periodic()
        self.coordinator.abort_pending("The job is restarting.")
        self._cancel_executions()
        self._check_terminal()

    async def _restart(self, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        self._restart_scheduled = False
        if self.graph.state != JobStatus.RESTARTING:
            return
        if self._rescale_to is not None:
            self._apply_parallelism(self._rescale_to)
            self._rescale_to = None
        for v in self.graph.vertices:
            for sv in v.subtasks:
                if sv.current.state.is_terminal:
                    sv.new_attempt()
        await self._schedule()

    def _apply_parallelism(self, parallelism: int) -> None:
        """Change every vertex to ``parallelism`` (capped by its max parallelism)."""
        for v in self.graph.vertices:
            jv = v.job_vertex
            new = min(parallelism, jv.max_parallelism)
            jv.parallelism = new
            if new < len(v.subtasks):
                del v.subtasks[new:]
            for i in range(len(v.subtasks), new):
                v.subtasks.append(ExecutionVertex(i, Execution(0)))

    def on_checkpoint_failures_exceeded(self, reason: str) -> None:
        """More consecutive checkpoint failures than tolerated: fail over (as Flink)."""
        if self.graph.state != JobStatus.RUNNING:
            return
        info = FailureInfo(exception="org.apache.flink.util.FlinkRuntimeException: Exceeded "
                                     f"checkpoint tolerable failure threshold. ({reason})",
                           timestamp=now_ms())
        self.graph.failure = info
        self._record_failure(info)
        self._failover()
        self._check_terminal()

    # -- savepoints, stop and rescale ---------------------------------------------------

    def _savepoint_target(self, target_directory: str | None) -> str:
        target = target_directory or self.config.get("state.savepoints.dir")
        if not target:
            raise CheckpointException(
                "No savepoint directory configured. You can either specify a directory "
                "while cancelling via -s :targetDirectory or configure a cluster-wide "
                "default via key 'state.savepoints.dir'.")
        return str(target)

    def _require_running(self, what: str) -> None:
        if self.batch:
            raise CheckpointException(
                f"Cannot {what}: Checkpointing disabled. You can enable it via the "
                "execution environment of your job. (headwater: BATCH jobs take no "
                "checkpoints or savepoints)")
        if self.graph.state != JobStatus.RUNNING:
            raise CheckpointException(f"Cannot {what}: job {self.job_id} is not RUNNING "
                                      f"but {self.graph.state.value}.")

    async def trigger_checkpoint(self) -> int:
        """Take a checkpoint now; its id."""
        self._require_running("checkpoint")
        return (await self.coordinator.trigger_checkpoint()).checkpoint_id

    async def trigger_savepoint(self, target_directory: str | None, cancel_job: bool) -> str:
        """Take a savepoint (then cancel the job if asked); returns its location."""
        target = self._savepoint_target(target_directory)
        self._require_running("trigger a savepoint")
        completed = await self.coordinator.trigger_savepoint(target)
        if cancel_job:
            self.cancel()
        return completed.external_path

    async def stop_with_savepoint(self, target_directory: str | None, drain: bool) -> str:
        """Savepoint, then let the sources end: the job finishes (FINISHED)."""
        target = self._savepoint_target(target_directory)
        self._require_running("stop with savepoint")
        completed = await self.coordinator.trigger_savepoint(target, sync=True, stop=True,
                                                             drain=drain)
        try:
            await asyncio.wait_for(self.terminated.wait(), 60)
        except TimeoutError as exc:
            raise CheckpointException("the job did not finish after its final savepoint") \
                from exc
        return completed.external_path

    async def rescale(self, parallelism: int) -> None:
        """Savepoint, redeploy every vertex at ``parallelism`` and restore the state there
        (key groups and operator state redistributed)."""
        self._require_running("rescale")
        limit = min(v.max_parallelism for v in self.graph.vertices)
        if parallelism < 1 or parallelism > limit:
            raise CheckpointException(f"parallelism {parallelism} is outside [1, {limit}] "
                                      f"(the job's max parallelism)")
        base = self._checkpoints_dir
        if not base:
            raise CheckpointException("rescaling needs state.checkpoints.dir")
        completed = await self.coordinator.trigger_savepoint(
            filesystem.join(storage.location_of(base), self.job_id, "rescaling"))
        self._require_running("rescale")
        self.coordinator.restore_point = completed
        self._rescale_to = parallelism
        self._begin_restart(count=False)
        await asyncio.wait_for(self._all_running.wait(),
                               int(self.config["slot.request.timeout"]) / 1000 + 60)
        if self.graph.state != JobStatus.RUNNING:
            raise CheckpointException(f"the job is {self.graph.state.value} after rescaling")

    def fail_job(self, failure: str) -> None:
        """Fail the job for good (no restart): bad restore point, no resources..."""
        info = FailureInfo(exception=failure, timestamp=now_ms())
        self.graph.failure = info
        self._record_failure(info)
        self._set_status(JobStatus.FAILING)
        self._cancel_executions()
        self._check_terminal()

    def cancel(self) -> None:
        """Cancel the job (Flink's CANCELLING, then CANCELED)."""
        if self.graph.state.is_globally_terminal or self.graph.state in (
                JobStatus.CANCELLING, JobStatus.FAILING):
            return
        self._set_status(JobStatus.CANCELLING)
        self.coordinator.stop_periodic()
        self._cancel_executions()
        self._check_terminal()

    def _cancel_executions(self) -> None:
        for _, _, ex in self.graph.all_executions():
            self.cancel_execution(ex)

    def cancel_execution(self, ex: Execution) -> None:
        """Cancel one attempt (on its TaskManager if it was deployed)."""
        if ex.state.is_terminal:
            return
        if ex.state in (ExecutionState.DEPLOYING, ExecutionState.RUNNING):
            ex.transition(ExecutionState.CANCELING)
            if ex.location is None or not self.rm.send(ex.location.resource_id,
                                                       CancelTask(attempt_id=ex.attempt_id)):
                ex.transition(ExecutionState.CANCELED)
        elif ex.state != ExecutionState.CANCELING:
            ex.transition(ExecutionState.CANCELED)

    def _check_terminal(self) -> None:
        g = self.graph
        if g.state.is_globally_terminal:
            return
        states = [ex.state for _, _, ex in g.all_executions()]
        scheduler = self.region_scheduler
        if g.state == JobStatus.RUNNING and self.streaming_regions is not None \
                and self.streaming_regions.restarting:
            return
        if scheduler is not None and g.state == JobStatus.RUNNING:
            if not scheduler.all_finished():
                return
        elif not all(s.is_terminal for s in states):
            return
        if g.state == JobStatus.RESTARTING:
            if not self._restart_scheduled:
                self._restart_scheduled = True
                self.rm.release(self.job_id)
                delay = 0 if self._rescale_to is not None else self.restart_strategy.backoff_ms()
                asyncio.get_running_loop().create_task(self._restart(delay))
            return
        if g.state == JobStatus.FAILING:
            self._set_status(JobStatus.FAILED)
        elif g.state == JobStatus.CANCELLING:
            self._set_status(JobStatus.CANCELED)
        elif all(s == ExecutionState.FINISHED for s in states):
            self._merge_accumulators()
            self._register_datasets()
            self._set_status(JobStatus.FINISHED)
        else:
            self._set_status(JobStatus.FAILED)
        for _, _, ex in g.all_executions():
            ex.io.complete = True
        self.coordinator.shutdown(g.state.value, retain=self.suspended)
        self.thread_info_tracker.shut_down()
        self.rm.release(self.job_id)
        self._release_partitions()
        self.rm.drop_partition_holds(self.job_id)
        self.terminated.set()
        self._on_terminal(self)

    def _release_partitions(self) -> None:
        """Tell every TaskManager that ran an attempt of this job to delete the job's
        BLOCKING partitions (they outlive their tasks; a partition lives where its
        producer attempt ran)."""
        holders = {ex.location.resource_id for _, _, ex in self._by_attempt.values()
                   if ex.location is not None}
        keep = [p.partition_id for d in self.datasets.all() if d.job_id == self.job_id
                for p in d.partitions]
        for rid in sorted(holders):
            self.rm.send(rid, ReleasePartitions(job_id=self.job_id, keep=keep))

    def _register_datasets(self) -> None:
        """The job FINISHED: what it cached becomes cluster data sets (releasing the
        partitions of an older computation of the same data set)."""
        for v in self.graph.vertices:
            dataset_id = v.job_vertex.cache_dataset_id
            if dataset_id is None:
                continue
            partitions = []
            for sv in v.subtasks:
                loc = sv.current.location
                assert loc is not None
                partitions.append(DataSetPartition(cache_partition_id(sv.current.attempt_id),
                                                   loc.resource_id, loc.host, loc.data_port))
            replaced = self.datasets.register(ClusterDataSet(dataset_id, self.job_id,
                                                             partitions))
            if replaced is not None:
                release_dataset(self.rm, replaced)
            for p in partitions:
                self.rm.hold_partitions(p.resource_id, dataset_id)

    def _merge_accumulators(self) -> None:
        try:
            merged = acc.merge_all(list(self._task_accumulators.values()))
        except Exception as exc:  # noqa: BLE001
            log.warning("could not merge accumulators of job %s: %s", self.job_id, exc)
            return
        self.graph.accumulator_results = {
            name: acc.serialize_result(acc.final_value(kind, data))
            for name, (kind, data) in merged.items()}
        self.graph.accumulator_kinds = {name: kind for name, (kind, _) in merged.items()}
