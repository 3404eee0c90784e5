"""The ResourceManager: TaskManager registration, heartbeats and slots.

TaskManagers connect to the JobManager's RPC port and register; from then on the
connection carries their heartbeats and task state updates. A TaskManager whose
connection closes or whose heartbeats stop for ``heartbeat.timeout`` ms is lost: its
slots vanish and the JobMasters hear about it. With a :class:`TaskManagerLauncher` the
ResourceManager also starts TaskManagers and replaces those whose process died.
"""

from __future__ import annotations

import asyncio
import logging
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
        #: TaskManagers replaced because their memory stayed high.
        self.recycled = 0
        self.slots_changed = asyncio.Condition()
        self._server: asyncio.AbstractServer | None = None
        self._monitor: asyncio.Task | None = None
        self.rpc_port = 0
        self.rpc_host = config["jobmanager.rpc.address"]
        self._counter = 0
        self._pending: dict[int, asyncio.Future] = {}
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

    def start_task_managers(self, count: int) -> None:
        """Have the launcher start ``count`` TaskManagers for this JobManager and replace
        any that die (checked every second)."""
        if self.launcher is None:
            raise RuntimeError("this ResourceManager has no TaskManager launcher")
        self.launcher.start(f"{self.rpc_host}:{self.rpc_port}", count)
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        while not self.stopping:
            await asyncio.sleep(1.0)
            if not self.stopping and self.launcher is not None:
                await asyncio.to_thread(self.launcher.replace_dead)

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
                last_heartbeat=now, registered_at=now, hardware=dict(msg.hardware),
                log_dir=msg.log_dir)
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
        if info is not None:
            if self.stopping:
                log.info("TaskManager %s disconnected during shutdown", rid)
            else:
                log.warning("TaskManager %s lost: %s", rid, reason)
            self.events.publish(TASK_MANAGER, None, change="lost", id=rid, host=info.host,
                                reason=reason)
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
        self.launcher.retire(info.pid)
        self.launcher.start(f"{self.rpc_host}:{self.rpc_port}", 1)
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

    async def _notify_slots(self) -> None:
        async with self.slots_changed:
            self.slots_changed.notify_all()

    async def wait_for_slots(self, job_id: str, count: int, timeout: float) -> list[Slot]:
        """Allocate ``count`` slots, waiting up to ``timeout`` s for them to appear."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self.slots_changed:
            while True:
                slots = self.allocate(job_id, count)
                if slots is not None:
                    return slots
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise NoResourceAvailable(
                        f"Could not acquire the minimum required resources: {count} slots "
                        f"needed, {len(self.free_slots())} free of {self.total_slots()}.")
                try:
                    await asyncio.wait_for(self.slots_changed.wait(), remaining)
                except TimeoutError:
                    pass


class RequestFailed(Exception):
    """A TaskManager answered a request with an error."""


class NoResourceAvailable(Exception):
    """Not enough slots appeared in time (Flink's NoResourceAvailableException)."""
