"""The ResourceManager: TaskManager registration, heartbeats and slots.

TaskManagers connect to the JobManager's RPC port and register; from then on the
connection carries their heartbeats and task state updates. A TaskManager whose
connection closes or whose heartbeats stop for ``heartbeat.timeout`` ms is lost: its
slots vanish and the JobMasters hear about it.

With a :class:`TaskManagerLauncher` the ResourceManager is *active*, as Flink's on
Kubernetes or YARN: it starts the initial TaskManagers, replaces those that died, starts
more when a job needs more slots than are registered (submission, restart, rescaling to a
higher parallelism) and releases TaskManagers idle longer than
``resourcemanager.taskmanager-timeout``, always within ``resourcemanager.taskmanagers.min``
and ``resourcemanager.taskmanagers.max``. The launcher decides where a TaskManager runs
(a local process, a Ray actor); this class decides how many.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from headwater.clock import now_ms
from headwater.config import Configuration, parse_memory_size
from headwater.runtime.jobmanager.events import TASK_MANAGER, ClusterEvents
from headwater.runtime.jobmanager.task_manager_launcher import TaskManagerLauncher
from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo
from headwater.runtime.rpc.framing import Connection
from headwater.runtime.rpc.handshake import AuthenticationError, authenticate_client
from headwater.runtime.rpc.messages import (
    AcknowledgeCheckpoint,
    DeclineCheckpoint,
    Heartbeat,
    Message,
    RegisterTaskManager,
    RegistrationAck,
    RegistrationRejected,
    Request,
    Response,
    ShutdownTaskManager,
    TaskStateUpdate,
)

log = logging.getLogger(__name__)

#: (resource id, slot index)
Slot = tuple[str, int]


class ResourceManager:
    """Tracks TaskManagers and hands out their slots to jobs."""

    def __init__(self, config: Configuration,
                 on_task_state: Callable[[str, TaskStateUpdate | AcknowledgeCheckpoint
                                          | DeclineCheckpoint], None],
                 on_heartbeat: Callable[[str, Heartbeat], None],
                 on_task_manager_lost: Callable[[str, str], None],
                 launcher: TaskManagerLauncher | None = None,
                 events: ClusterEvents | None = None) -> None:
        self.config = config
        #: Where registrations and losses of TaskManagers are announced.
        self.events = events if events is not None else ClusterEvents()
        self.launcher = launcher
        self._supervisor: asyncio.Task | None = None
        self.task_managers: dict[str, TaskManagerInfo] = {}
        self.connections: dict[str, Connection] = {}
        self._on_task_state = on_task_state
        self._on_heartbeat = on_heartbeat
        self._on_lost = on_task_manager_lost
        #: The cluster secret every TaskManager must prove it knows (None: no check).
        self.secret: bytes | None = None
        #: ``taskmanager.memory.recycle-threshold`` in bytes (None: never recycle).
        threshold = str(config["taskmanager.memory.recycle-threshold"] or "")
        self._recycle_threshold = parse_memory_size(threshold) if threshold else None
        #: Idle TaskManagers above the recycle threshold: heartbeats seen so.
        self._bloated: dict[str, int] = {}
        self._managed_memory = parse_memory_size(
            str(config.get("taskmanager.memory.managed.size") or "0"))
        #: TaskManager -> the jobs and data sets whose result partitions it keeps.
        self._partition_holds: dict[str, set[str]] = {}
        #: TaskManagers replaced because their memory stayed high.
        self.recycled = 0
        self.slots_changed = asyncio.Condition()
        self._server: asyncio.AbstractServer | None = None
        self._monitor: asyncio.Task | None = None
        self.rpc_port = 0
        self.rpc_host = config["jobmanager.rpc.address"]
        self._counter = 0
        self._pending: dict[int, asyncio.Future] = {}
        #: TaskManagers kept at least / started at most (set by start_task_managers).
        self.min_task_managers = 0
        self.max_task_managers = 0
        #: Monotonic start times of TaskManagers requested from the launcher that have
        #: not registered yet (dropped after resourcemanager.taskmanager-registration.timeout).
        self._requested: list[float] = []
        #: Monotonic time since which each registered TaskManager has had no used slot.
        self._idle_since: dict[str, float] = {}
        #: TaskManagers being shut down because they were idle (their loss is expected).
        self._releasing: set[str] = set()
        #: Jobs waiting for slots right now (no TaskManager is released meanwhile).
        self._waiting = 0
        #: TaskManagers started on demand / released for idleness so far.
        self.started_on_demand = 0
        self.released = 0
        #: Set while the cluster shuts down: disconnects are expected then.
        self.stopping = False
        self._next_request_id = 1

    async def start(self, port: int | None = None) -> int:
        """Open the RPC port; returns it."""
        self._server = await asyncio.start_server(
            self._serve, self.rpc_host,
            int(self.config["jobmanager.rpc.port"]) if port is None else port)
        self.rpc_port = self._server.sockets[0].getsockname()[1]
        self._monitor = asyncio.create_task(self._monitor_heartbeats())
        return self.rpc_port

    def start_task_managers(self, count: int, minimum: int | None = None) -> None:
        """Have the launcher start ``count`` TaskManagers for this JobManager, then keep
        between ``resourcemanager.taskmanagers.min`` (default ``minimum``, else ``count``)
        and ``.max`` (default: the minimum, a fixed-size cluster) of them: dead ones are
        replaced, more are started for jobs that need them, idle ones released (checked
        every second)."""
        if self.launcher is None:
            raise RuntimeError("this ResourceManager has no TaskManager launcher")
        configured_min = str(self.config["resourcemanager.taskmanagers.min"] or "")
        configured_max = str(self.config["resourcemanager.taskmanagers.max"] or "")
        self.min_task_managers = (int(configured_min) if configured_min
                                  else count if minimum is None else minimum)
        self.max_task_managers = max(self.min_task_managers, count,
                                     int(configured_max) if configured_max else 0)
        self._launch(count)
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    def _launch(self, count: int) -> None:
        if count <= 0 or self.launcher is None:
            return
        self.launcher.start(f"{self.rpc_host}:{self.rpc_port}", count)
        self._requested.extend([time.monotonic()] * count)

    def _request_for_slots(self, missing_slots: int) -> None:
        """Start TaskManagers for ``missing_slots`` more slots than are free, counting
        those already starting, up to ``resourcemanager.taskmanagers.max``."""
        if self.launcher is None or self.stopping:
            return
        per_tm = max(1, self.launcher.slots_per_task_manager)
        wanted = math.ceil(missing_slots / per_tm) - len(self._requested)
        room = self.max_task_managers - len(self.task_managers) - len(self._requested)
        count = min(wanted, room)
        if count > 0:
            log.info("starting %d TaskManager(s) for %d missing slot(s)", count, missing_slots)
            self.started_on_demand += count
            self._launch(count)

    async def _supervise(self) -> None:
        while not self.stopping:
            await asyncio.sleep(1.0)
            if self.stopping or self.launcher is None:
                continue
            replaced = await asyncio.to_thread(self.launcher.replace_dead)
            self._requested.extend([time.monotonic()] * replaced)
            timeout = int(self.config["resourcemanager.taskmanager-registration.timeout"])
            now = time.monotonic()
            expired = [t for t in self._requested if now - t > timeout / 1000]
            if expired:
                log.warning("%d requested TaskManager(s) did not register within %d ms",
                            len(expired), timeout)
                self._requested = [t for t in self._requested if now - t <= timeout / 1000]
            self._release_idle(now)

    def _release_idle(self, now: float) -> None:
        """Shut down TaskManagers idle longer than ``resourcemanager.taskmanager-timeout``
        while more than the minimum are registered and no job waits for slots."""
        timeout = int(self.config["resourcemanager.taskmanager-timeout"]) / 1000
        for rid, info in self.task_managers.items():
            if info.slots_used or rid in self._releasing or self._partition_holds.get(rid):
                self._idle_since.pop(rid, None)
            else:
                self._idle_since.setdefault(rid, now)
        if self._waiting or self.launcher is None:
            return
        keep = len(self.task_managers) - len(self._releasing)
        for rid, since in sorted(self._idle_since.items(), key=lambda item: item[1]):
            if keep <= self.min_task_managers:
                break
            idle = self.task_managers.get(rid)
            if idle is None or now - since < timeout:
                continue
            log.info("releasing TaskManager %s: idle for %.0f s (resourcemanager."
                     "taskmanager-timeout)", rid, now - since)
            self._releasing.add(rid)
            self._idle_since.pop(rid, None)
            self.released += 1
            keep -= 1
            self.launcher.retire(idle)
            self.send(rid, ShutdownTaskManager(
                reason="idle longer than resourcemanager.taskmanager-timeout"))

    async def stop(self) -> None:
        """Stop the launched TaskManagers, close the RPC port and every connection."""
        self.stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
        if self.launcher is not None:
            await asyncio.to_thread(self.launcher.stop)
        if self._monitor:
            self._monitor.cancel()
        if self._server:
            self._server.close()
        for conn in list(self.connections.values()):
            conn.close()

    # -- connections --------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.secret is not None:
            try:  # before any frame is read: a peer without the secret costs nothing
                await authenticate_client(reader, writer, self.secret)
            except (AuthenticationError, OSError, TimeoutError,
                    asyncio.IncompleteReadError) as exc:
                log.warning("refused an RPC connection: %s", exc or type(exc).__name__)
                writer.close()
                return
        conn = Connection(reader, writer)
        rid = None
        try:
            msg = await asyncio.wait_for(conn.receive(), timeout=30)
            if not isinstance(msg, RegisterTaskManager):
                await conn.send(RegistrationRejected(reason="expected RegisterTaskManager"))
                return
            if msg.resource_id in self.task_managers:
                await conn.send(RegistrationRejected(reason="duplicate resource id"))
                return
            rid = msg.resource_id
            now = now_ms()
            info = TaskManagerInfo(
                resource_id=rid, host=msg.host,
                rpc_address=f"headwater://{conn.peer}/taskmanager_{self._counter}",
                data_port=msg.data_port, pid=msg.pid, slots_total=msg.slots,
                last_heartbeat=now, registered_at=now,
                # Managed memory is what BATCH jobs' keyed operators may hold there
                # before they spill (taskmanager.memory.managed.size).
                hardware={**msg.hardware, "managedMemory": self._managed_memory},
                log_dir=msg.log_dir, attributes=dict(msg.attributes))
            self._counter += 1
            self.task_managers[rid] = info
            self.connections[rid] = conn
            await conn.send(RegistrationAck(
                heartbeat_interval=int(self.config["heartbeat.interval"]),
                configuration={"metrics.system.enabled":
                               self.config.get_bool("metrics.system.enabled"),
                               "task.cancellation.timeout":
                               int(self.config["task.cancellation.timeout"]),
                               "taskmanager.memory.process.size":
                               str(self.config["taskmanager.memory.process.size"]),
                               "taskmanager.network.max-frame-size":
                               int(self.config["taskmanager.network.max-frame-size"]),
                               "high-availability.jobmanager.reconnect-timeout":
                               int(self.config["high-availability.jobmanager.reconnect-timeout"])
                               if self.config["high-availability"] == "embedded" else 0}))
            if self._requested:
                self._requested.pop(0)
            log.info("TaskManager %s registered (%d slots)", rid, msg.slots)
            self.events.publish(TASK_MANAGER, None, change="registered", id=rid,
                                host=msg.host, slots=msg.slots)
            await self._notify_slots()
            while True:
                msg = await conn.receive()
                info.last_heartbeat = now_ms()
                if isinstance(msg, Heartbeat):
                    info.process = msg.process
                    self._on_heartbeat(rid, msg)
                    self._recycle_if_bloated(info)
                elif isinstance(msg, TaskStateUpdate | AcknowledgeCheckpoint | DeclineCheckpoint):
                    self._on_task_state(rid, msg)
                elif isinstance(msg, Response):
                    future = self._pending.pop(msg.request_id, None)
                    if future is not None and not future.done():
                        if msg.error is not None:
                            future.set_exception(RequestFailed(msg.error))
                        else:
                            future.set_result(msg.payload)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:  # noqa: BLE001 - a bad peer must not take the JobManager down
            log.exception("TaskManager connection failed")
        finally:
            conn.close()
            if rid is not None and rid in self.task_managers:
                self._lose(rid, f"TaskManager with id {rid} is no longer reachable "
                                f"(connection closed).")

    def _lose(self, rid: str, reason: str) -> None:
        info = self.task_managers.pop(rid, None)
        conn = self.connections.pop(rid, None)
        if conn is not None:
            conn.close()
        self._idle_since.pop(rid, None)
        if info is not None:
            released = rid in self._releasing
            self._releasing.discard(rid)
            if self.stopping or released:
                log.info("TaskManager %s %s", rid, "released" if released
                         else "disconnected during shutdown")
            else:
                log.warning("TaskManager %s lost: %s", rid, reason)
            self.events.publish(TASK_MANAGER, None, change="released" if released else "lost",
                                id=rid, host=info.host, reason=reason)
            self._on_lost(rid, reason)
            asyncio.get_running_loop().create_task(self._notify_slots())

    async def _monitor_heartbeats(self) -> None:
        timeout = int(self.config["heartbeat.timeout"])
        interval = max(0.05, int(self.config["heartbeat.interval"]) / 1000 / 2)
        while True:
            await asyncio.sleep(interval)
            now = now_ms()
            for rid, info in list(self.task_managers.items()):
                if now - info.last_heartbeat > timeout:
                    self._lose(rid, f"Heartbeat of TaskManager with id {rid} timed out.")

    def send(self, rid: str, message: Message) -> bool:
        """Queue a message to a TaskManager; False if it is not connected."""
        conn = self.connections.get(rid)
        if conn is None:
            return False
        conn.send_nowait(message)
        return True

    async def request(self, rid: str, message: Request, timeout: float = 10.0) -> Any:
        """Send a request to a TaskManager and wait for its answer.

        Raises KeyError for an unknown TaskManager, RequestFailed when it answered with
        an error, TimeoutError when it did not answer in time."""
        if rid not in self.connections:
            raise KeyError(rid)
        request_id = self._next_request_id
        self._next_request_id += 1
        message.request_id = request_id
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self.send(rid, message)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)

    # -- memory hygiene -----------------------------------------------------------------

    def _recycle_if_bloated(self, info: TaskManagerInfo) -> None:
        """Replace an idle TaskManager whose memory stayed above
        ``taskmanager.memory.recycle-threshold`` for two heartbeats after its job (what a
        user function left behind that the process could not give back): a fresh
        TaskManager is started first, then the old one is shut down."""
        threshold = self._recycle_threshold
        if (threshold is None or self.launcher is None or self.stopping or info.slots_used
                or int(info.process.get("rss", 0)) <= threshold):
            self._bloated.pop(info.resource_id, None)
            return
        seen = self._bloated[info.resource_id] = self._bloated.get(info.resource_id, 0) + 1
        if seen != 2:
            return
        log.warning("TaskManager %s keeps %d MiB after its job (more than "
                    "taskmanager.memory.recycle-threshold, %d MiB): replacing it",
                    info.resource_id, int(info.process.get("rss", 0)) // 2**20,
                    threshold // 2**20)
        self.recycled += 1
        self.launcher.retire(info)
        self._launch(1)
        self.send(info.resource_id, ShutdownTaskManager(reason="recycled: memory stayed above "
                                                        "taskmanager.memory.recycle-threshold"))

    # -- slots --------------------------------------------------------------------------

    def total_slots(self) -> int:
        """Slots of all registered TaskManagers."""
        return sum(tm.slots_total for tm in self.task_managers.values())

    def free_slots(self) -> list[Slot]:
        """Free slots, spread across TaskManagers (slot 0 of each TM first)."""
        free = [(i, rid) for rid, tm in self.task_managers.items()
                for i in range(tm.slots_total) if i not in tm.slots_used]
        free.sort()
        return [(rid, i) for i, rid in free]

    def allocate(self, job_id: str, count: int) -> list[Slot] | None:
        """Reserve ``count`` slots for a job, or None if not enough are free."""
        free = self.free_slots()
        if len(free) < count:
            return None
        chosen = free[:count]
        for rid, i in chosen:
            self.task_managers[rid].slots_used[i] = job_id
        return chosen

    def release(self, job_id: str) -> None:
        """Free every slot of a job."""
        for tm in self.task_managers.values():
            for i, jid in list(tm.slots_used.items()):
                if jid == job_id:
                    del tm.slots_used[i]
        asyncio.get_running_loop().create_task(self._notify_slots())

    def hold_partitions(self, resource_id: str, owner: str) -> None:
        """A TaskManager keeps result partitions that ``owner`` (a job or a cluster data
        set) still needs: it is not released as idle (Flink's ``canBeReleased``)."""
        self._partition_holds.setdefault(resource_id, set()).add(owner)

    def drop_partition_holds(self, owner: str) -> None:
        """``owner`` needs none of its partitions any more."""
        for owners in self._partition_holds.values():
            owners.discard(owner)

    def release_slots(self, job_id: str, slots: list[Slot]) -> None:
        """Free some of a job's slots (a finished pipelined region's)."""
        for rid, i in slots:
            tm = self.task_managers.get(rid)
            if tm is not None and tm.slots_used.get(i) == job_id:
                del tm.slots_used[i]
        asyncio.get_running_loop().create_task(self._notify_slots())

    def request_slots(self, missing_slots: int) -> None:
        """Ask for TaskManagers with ``missing_slots`` more slots (active mode only)."""
        self._request_for_slots(missing_slots)

    async def _notify_slots(self) -> None:
        async with self.slots_changed:
            self.slots_changed.notify_all()

    async def wait_for_slots(self, job_id: str, count: int, timeout: float) -> list[Slot]:
        """Allocate ``count`` slots, waiting up to ``timeout`` s for them to appear."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiting += 1
        try:
            async with self.slots_changed:
                while True:
                    slots = self.allocate(job_id, count)
                    if slots is not None:
                        return slots
                    self._request_for_slots(count - len(self.free_slots()))
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise NoResourceAvailable(
                            f"Could not acquire the minimum required resources: {count} "
                            f"slots needed, {len(self.free_slots())} free of "
                            f"{self.total_slots()} (at most {self.max_task_managers} "
                            "TaskManagers: resourcemanager.taskmanagers.max).")
                    try:
                        await asyncio.wait_for(self.slots_changed.wait(), remaining)
                    except TimeoutError:
                        pass
        finally:
            self._waiting -= 1


class RequestFailed(Exception):
    """A TaskManager answered a request with an error."""


class NoResourceAvailable(Exception):
    """Not enough slots appeared in time (Flink's NoResourceAvailableException)."""
