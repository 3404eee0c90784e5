"""Producer side of data exchange: result partitions, subpartitions and credits.

A task writes each output edge into a :class:`ResultPartition` with one
:class:`Subpartition` per consumer channel. A subpartition sends a buffer only when it
holds a credit granted by its consumer (credit-based flow control): a consumer that
falls behind stops granting, the producer blocks in :meth:`Subpartition.send`, and the
time it spends blocked is its back-pressure.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from headwater.runtime.network import arrow_ipc, frames
from headwater.runtime.network.buffers import Buffer, ChannelEvent, QueueItem, StreamEvent
from headwater.runtime.network.events import EndOfPartition

if TYPE_CHECKING:
    from headwater.runtime.network.blocking_partition import BlockingResultPartition


class TaskCancelled(Exception):
    """Raised inside a task thread when the task is being cancelled."""


class Subpartition:
    """One channel from this producer to one consumer subtask."""

    def __init__(self, partition: ResultPartition, index: int) -> None:
        self.partition = partition
        self.index = index
        self.credits = threading.Semaphore(0)
        self._attached = threading.Event()
        # Local consumer: (gate queue, channel index); remote: a socket.
        self._local: tuple[queue.SimpleQueue[QueueItem], int] | None = None
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self.closed = False

    # -- attaching the consumer -------------------------------------------------------

    def attach_local(self, gate_queue: queue.SimpleQueue[QueueItem], channel_index: int,
                     credits: int) -> None:
        """Connect a consumer in the same process."""
        self._local = (gate_queue, channel_index)
        for _ in range(credits):
            self.credits.release()
        self._attached.set()

    def attach_remote(self, sock: socket.socket, credits: int) -> None:
        """Connect a consumer behind a socket; its credits arrive via ``add_credit``."""
        self._sock = sock
        for _ in range(credits):
            self.credits.release()
        self._attached.set()

    def add_credit(self, n: int) -> None:
        """The consumer freed ``n`` buffers."""
        for _ in range(n):
            self.credits.release()

    # -- sending ----------------------------------------------------------------------

    def _wait_attached(self) -> None:
        deadline = time.monotonic() + self.partition.connect_timeout
        while not self._attached.wait(0.1):
            self.partition.check_cancelled()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"consumer of partition {self.partition.partition_id} subpartition "
                    f"{self.index} did not connect within {self.partition.connect_timeout:.0f}s"
                )

    def _acquire_credit(self) -> None:
        if self.credits.acquire(blocking=False):
            return
        start = time.perf_counter_ns()
        self.partition.blocked_since = start
        try:
            while not self.credits.acquire(timeout=0.05):
                self.partition.check_cancelled()
        finally:
            self.partition.blocked_since = 0
            self.partition.back_pressured_ns += time.perf_counter_ns() - start

    def send_batch(self, values: list[Any], timestamps: list[int] | None) -> int:
        """Send a batch (blocks for a credit). Returns the bytes put on the wire."""
        if not self._attached.is_set():
            self._wait_attached()
        self._acquire_credit()
        if self._local is not None:
            q, idx = self._local
            q.put(Buffer(idx, values, timestamps))
            return 0
        kind, payload = frames.dumps_batch((values, timestamps))
        with self._send_lock:
            frames.send_frame(self._socket(), kind, payload)
        return len(payload)

    def send_arrow(self, batch: Any) -> int:
        """Send one Arrow record batch as one buffer (blocks for a credit): the object to a
        local consumer, Arrow IPC bytes to a remote one. Returns the bytes put on the wire."""
        if not self._attached.is_set():
            self._wait_attached()
        self._acquire_credit()
        if self._local is not None:
            q, idx = self._local
            q.put(Buffer(idx, arrow_ipc.Batches([batch]), None))
            return 0
        payload = arrow_ipc.dumps(batch)
        with self._send_lock:
            frames.send_frame(self._socket(), frames.DATA_ARROW, payload)
        return len(payload)

    def _socket(self) -> socket.socket:
        assert self._sock is not None, "neither a local nor a remote consumer attached"
        return self._sock

    def send_event(self, event: StreamEvent) -> None:
        """Send an event; events need no credit (they are tiny and rare)."""
        if not self._attached.is_set():
            self._wait_attached()
        if self._local is not None:
            q, idx = self._local
            q.put(ChannelEvent(idx, event))
        else:
            with self._send_lock:
                frames.send_frame(self._socket(), frames.EVENT, frames.dumps(event))
        if isinstance(event, EndOfPartition):
            self.closed = True
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def release(self) -> None:
        """Drop the connection (task ended or failed)."""
        self._attached.set()
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass


class ResultPartition:
    """All subpartitions one producer attempt writes for one output edge."""

    def __init__(self, partition_id: str, num_subpartitions: int, cancelled: threading.Event,
                 connect_timeout: float = 60.0) -> None:
        self.partition_id = partition_id
        self.subpartitions = [Subpartition(self, i) for i in range(num_subpartitions)]
        self.cancelled = cancelled
        self.connect_timeout = connect_timeout
        self.back_pressured_ns = 0
        #: perf_counter_ns when the producer started waiting for credit (0: not waiting),
        #: so metrics see a wait while it lasts.
        self.blocked_since = 0

    def check_cancelled(self) -> None:
        """Raise TaskCancelled when the owning task is being cancelled."""
        if self.cancelled.is_set():
            raise TaskCancelled()

    def release(self) -> None:
        """Close every subpartition."""
        for sp in self.subpartitions:
            sp.release()


class PartitionRegistry:
    """Result partitions of this TaskManager, looked up by consumers (local or remote):
    pipelined ones while their task runs, BLOCKING ones until they are released."""

    def __init__(self) -> None:
        self._partitions: dict[str, ResultPartition | BlockingResultPartition] = {}
        self._cond = threading.Condition()

    def register(self, partition: ResultPartition | BlockingResultPartition) -> None:
        """Make a partition reachable."""
        with self._cond:
            self._partitions[partition.partition_id] = partition
            self._cond.notify_all()

    def unregister(self, partition_id: str) -> None:
        """Forget a partition."""
        with self._cond:
            self._partitions.pop(partition_id, None)

    def lookup(self, partition_id: str) -> ResultPartition | BlockingResultPartition | None:
        """The partition if it is registered now."""
        with self._cond:
            return self._partitions.get(partition_id)

    def partitions(self) -> list[ResultPartition | BlockingResultPartition]:
        """Every registered partition now."""
        with self._cond:
            return list(self._partitions.values())

    def wait_for(self, partition_id: str, timeout: float, cancelled: threading.Event | None = None
                 ) -> ResultPartition | BlockingResultPartition:
        """The partition, waiting until its producer registers it (LookupError on timeout,
        TaskCancelled when ``cancelled`` is set meanwhile)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while partition_id not in self._partitions:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LookupError(f"partition {partition_id} not found")
                if cancelled is not None and cancelled.is_set():
                    raise TaskCancelled()
                self._cond.wait(min(remaining, 0.1))
            return self._partitions[partition_id]
