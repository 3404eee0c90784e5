"""The TaskManager process: registers with the JobManager, heartbeats, runs tasks.

Run as ``python -m headwater.runtime.taskmanager.task_executor --jobmanager HOST:PORT``.
A TaskManager needs only the JobManager's address: it opens its own data server for
consumers in other processes and reports its host and data port at registration.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import logging
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from typing import TypeVar, cast

from headwater.clock import now_ms
from headwater.config import parse_memory_size
from headwater.runtime import process_figures
from headwater.runtime.log_files import LOG_FORMAT, configure_file_logging
from headwater.runtime.network.blocking_partition import job_partition_dirs, release_partitions
from headwater.runtime.network.connection_security import (
    DEFAULT_MAX_FRAME_SIZE,
    ConnectionSecurity,
)
from headwater.runtime.network.partition import PartitionRegistry
from headwater.runtime.network.server import DataServer
from headwater.runtime.rpc.framing import Connection
from headwater.runtime.rpc.handshake import authenticate_to_server, read_secret_file
from headwater.runtime.rpc.messages import (
    CancelTask,
    DeployTask,
    Heartbeat,
    Message,
    NotifyCheckpointAborted,
    NotifyCheckpointComplete,
    RegisterTaskManager,
    RegistrationAck,
    RegistrationRejected,
    ReleasePartitions,
    Request,
    RequestLogFile,
    RequestLogList,
    RequestMetrics,
    RequestThreadDump,
    RequestThreadInfoSamples,
    Response,
    ShutdownTaskManager,
    TaskIOReport,
    TaskStateUpdate,
    TriggerCheckpoint,
)
from headwater.runtime.taskmanager.diagnostics import Diagnostics, ProcessFiles
from headwater.runtime.taskmanager.memory_guard import (
    MemoryGuard,
    MemoryLimitExceeded,
    release_memory,
)
from headwater.runtime.taskmanager.metric_query_service import (
    MetricQueryService,
    encode_accumulators,
)
from headwater.runtime.taskmanager.task import Task
from headwater.runtime.taskmanager.thread_info_sampler import ThreadInfoSampleService

log = logging.getLogger("headwater.taskmanager")

R = TypeVar("R", bound=Request)

#: Answers one request (in a worker thread) with a msgpack-able payload, or with a
#: Future of one when the work runs on a thread of the handler's own.
RequestHandler = Callable[[Request], object]


def handler_entry(request_type: type[R],
                  handler: Callable[[R], object]) -> tuple[type[Request], RequestHandler]:
    """A row of the request table: the handler takes exactly ``request_type``'s requests
    (the table looks handlers up by the request's exact type)."""
    return request_type, cast(RequestHandler, handler)


class TaskExecutor:
    """One TaskManager: slots, tasks, data server and the JobManager connection."""

    def __init__(self, jobmanager: tuple[str, int], host: str, slots: int, data_port: int = 0,
                 resource_id: str | None = None, log_dir: str | None = None,
                 process_files: ProcessFiles | None = None,
                 secret: bytes | None = None,
                 attributes: dict[str, str] | None = None) -> None:
        self.jobmanager = jobmanager
        #: Where this TaskManager runs, reported at registration (e.g. its Ray node).
        self.attributes = dict(attributes or {})
        self.host = host
        self.slots = slots
        #: The cluster secret: every RPC and data connection is authenticated with it.
        self.secret = secret
        self.security = ConnectionSecurity(secret)
        self.registry = PartitionRegistry()
        self.data_server = DataServer(self.registry, host, data_port, security=self.security)
        self.memory_guard: MemoryGuard | None = None
        self.resource_id = resource_id or f"{host}:{self.data_server.port}-{uuid.uuid4().hex[:6]}"
        self.log_dir = log_dir
        self.tasks: dict[str, Task] = {}
        #: Job id -> the directories its BLOCKING partitions may be written to here.
        self.partition_dirs: dict[str, set[str]] = {}
        self.conn: Connection | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.heartbeat_interval = 1.0
        self.cancellation_timeout = 180.0
        #: Seconds to wait for a lost JobManager (0: exit at once, the default without HA).
        self.reconnect_timeout = 0.0
        self._stopped: asyncio.Event | None = None
        self.metric_query_service = MetricQueryService(self.tasks)
        self.diagnostics = Diagnostics(log_dir, process_files)
        self.thread_info_samples = ThreadInfoSampleService(self.tasks)
        #: Request type -> its handler: every request a JobManager sends a TaskManager.
        self.request_handlers: dict[type[Request], RequestHandler] = dict([
            handler_entry(RequestMetrics, self.metric_query_service.answer),
            handler_entry(RequestLogList, self.diagnostics.list_logs),
            handler_entry(RequestLogFile, self.diagnostics.read_log),
            handler_entry(RequestThreadDump, self.diagnostics.dump_threads),
            handler_entry(RequestThreadInfoSamples, self.thread_info_samples.sample),
        ])

    async def run(self) -> None:
        """Register, then serve the JobManager until it says stop or goes away. With HA
        (a reconnect timeout from the JobManager) a lost JobManager is waited for: the
        tasks are cancelled and the TaskManager registers again when it is back."""
        self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        process_figures.install_gc_timer()
        self.data_server.start()
        try:
            while True:
                if await self._register_and_serve():
                    return  # the JobManager said stop
                if self.reconnect_timeout <= 0:
                    log.warning("lost the connection to the JobManager; stopping")
                    return
                log.warning("lost the connection to the JobManager; cancelling every task "
                            "and waiting up to %.0f s for it to come back",
                            self.reconnect_timeout)
                await self._cancel_tasks()
                if not await self._jobmanager_back(self.reconnect_timeout):
                    log.warning("the JobManager did not come back; stopping")
                    return
        finally:
            await self._shutdown()

    async def _jobmanager_back(self, timeout: float) -> bool:
        """Whether the JobManager's RPC port accepts connections again within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection(*self.jobmanager)
            except OSError:
                await asyncio.sleep(0.5)
                continue
            writer.close()
            return True
        return False

    async def _register_and_serve(self) -> bool:
        """One JobManager connection: True when it told this TaskManager to stop, False
        when the connection was lost."""
        try:
            reader, writer = await asyncio.open_connection(*self.jobmanager)
            if self.secret is not None:
                await authenticate_to_server(reader, writer, self.secret)
            conn = self.conn = Connection(reader, writer)
            await conn.send(RegisterTaskManager(
                resource_id=self.resource_id, host=self.host, data_port=self.data_server.port,
                pid=os.getpid(), slots=self.slots, hardware=process_figures.hardware(),
                log_dir=self.log_dir, attributes=self.attributes))
            answer = await conn.receive()
        except (OSError, asyncio.IncompleteReadError) as exc:
            if self.reconnect_timeout <= 0:
                raise
            log.warning("registration failed: %s", exc)
            return False
        if isinstance(answer, RegistrationRejected):
            raise SystemExit(f"registration rejected: {answer.reason}")
        assert isinstance(answer, RegistrationAck)
        self.heartbeat_interval = answer.heartbeat_interval / 1000.0
        self.cancellation_timeout = int(
            answer.configuration.get("task.cancellation.timeout", 180000)) / 1000.0
        self.reconnect_timeout = int(answer.configuration.get(
            "high-availability.jobmanager.reconnect-timeout", 0)) / 1000.0
        if self.metric_query_service.registry is None:
            self.metric_query_service.start(answer.configuration)
            self._apply_limits(answer.configuration)
        log.info("registered at JobManager %s:%s as %s", *self.jobmanager, self.resource_id)
        hb = asyncio.create_task(self._heartbeat_loop())
        try:
            while True:
                msg = await conn.receive()
                if isinstance(msg, DeployTask):
                    self._deploy(msg)
                elif isinstance(msg, CancelTask):
                    task = self.tasks.get(msg.attempt_id)
                    if task is not None:
                        task.cancel()
                        self._watch_cancellation(task)
                elif isinstance(msg, TriggerCheckpoint):
                    task = self.tasks.get(msg.attempt_id)
                    if task is not None:
                        task.trigger_checkpoint(msg)  # posts a mail; declines if not running
                elif isinstance(msg, NotifyCheckpointComplete | NotifyCheckpointAborted):
                    task = self.tasks.get(msg.attempt_id)
                    if task is not None:
                        task.notify_checkpoint(msg.checkpoint_id,
                                               isinstance(msg, NotifyCheckpointComplete))
                elif isinstance(msg, ReleasePartitions):
                    self._release_partitions(msg)
                elif isinstance(msg, Request):
                    asyncio.create_task(self._answer(msg))
                elif isinstance(msg, ShutdownTaskManager):
                    log.info("shutdown requested: %s", msg.reason)
                    return True
        except (asyncio.IncompleteReadError, ConnectionError):
            return False
        finally:
            hb.cancel()
            conn.close()
            self.conn = None

    async def _cancel_tasks(self, timeout: float = 5.0) -> None:
        """Cancel every task and wait (bounded) for their threads to end."""
        for task in list(self.tasks.values()):
            task.cancel()
        deadline = time.monotonic() + timeout
        for task in list(self.tasks.values()):
            await asyncio.to_thread(task.join, max(0.0, deadline - time.monotonic()))
        self.tasks.clear()

    def _apply_limits(self, configuration: dict[str, object]) -> None:
        """The cluster's frame cap for data connections and the process size limit."""
        max_frame = int(str(configuration.get("taskmanager.network.max-frame-size")
                            or DEFAULT_MAX_FRAME_SIZE))
        self.security = ConnectionSecurity(self.secret, max_frame)
        self.data_server.security = self.security
        limit = str(configuration.get("taskmanager.memory.process.size") or "")
        if limit:
            self.memory_guard = MemoryGuard(parse_memory_size(limit), self._on_memory_exceeded)
            self.memory_guard.start()

    def _on_memory_exceeded(self, rss: int, limit: int) -> None:
        """From the guard's thread: fail every running task, as a memory limit would."""
        assert self.loop is not None

        def fail_all() -> None:
            for task in list(self.tasks.values()):
                task.fail_externally(MemoryLimitExceeded(rss, limit))
                self._watch_cancellation(task)

        self.loop.call_soon_threadsafe(fail_all)

    def _watch_cancellation(self, task: Task) -> None:
        """Flink's task cancellation watchdog: a task that ignores cancellation (a user
        function stuck in a call that never returns) cannot be stopped from outside its
        thread, so after ``task.cancellation.timeout`` the TaskManager process exits; the
        JobManager sees it lost and starts a fresh one."""
        if self.cancellation_timeout <= 0:
            return

        def check() -> None:
            if task.is_alive():
                log.error("task %s did not stop within %.0f s after cancel; the "
                          "TaskManager exits (task.cancellation.timeout)", task.name,
                          self.cancellation_timeout)
                logging.shutdown()
                os._exit(1)

        assert self.loop is not None
        self.loop.call_later(self.cancellation_timeout, check)

    def send_threadsafe(self, message: Message) -> None:
        """Send a message to the JobManager from any thread."""
        if self.loop is not None and self.conn is not None:
            self.loop.call_soon_threadsafe(self.conn.send_nowait, message)

    async def _answer(self, request: Request) -> None:
        """Run a request's handler (in a worker thread) and send the Response."""
        handler = self.request_handlers.get(type(request))
        try:
            if handler is None:
                raise NotImplementedError(f"no handler for {type(request).__name__}")
            payload = await asyncio.to_thread(handler, request)
            if isinstance(payload, concurrent.futures.Future):
                payload = await asyncio.wrap_future(payload)
            response = Response(request_id=request.request_id, payload=payload)
        except Exception as exc:  # noqa: BLE001 - the error travels back to the JobManager
            response = Response(request_id=request.request_id, error=f"{type(exc).__name__}: {exc}")
        if self.conn is not None:
            self.conn.send_nowait(response)

    def _deploy(self, msg: DeployTask) -> None:
        tdd = msg.tdd
        log.info("deploying %s (%d/%d) attempt %d", tdd.vertex_name, tdd.subtask_index + 1,
                 tdd.parallelism, tdd.attempt_number)
        if any(p.blocking for p in tdd.outputs):
            self.partition_dirs.setdefault(tdd.job_id, set()).update(
                job_partition_dirs(tdd.configuration, self.resource_id, tdd.job_id))
        try:
            task = Task(tdd, self.registry, self.host, self.resource_id, self._on_task_state,
                        self.send_threadsafe, self.security)
        except Exception as exc:  # noqa: BLE001
            assert self.conn is not None
            self.conn.send_nowait(TaskStateUpdate(
                attempt_id=tdd.attempt_id, state="FAILED",
                failure="".join(traceback.format_exception(exc)), timestamp=now_ms()))
            return
        self.tasks[tdd.attempt_id] = task
        task.start()

    def _release_partitions(self, msg: ReleasePartitions) -> asyncio.Future[int]:
        """Delete BLOCKING partitions of a job (their files, in a worker thread)."""
        everything = not msg.partition_ids and not msg.keep
        dirs = (self.partition_dirs.pop(msg.job_id, set()) if everything
                else self.partition_dirs.get(msg.job_id, set()))
        return asyncio.get_running_loop().run_in_executor(
            None, release_partitions, self.registry, msg.job_id, sorted(dirs),
            msg.partition_ids, msg.keep)

    def _release_all_partitions(self) -> None:
        """Delete the BLOCKING partitions of every job (the TaskManager stops)."""
        for job_id in list(self.partition_dirs):
            release_partitions(self.registry, job_id, sorted(self.partition_dirs.pop(job_id)))

    def _on_task_state(self, task: Task, state: str, failure: str | None = None) -> None:
        """Called from task threads."""
        ts = now_ms()
        final = state in ("FINISHED", "FAILED", "CANCELED")
        accumulators = encode_accumulators(task.accumulators) if final else {}
        io = self._io_report(task) if final else None
        update = TaskStateUpdate(attempt_id=task.attempt_id, state=state, io=io, failure=failure,
                                 accumulators=accumulators, timestamp=ts)
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._send_update, task, update, final)

    def _send_update(self, task: Task, update: TaskStateUpdate, final: bool) -> None:
        if final:
            self.tasks.pop(task.attempt_id, None)
        if self.conn is not None:
            self.conn.send_nowait(update)
        if final and not self.tasks:
            # Idle now: give what the job freed back to the system before the next one.
            asyncio.get_running_loop().run_in_executor(None, release_memory)

    def _io_report(self, task: Task) -> TaskIOReport:
        io = task.io_figures()
        m = task.metrics
        return TaskIOReport(
            attempt_id=task.attempt_id, read_bytes=io.read_bytes, write_bytes=io.write_bytes,
            read_records=io.read_records, write_records=io.write_records,
            metrics={"operatorRecordsIn": list(m.operator_records_in),
                     "operatorRecordsOut": list(m.operator_records_out),
                     "backPressuredTimeNs": io.back_pressured_ns})

    async def _heartbeat_loop(self) -> None:
        conn = self.conn
        assert conn is not None
        while True:
            try:
                reports = [self._io_report(t) for t in list(self.tasks.values())]
                await conn.send(Heartbeat(resource_id=self.resource_id,
                                               process=process_figures.process_figures(),
                                               tasks=reports))
            except (ConnectionError, RuntimeError):
                return
            await asyncio.sleep(self.heartbeat_interval)

    async def _shutdown(self) -> None:
        await self._cancel_tasks()
        self.data_server.close()
        await asyncio.to_thread(self._release_all_partitions)
        if self.memory_guard is not None:
            self.memory_guard.stop()
        self.thread_info_samples.shutdown()
        if self.conn is not None:
            self.conn.close()


#: Allocations between two young-generation collections of the cyclic GC in a
#: TaskManager. The record path allocates a few tuples per record, so Python's default
#: (700) runs a young collection (and the GC-time metric's callback) every ~250 records,
#: which cost 10-15% of wordcount's CPU; 20,000 makes that ~1%, and 20,000 young objects
#: are a few MB at most.
GC_YOUNG_THRESHOLD = 20_000


#: Seconds a thread may hold the GIL while another waits for it (Python's default: 5 ms).
#: A TaskManager runs several threads per task (task, source, network readers, the RPC
#: loop); one coming back from a socket call or a GIL-releasing numpy/pyarrow call waited
#: up to a whole interval for a busy one, which stalled columnar pipelines (the columnar
#: wordcount at P=2 ran in 0.38-0.43 s instead of 0.39-0.76 s) and slowed connection
#: set-up; the extra switches between busy threads cost no measurable CPU.
GIL_SWITCH_INTERVAL = 0.001


def tune_switch_interval() -> None:
    """Let threads waiting for the GIL get it sooner (see GIL_SWITCH_INTERVAL)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)


def tune_gc() -> None:
    """Collect the young generation less often, and move everything the process holds
    after start-up (modules, classes) out of the collector's reach (``gc.freeze``), so
    the older-generation collections only walk what tasks allocated."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
    gc.freeze()


def main(argv: list[str] | None = None) -> None:
    """Entry point of a TaskManager process."""
    parser = argparse.ArgumentParser(prog="headwater-taskmanager")
    parser.add_argument("--jobmanager", required=True, help="JobManager RPC address HOST:PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--data-port", type=int, default=0)
    parser.add_argument("--resource-id")
    parser.add_argument("--log-dir")
    parser.add_argument("--log-file", help="write the log here, rotated by size "
                        "(default: stderr)")
    parser.add_argument("--stdout-file", help="where this process's stdout goes (reported "
                        "as its stdout file)")
    parser.add_argument("--secret-file", help="the cluster secret (mode 600): every RPC and "
                        "data connection is authenticated with it")
    args = parser.parse_args(argv)
    tune_gc()
    tune_switch_interval()
    host, port = args.jobmanager.rsplit(":", 1)
    if args.log_file:
        configure_file_logging(args.log_file)
    else:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
    files = ProcessFiles(
        log=os.path.basename(args.log_file) if args.log_file else None,
        stdout=os.path.basename(args.stdout_file) if args.stdout_file else None)
    secret = read_secret_file(args.secret_file) if args.secret_file else None
    executor = TaskExecutor((host, int(port)), args.host, args.slots, args.data_port,
                            args.resource_id, args.log_dir, files, secret)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(executor.run())


if __name__ == "__main__":
    main()
