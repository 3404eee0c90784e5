"""The cluster-secret handshake over real sockets: both sides must know the secret, a
silent or wrong peer is cut off, and the secret file must be private."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import pytest

from headwater.runtime.rpc import handshake
from headwater.runtime.rpc.handshake import AuthenticationError

SECRET = handshake.generate_secret()


def _socket_pair_server(server_secret: bytes, timeout: float = 2.0):
    """A listening socket whose accept thread runs the server side; returns (port, result)."""
    listener = socket.create_server(("127.0.0.1", 0))
    result: dict[str, object] = {}

    def serve():
        conn, _ = listener.accept()
        with conn:
            try:
                handshake.authenticate_socket_client(conn, server_secret, timeout)
                result["ok"] = True
                conn.sendall(b"payload")
            except (AuthenticationError, OSError) as exc:
                result["error"] = exc
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], result, thread


def test_blocking_sockets_with_the_same_secret_authenticate():
    port, result, thread = _socket_pair_server(SECRET)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        handshake.authenticate_socket_to_server(sock, SECRET)
        assert sock.recv(7) == b"payload"
    thread.join(5)
    assert result == {"ok": True}


def test_a_client_with_another_secret_gets_nothing():
    port, result, thread = _socket_pair_server(SECRET)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        with pytest.raises(AuthenticationError):
            handshake.authenticate_socket_to_server(sock, handshake.generate_secret())
    thread.join(5)
    assert isinstance(result["error"], AuthenticationError)
    assert "ok" not in result


def test_a_silent_peer_is_cut_off_after_the_timeout():
    port, result, thread = _socket_pair_server(SECRET, timeout=0.3)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        greeting = sock.recv(64)
        assert greeting.startswith(handshake.MAGIC)
        thread.join(5)
        assert not thread.is_alive()
        assert sock.recv(64) == b""  # closed without sending anything else
    assert isinstance(result["error"], OSError)


def test_a_raw_client_announcing_a_huge_frame_is_refused_before_any_read():
    port, result, thread = _socket_pair_server(SECRET)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.recv(64)
        sock.sendall(b"\xff\xff\xff\xff\x01" + b"\0" * 59)  # a frame header, not an answer
        assert sock.recv(64) == b""
    thread.join(5)
    assert isinstance(result["error"], AuthenticationError)


def test_asyncio_streams_authenticate_both_ways():
    async def main():
        outcome: list[object] = []

        async def on_client(reader, writer):
            try:
                await handshake.authenticate_client(reader, writer, SECRET, 2)
                outcome.append("ok")
            except (AuthenticationError, OSError, asyncio.IncompleteReadError) as exc:
                outcome.append(exc)
            writer.close()

        server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await handshake.authenticate_to_server(reader, writer, SECRET, 2)
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises((AuthenticationError, asyncio.IncompleteReadError)):
            await handshake.authenticate_to_server(reader, writer, b"x" * 32, 2)
        writer.close()
        await asyncio.sleep(0.1)  # let the server side finish the second connection
        server.close()
        await server.wait_closed()
        return outcome

    first, second = asyncio.run(main())
    assert first == "ok"
    assert isinstance(second, AuthenticationError)


def test_the_secret_file_is_private(tmp_path):
    path = handshake.write_secret_file(tmp_path / "cluster.secret", SECRET)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert handshake.read_secret_file(path) == SECRET
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="owner only"):
        handshake.read_secret_file(path)
