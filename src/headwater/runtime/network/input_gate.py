"""Consumer side of data exchange: one input gate per task with all its channels.

Every channel delivers typed items (:mod:`headwater.runtime.network.buffers`) into the
gate's single queue: a :class:`Buffer` of values from a local producer, a
:class:`SerializedBuffer` with its decoder from a remote one, or a :class:`ChannelEvent`.
Reading a data buffer returns one credit to the channel's producer.
"""

from __future__ import annotations

import marshal
import pickle
import queue
import socket
import threading
import time
from typing import cast

import msgspec

from headwater.runtime.network import arrow_ipc, frames
from headwater.runtime.network.blocking_partition import (
    BlockingResultPartition,
    SubpartitionReader,
)
from headwater.runtime.network.buffers import (
    ChannelEvent,
    Decoder,
    QueueItem,
    SerializedBuffer,
    StreamEvent,
)
from headwater.runtime.network.connection_security import ConnectionSecurity
from headwater.runtime.network.events import ChannelError, EndOfPartition
from headwater.runtime.network.partition import PartitionRegistry, Subpartition, TaskCancelled
from headwater.runtime.rpc.handshake import authenticate_socket_to_server

marshal_loads = cast(Decoder, marshal.loads)
pickle_loads = cast(Decoder, pickle.loads)


class LocalInputChannel:
    """A channel from a producer in the same TaskManager: objects, no serialization."""

    def __init__(self, gate: InputGate, index: int, partition_id: str, subpartition: int) -> None:
        self.gate = gate
        self.index = index
        self.partition_id = partition_id
        self.subpartition_index = subpartition
        self._sub: Subpartition | SubpartitionReader | None = None

    def connect(self, registry: PartitionRegistry, timeout: float) -> None:
        """Attach to the producer's subpartition (waits for it to be registered); a
        BLOCKING partition gets a reader of its own."""
        partition = registry.wait_for(self.partition_id, timeout, self.gate.cancelled)
        if isinstance(partition, BlockingResultPartition):
            reader = partition.create_reader(self.subpartition_index)
            reader.attach_local(self.gate.queue, self.index, self.gate.credits_per_channel,
                                self.gate.cancelled)
            self._sub = reader
            return
        sub = partition.subpartitions[self.subpartition_index]
        sub.attach_local(self.gate.queue, self.index, self.gate.credits_per_channel)
        self._sub = sub

    def return_credit(self) -> None:
        """One buffer was consumed."""
        assert self._sub is not None
        self._sub.credits.release()

    def close(self) -> None:
        """Stop the reader of a blocking partition (nothing to release otherwise)."""
        if isinstance(self._sub, SubpartitionReader):
            self._sub.stop()


class RemoteInputChannel:
    """A channel from a producer in another TaskManager, over TCP."""

    def __init__(self, gate: InputGate, index: int, partition_id: str, subpartition: int,
                 host: str, port: int) -> None:
        self.gate = gate
        self.index = index
        self.partition_id = partition_id
        self.subpartition_index = subpartition
        self.address = (host, port)
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._closing = False
        self.bytes_received = 0
        self._unannounced = 0
        self._announce_every = max(1, gate.credits_per_channel // 2)

    def connect(self, registry: PartitionRegistry, timeout: float) -> None:
        """Open the connection, request the subpartition and start the reader thread."""
        sock = socket.create_connection(self.address, timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        security = self.gate.security
        if security.secret is not None:
            try:
                authenticate_socket_to_server(sock, security.secret, timeout)
            except BaseException:
                sock.close()
                raise
        request = {"partition_id": self.partition_id, "subpartition": self.subpartition_index,
                   "credits": self.gate.credits_per_channel}
        frames.send_frame(sock, frames.REQUEST, msgspec.msgpack.encode(request))
        sock.settimeout(0.1)
        deadline = time.monotonic() + timeout
        while True:  # wait for the answer, staying cancellable
            try:
                header = sock.recv(1, socket.MSG_PEEK)
                if not header:
                    raise ConnectionError("connection closed during partition request")
                break
            except TimeoutError:
                if self.gate.cancelled.is_set():
                    sock.close()
                    raise TaskCancelled() from None
                if time.monotonic() > deadline:
                    sock.close()
                    raise
        sock.settimeout(timeout)
        kind, payload = frames.recv_frame(sock, 64 * 1024)
        answer = msgspec.msgpack.decode(payload)
        if kind != frames.RESPONSE or not answer.get("ok"):
            sock.close()
            raise ConnectionError(
                f"partition {self.partition_id} at {self.address[0]}:{self.address[1]}: "
                f"{answer.get('error', 'bad response')}")
        sock.settimeout(None)
        self._sock = sock
        self._reader = threading.Thread(target=self._read_loop, name=f"input-{self.index}",
                                        daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        q = self.gate.queue
        idx = self.index
        assert self._sock is not None
        reader = frames.FrameReader(self._sock, max_frame_size=self.gate.security.max_frame_size)
        try:
            while True:
                kind, payload = reader.read()
                self.bytes_received += len(payload)
                if kind == frames.DATA_MARSHAL:
                    q.put(SerializedBuffer(idx, payload, marshal_loads))  # the task decodes
                elif kind == frames.DATA:
                    q.put(SerializedBuffer(idx, payload, pickle_loads))
                elif kind == frames.DATA_ARROW:
                    q.put(SerializedBuffer(idx, payload, arrow_ipc.loads))
                elif kind == frames.EVENT:
                    event: StreamEvent = frames.loads(payload)
                    q.put(ChannelEvent(idx, event))
                    if type(event) is EndOfPartition:
                        return
        except (ConnectionError, OSError) as exc:
            if not self._closing:
                host, port = self.address
                q.put(ChannelEvent(idx, ChannelError(
                    f"Connection unexpectedly closed by remote task manager '{host}:{port}'. "
                    f"This might indicate that the remote task manager was lost. ({exc})")))

    def return_credit(self) -> None:
        """One buffer was consumed; credits go back to the producer in groups of half the
        window, to spend fewer system calls."""
        self._unannounced += 1
        if self._unannounced >= self._announce_every:
            n, self._unannounced = self._unannounced, 0
            assert self._sock is not None
            try:
                frames.send_frame(self._sock, frames.CREDIT_KIND, frames.CREDIT.pack(n))
            except OSError:
                pass

    def close(self) -> None:
        """Close the connection."""
        self._closing = True
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass


class InputGate:
    """All input channels of a task, merged into one queue in arrival order."""

    def __init__(self, credits_per_channel: int, cancelled: threading.Event,
                 security: ConnectionSecurity | None = None) -> None:
        #: The cluster secret and frame cap of remote channels.
        self.security = security or ConnectionSecurity()
        #: Buffers and events of every channel, and the task's mails, in arrival order.
        self.queue: queue.SimpleQueue[QueueItem] = queue.SimpleQueue()
        self.cancelled = cancelled
        self.credits_per_channel = credits_per_channel
        self.channels: list[LocalInputChannel | RemoteInputChannel] = []
        #: channel index -> input number (which logical input the channel belongs to)
        self.input_of_channel: list[int] = []

    def add_channel(self, input_number: int, partition_id: str, subpartition: int, host: str,
                    port: int, local: bool) -> None:
        """Declare a channel; ``connect`` opens them all."""
        idx = len(self.channels)
        ch: LocalInputChannel | RemoteInputChannel
        if local:
            ch = LocalInputChannel(self, idx, partition_id, subpartition)
        else:
            ch = RemoteInputChannel(self, idx, partition_id, subpartition, host, port)
        self.channels.append(ch)
        self.input_of_channel.append(input_number)

    def connect(self, registry: PartitionRegistry, timeout: float) -> None:
        """Connect every channel."""
        for ch in self.channels:
            ch.connect(registry, timeout)

    def close(self) -> None:
        """Close every channel."""
        for ch in self.channels:
            ch.close()

    @property
    def bytes_received(self) -> int:
        """Bytes read from remote channels."""
        return sum(ch.bytes_received for ch in self.channels
                   if isinstance(ch, RemoteInputChannel))
