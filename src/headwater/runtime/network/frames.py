"""Data-plane framing over blocking sockets.

A frame is ``!IB`` (payload length, kind) followed by the payload. DATA payloads are one
pickled batch ``(values, timestamps)`` (protocol 5); EVENT payloads a pickled event;
CREDIT payloads a ``!I`` count; REQUEST payloads msgpack.
"""

from __future__ import annotations

import pickle
import socket
import struct

HEADER = struct.Struct("!IB")
CREDIT = struct.Struct("!I")

DATA = 0
EVENT = 1
CREDIT_KIND = 2
REQUEST = 3
RESPONSE = 4


def dumps(obj) -> bytes:
    """Serialize a batch or event."""
    return pickle.dumps(obj, protocol=5)


loads = pickle.loads


def send_frame(sock: socket.socket, kind: int, payload: bytes) -> None:
    """Write one frame (blocking)."""
    sock.sendall(HEADER.pack(len(payload), kind) + payload if len(payload) < 4096
                 else HEADER.pack(len(payload), kind))
    if len(payload) >= 4096:
        sock.sendall(payload)


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


def recv_frame(sock: socket.socket) -> tuple[int, bytes]:
    """Read one frame: (kind, payload)."""
    length, kind = HEADER.unpack(recv_exactly(sock, HEADER.size))
    return kind, recv_exactly(sock, length) if length else b""
