"""Data-plane framing over blocking sockets.

A frame is ``!IB`` (payload length, kind) followed by the payload. DATA payloads are one
pickled batch ``(values, timestamps)`` (protocol 5); EVENT payloads a pickled event;
CREDIT payloads a ``!I`` count; REQUEST payloads msgpack.
"""

from __future__ import annotations

import marshal
import pickle
import socket
import struct
from typing import Any

HEADER = struct.Struct("!IB")
#: Largest frame read unless the caller says otherwise (taskmanager.network.max-frame-size).
MAX_FRAME_SIZE = 256 * 1024 * 1024
CREDIT = struct.Struct("!I")

DATA = 0  # a pickled batch
EVENT = 1
CREDIT_KIND = 2
REQUEST = 3
RESPONSE = 4
DATA_MARSHAL = 5  # a batch of plain built-in values, marshalled (about twice as fast)
DATA_ARROW = 6  # one Arrow record batch as an Arrow IPC stream (arrow_ipc)


def dumps(obj: object) -> bytes:
    """Serialize a batch or event."""
    return pickle.dumps(obj, protocol=5)


def dumps_batch(batch: tuple[list[Any], list[int] | None]) -> tuple[int, bytes]:
    """Serialize ``(values, timestamps)``: marshal when every value is a plain built-in
    (exact tuples, lists, dicts, str, bytes, numbers...), else pickle."""
    try:
        return DATA_MARSHAL, marshal.dumps(batch, 4)
    except ValueError:
        return DATA, pickle.dumps(batch, protocol=5)


loads = pickle.loads


def send_frame(sock: socket.socket, kind: int, payload: bytes) -> None:
    """Write one frame (blocking) with as few system calls as possible: every call
    releases the GIL, and getting it back can cost a switch interval."""
    header = HEADER.pack(len(payload), kind)
    sent = sock.sendmsg([header, payload])
    total = len(header) + len(payload)
    if sent < total:
        rest = (header + payload)[sent:] if sent < len(header) else payload[sent - len(header):]
        sock.sendall(rest)


class FrameTooLarge(ConnectionError):
    """A peer announced a frame longer than the cap; the connection is dropped unread."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"a frame of {length} bytes announced, more than "
                         f"taskmanager.network.max-frame-size ({limit} bytes)")


def recv_exactly(sock: socket.socket, n: int) -> bytearray:
    """Read exactly n bytes; ConnectionError at EOF."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        r = sock.recv_into(view[got:], n - got)
        if r == 0:
            raise ConnectionError("connection closed by peer")
        got += r
    return buf


class FrameReader:
    """Reads frames through a large buffer: one system call (one GIL round trip)
    usually yields many frames."""

    def __init__(self, sock: socket.socket, buffer_size: int = 1 << 20,
                 max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.sock = sock
        self.max_frame_size = max_frame_size
        self.buf = bytearray(buffer_size)
        self.view = memoryview(self.buf)
        self.start = 0
        self.end = 0

    def _fill(self, need: int) -> None:
        """Make at least ``need`` unread bytes available."""
        if self.start + need > len(self.buf):
            pending = self.end - self.start
            if need > len(self.buf):
                new = bytearray(max(need, 2 * len(self.buf)))
                new[:pending] = self.buf[self.start:self.end]
                self.buf = new
                self.view = memoryview(self.buf)
            else:
                self.buf[:pending] = self.buf[self.start:self.end]
            self.start, self.end = 0, pending
        while self.end - self.start < need:
            n = self.sock.recv_into(self.view[self.end:])
            if n == 0:
                raise ConnectionError("connection closed by peer")
            self.end += n

    def read(self) -> tuple[int, bytes]:
        """The next frame: (kind, payload)."""
        self._fill(HEADER.size)
        length, kind = HEADER.unpack_from(self.buf, self.start)
        if length > self.max_frame_size:
            raise FrameTooLarge(length, self.max_frame_size)
        self.start += HEADER.size
        if length:
            self._fill(length)
        payload = bytes(self.view[self.start:self.start + length])
        self.start += length
        return kind, payload

    def buffered(self) -> bool:
        """Whether a whole frame is already buffered."""
        if self.end - self.start < HEADER.size:
            return False
        length: int = HEADER.unpack_from(self.buf, self.start)[0]
        return self.end - self.start >= HEADER.size + length


def recv_frame(sock: socket.socket, max_size: int = MAX_FRAME_SIZE) -> tuple[int, bytes]:
    """Read one frame: (kind, payload); FrameTooLarge (before reading it) when it
    announces more than ``max_size`` bytes."""
    length, kind = HEADER.unpack(recv_exactly(sock, HEADER.size))
    if length > max_size:
        raise FrameTooLarge(length, max_size)
    return kind, bytes(recv_exactly(sock, length)) if length else b""
