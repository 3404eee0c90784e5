"""A TaskManager's data server: without the cluster secret a peer gets nothing, and no
announced frame length is allocated beyond the cap."""

from __future__ import annotations

import socket
import struct

import pytest

from headwater.runtime.network import frames
from headwater.runtime.network.connection_security import ConnectionSecurity
from headwater.runtime.network.partition import PartitionRegistry
from headwater.runtime.network.server import DataServer
from headwater.runtime.rpc import handshake
from headwater.runtime.taskmanager.memory_guard import resident_bytes

SECRET = handshake.generate_secret()


@pytest.fixture
def server():
    s = DataServer(PartitionRegistry(), lookup_timeout=0.5,
                   security=ConnectionSecurity(SECRET, max_frame_size=1 << 20))
    s.start()
    yield s
    s.close()


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def test_a_peer_without_the_secret_gets_nothing(server):
    rss = resident_bytes()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        greeting = sock.recv(64)
        assert greeting.startswith(handshake.MAGIC)
        # three 5-byte headers announcing 1 GiB each, instead of a handshake answer
        sock.sendall(struct.pack("!IB", 1 << 30, frames.DATA) * 3 + b"\0" * 49)
        assert _closed(sock)
    assert resident_bytes() - rss < 50 * 2**20


def test_an_authenticated_peer_announcing_a_huge_frame_is_dropped_unread(server):
    rss = resident_bytes()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        handshake.authenticate_socket_to_server(sock, SECRET)
        sock.sendall(frames.HEADER.pack(1 << 30, frames.REQUEST))
        assert _closed(sock)
    assert resident_bytes() - rss < 50 * 2**20


def test_an_authenticated_request_for_an_unknown_partition_is_answered(server):
    import msgspec

    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        handshake.authenticate_socket_to_server(sock, SECRET)
        frames.send_frame(sock, frames.REQUEST, msgspec.msgpack.encode(
            {"partition_id": "nope", "subpartition": 0, "credits": 1}))
        kind, payload = frames.recv_frame(sock)
    assert kind == frames.RESPONSE
    assert msgspec.msgpack.decode(payload)["ok"] is False


def test_the_frame_reader_refuses_frames_over_the_cap():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frames.HEADER.pack(10_000, frames.DATA))
        reader = frames.FrameReader(b, buffer_size=1024, max_frame_size=4096)
        with pytest.raises(frames.FrameTooLarge, match="max-frame-size"):
            reader.read()
        assert len(reader.buf) == 1024  # nothing was allocated for it
