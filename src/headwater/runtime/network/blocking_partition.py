"""BLOCKING result partitions (Flink's ``ResultPartitionType.BLOCKING``): files, not flows.

A producer writes each subpartition of a blocking partition to its own file,
``<tmp>/headwater-partitions-<resource id>/<job id>/<partition id>/<subpartition>.bin``
under one of ``taskmanager.tmp.dirs``, in the frames the remote path sends (DATA,
DATA_MARSHAL and DATA_ARROW buffers, EVENT frames). Writing never waits: no consumer, no
credits, no back-pressure. When the producer task finishes, the partition is *finished*
and outlives the task in the TaskManager's
:class:`~headwater.runtime.network.partition.PartitionRegistry`; when it fails or is
cancelled, its files are deleted. Every consumer attach creates a
:class:`SubpartitionReader` that waits until the partition is finished, then replays the
file honouring the consumer's credits, so reads are repeatable and concurrent. The files
stay until :func:`release_partitions` (the JobManager's ``ReleasePartitions``) deletes
them.
"""

from __future__ import annotations

import logging
import marshal
import os
import pickle
import queue
import re
import shutil
import socket
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from headwater.config import tmp_dirs
from headwater.runtime.network import arrow_ipc, frames
from headwater.runtime.network.buffers import (
    ChannelEvent,
    Decoder,
    QueueItem,
    SerializedBuffer,
    StreamEvent,
)
from headwater.runtime.network.events import ChannelError, CheckpointBarrier, EndOfPartition
from headwater.runtime.network.partition import PartitionRegistry, TaskCancelled

log = logging.getLogger(__name__)

#: Prefix of a TaskManager's partition directory in each of ``taskmanager.tmp.dirs``.
PARTITIONS_DIR_PREFIX = "headwater-partitions-"
#: Write and read buffer of a subpartition file: one system call per this many bytes
#: (a few buffers of records). Allocated per file and per reader, so a wide exchange
#: (many subpartitions, many channels) keeps it small.
FILE_BUFFER_SIZE = 64 * 1024

_DECODERS: dict[int, Decoder] = {
    frames.DATA_MARSHAL: cast(Decoder, marshal.loads),
    frames.DATA: cast(Decoder, pickle.loads),
    frames.DATA_ARROW: arrow_ipc.loads,
}


# -- where the files live ----------------------------------------------------------------


def job_partition_dirs(config: Mapping[str, Any], resource_id: str, job_id: str) -> list[str]:
    """Every directory in which the TaskManager ``resource_id`` keeps partitions of a job
    (one per tmp dir)."""
    name = PARTITIONS_DIR_PREFIX + re.sub(r"[^A-Za-z0-9._-]", "_", resource_id)
    return [os.path.join(d, name, job_id)
            for d in tmp_dirs(config) or [tempfile.gettempdir()]]


def partition_dir(config: Mapping[str, Any], resource_id: str, job_id: str,
                  partition_id: str) -> str:
    """The directory of one partition's files (partitions spread over the tmp dirs)."""
    dirs = job_partition_dirs(config, resource_id, job_id)
    return os.path.join(dirs[zlib.crc32(partition_id.encode()) % len(dirs)], partition_id)


# -- writing -----------------------------------------------------------------------------


class BlockingSubpartition:
    """The file of one consumer channel; the writer-facing side of :class:`Subpartition`
    (``send_batch``, ``send_arrow``, ``send_event``), without credits."""

    def __init__(self, partition: BlockingResultPartition, index: int, path: str) -> None:
        self.partition = partition
        self.index = index
        self.path = path
        self._file = open(path, "wb", buffering=FILE_BUFFER_SIZE)
        #: Whether EndOfPartition was written.
        self.closed = False
        #: Readers created so far.
        self.readers = 0

    def _write(self, kind: int, payload: Any) -> int:
        write = self._file.write
        write(frames.HEADER.pack(len(payload), kind))
        write(payload)
        return len(payload)

    def send_batch(self, values: list[Any], timestamps: list[int] | None) -> int:
        """Append a batch; returns the bytes written (without the frame header)."""
        kind, payload = frames.dumps_batch((values, timestamps))
        return self._write(kind, payload)

    def send_arrow(self, batch: Any) -> int:
        """Append one Arrow record batch as an IPC stream; returns the bytes written."""
        return self._write(frames.DATA_ARROW, arrow_ipc.dumps(batch))

    def send_event(self, event: StreamEvent) -> None:
        """Append an event. Checkpoint barriers too: the consumer aligns on them when it
        reads the file, so checkpoints complete, only later (see
        :class:`SubpartitionReader` for readers that come later still)."""
        self._write(frames.EVENT, frames.dumps(event))
        if type(event) is EndOfPartition:
            self.closed = True

    def close_file(self) -> None:
        """Flush and close the file."""
        self._file.close()


class BlockingResultPartition:
    """A BLOCKING partition of one producer attempt: one file per subpartition.

    States: written (the task runs), *finished* (the task finished: readable until
    released) or *released* (files deleted)."""

    def __init__(self, partition_id: str, job_id: str, num_subpartitions: int,
                 directory: str, cancelled: threading.Event) -> None:
        self.partition_id = partition_id
        self.job_id = job_id
        self.directory = directory
        self.cancelled = cancelled
        #: Always 0: writing a file never waits for a consumer (metrics read these).
        self.back_pressured_ns = 0
        self.blocked_since = 0
        self._cond = threading.Condition()
        self.finished = False
        self.released = False
        os.makedirs(directory, exist_ok=True)
        self.subpartitions: list[BlockingSubpartition] = []
        try:
            for i in range(num_subpartitions):
                self.subpartitions.append(
                    BlockingSubpartition(self, i, os.path.join(directory, f"{i}.bin")))
        except BaseException:
            self.release()
            raise

    def check_cancelled(self) -> None:
        """Raise TaskCancelled when the owning task is being cancelled."""
        if self.cancelled.is_set():
            raise TaskCancelled()

    def finish(self) -> None:
        """The producer finished: flush the files and let readers in."""
        for sp in self.subpartitions:
            sp.close_file()
        with self._cond:
            self.finished = True
            self._cond.notify_all()

    def release(self) -> None:
        """Delete the files (the producer failed, or the JobManager released the
        partition); readers still waiting for it report the consumer an error."""
        with self._cond:
            self.released = True
            self._cond.notify_all()
        for sp in self.subpartitions:
            try:
                sp.close_file()
            except OSError:
                pass
        shutil.rmtree(self.directory, ignore_errors=True)

    def wait_finished(self, stop: Callable[[], bool]) -> bool:
        """Wait until the partition is finished (True); False when it was released first
        or ``stop()`` became true."""
        with self._cond:
            while not self.finished:
                if self.released or stop():
                    return False
                self._cond.wait(0.1)
            return not self.released

    def create_reader(self, subpartition: int) -> SubpartitionReader:
        """A new reader of one subpartition's file (IndexError for a bad index)."""
        sub = self.subpartitions[subpartition]
        with self._cond:
            sub.readers += 1
            first = sub.readers == 1
        return SubpartitionReader(self, sub, with_barriers=first)


# -- reading -----------------------------------------------------------------------------


class SubpartitionReader:
    """Replays one subpartition file to one consumer in a thread of its own: a data
    buffer only for a credit, events freely. Attached like a pipelined
    :class:`~headwater.runtime.network.partition.Subpartition` (``attach_local``,
    ``attach_remote``, ``add_credit``, and ``credits`` released by a local channel).

    Only the first reader of a subpartition gets its checkpoint barriers: a later one
    serves a restarted consumer that did not restore those checkpoints, and a snapshot
    it took on an old barrier would overwrite that checkpoint's state file."""

    def __init__(self, partition: BlockingResultPartition, sub: BlockingSubpartition,
                 with_barriers: bool = True) -> None:
        self.partition = partition
        self.with_barriers = with_barriers
        self.path = sub.path
        self.index = sub.index
        self.credits = threading.Semaphore(0)
        self._stopped = threading.Event()
        self._cancelled: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def add_credit(self, n: int) -> None:
        """The consumer freed ``n`` buffers."""
        self.credits.release(n)

    def stop(self) -> None:
        """The consumer went away: stop replaying."""
        self._stopped.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the reader thread."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _should_stop(self) -> bool:
        cancelled = self._cancelled
        return self._stopped.is_set() or (cancelled is not None and cancelled.is_set())

    def _start(self, target: Callable[[], None], credits: int) -> None:
        if credits > 0:
            self.credits.release(credits)
        self._thread = threading.Thread(
            target=target, daemon=True,
            name=f"partition-reader {self.partition.partition_id}/{self.index}")
        self._thread.start()

    def attach_local(self, gate_queue: queue.SimpleQueue[QueueItem], channel_index: int,
                     credits: int, cancelled: threading.Event | None = None) -> None:
        """Replay into a consumer's gate queue in this process: serialized buffers that
        the consumer's task thread decodes, events as ChannelEvents, a ChannelError when
        the partition is lost before it finished. ``cancelled``: the consumer's."""
        self._cancelled = cancelled

        def emit(kind: int, payload: bytes) -> None:
            if kind == frames.EVENT:
                gate_queue.put(ChannelEvent(channel_index, frames.loads(payload)))
            else:
                gate_queue.put(SerializedBuffer(channel_index, payload, _DECODERS[kind]))

        def run() -> None:
            try:
                if self._replay(emit):
                    return
                reason = "its producer failed or it was released"
            except (OSError, ValueError) as exc:
                reason = str(exc)
            if not self._should_stop():
                gate_queue.put(ChannelEvent(channel_index, ChannelError(
                    f"blocking partition {self.partition.partition_id} subpartition "
                    f"{self.index} cannot be read: {reason}")))

        self._start(run, credits)

    def attach_remote(self, sock: socket.socket, credits: int) -> None:
        """Replay the frames onto a consumer's socket; further credits arrive via
        ``add_credit``. The socket is closed (the consumer sees a broken channel) when the
        partition is lost before it finished."""

        def emit(kind: int, payload: bytes) -> None:
            frames.send_frame(sock, kind, payload)

        def run() -> None:
            try:
                complete = self._replay(emit)
            except (OSError, ValueError) as exc:
                if not self._should_stop():  # else the consumer hung up
                    log.warning("reading blocking partition %s/%d failed: %s",
                                self.partition.partition_id, self.index, exc)
                complete = False
            try:
                # SHUT_RDWR also wakes the server thread blocked reading credits.
                sock.shutdown(socket.SHUT_WR if complete else socket.SHUT_RDWR)
            except OSError:
                pass

        self._start(run, credits)

    def _replay(self, emit: Callable[[int, bytes], None]) -> bool:
        """Send the file frame by frame; True when all of it was sent."""
        if not self.partition.wait_finished(self._should_stop):
            return False
        header_size = frames.HEADER.size
        unpack = frames.HEADER.unpack
        with open(self.path, "rb", buffering=FILE_BUFFER_SIZE) as f:
            while True:
                header = f.read(header_size)
                if not header:
                    return True
                if len(header) < header_size:
                    raise ValueError(f"{self.path} is truncated")
                length, kind = unpack(header)
                payload = f.read(length)
                if len(payload) < length:
                    raise ValueError(f"{self.path} is truncated")
                if kind != frames.EVENT:
                    if not self._acquire_credit():
                        return False
                elif not self.with_barriers and type(frames.loads(payload)) is CheckpointBarrier:
                    continue
                emit(kind, payload)
                if self._stopped.is_set():
                    return False

    def _acquire_credit(self) -> bool:
        if self.credits.acquire(blocking=False):
            return True
        while not self.credits.acquire(timeout=0.05):
            if self._should_stop():
                return False
        return True


# -- release -----------------------------------------------------------------------------


def release_partitions(registry: PartitionRegistry, job_id: str, job_dirs: Iterable[str],
                       partition_ids: Iterable[str] = (), keep: Iterable[str] = ()) -> int:
    """Delete blocking partitions of one job from the registry and the disk: those in
    ``partition_ids``, or, when it is empty, every one except those in ``keep``.
    ``job_dirs`` are where the job's files may be (:func:`job_partition_dirs`); files
    there that no registered partition owns (a task that failed while it was being
    deployed) go too. Returns how many registered partitions were released."""
    wanted = set(partition_ids)
    kept = set(keep)

    def doomed(pid: str) -> bool:
        return pid not in kept and (not wanted or pid in wanted)

    released = 0
    for partition in registry.partitions():
        if isinstance(partition, BlockingResultPartition) and partition.job_id == job_id \
                and doomed(partition.partition_id):
            registry.unregister(partition.partition_id)
            partition.release()
            released += 1
    for job_dir in job_dirs:
        try:
            names = os.listdir(job_dir)
        except FileNotFoundError:
            continue
        for pid in names:
            if doomed(pid):
                shutil.rmtree(os.path.join(job_dir, pid), ignore_errors=True)
        if not wanted and not kept:
            for path in (job_dir, os.path.dirname(job_dir)):
                try:
                    os.rmdir(path)  # only when empty: other jobs may still have files
                except OSError:
                    break
    return released
