"""Mutual challenge-response authentication of internal connections with the cluster secret.

Every RPC connection (TaskManager -> JobManager) and every data connection (consumer ->
producer's TaskManager) starts with this handshake, before the first frame is read, so a
peer without the secret gets nothing and can make the server allocate nothing::

    server -> client   MAGIC, nonce_s (32 random bytes)
    client -> server   nonce_c (32 random bytes), HMAC-SHA256(secret, "client" nonce_s nonce_c)
    server -> client   HMAC-SHA256(secret, "server" nonce_c nonce_s)

Each side proves that it knows the secret without sending it; fresh nonces on both sides
stop replays. The server closes a connection that fails or stalls (``timeout``) without
a word. The secret is generated per cluster (:func:`generate_secret`) and kept in a file
readable by its owner only (``security.cluster.secret-file``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import socket
from pathlib import Path

from headwater.private_files import read_private_text, write_private_text

MAGIC = b"HWAUTH1\n"
_NONCE = 32
_MAC = hashlib.sha256().digest_size
#: Seconds a peer has to complete the handshake.
DEFAULT_TIMEOUT = 10.0


class AuthenticationError(ConnectionError):
    """The peer did not prove that it knows the cluster secret."""


def generate_secret() -> bytes:
    """A fresh random cluster secret."""
    return secrets.token_bytes(32)


def write_secret_file(path: Path, secret: bytes) -> Path:
    """Write ``secret`` (hex) to ``path``, readable and writable by its owner only."""
    return write_private_text(path, secret.hex())


def read_secret_file(path: Path) -> bytes:
    """The secret in ``path``; refuses a file that others may read or write."""
    text = read_private_text(path, "the cluster secret file")
    try:
        secret = bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not a cluster secret (expected hex digits)") from exc
    if len(secret) < 16:
        raise ValueError(f"{path}: a cluster secret needs at least 16 bytes")
    return secret


def _mac(secret: bytes, role: bytes, first: bytes, second: bytes) -> bytes:
    return hmac.new(secret, role + first + second, hashlib.sha256).digest()


def _client_answer(secret: bytes, greeting: bytes) -> tuple[bytes, bytes]:
    if greeting[:len(MAGIC)] != MAGIC:
        raise AuthenticationError("the peer does not speak headwater's handshake")
    nonce_s = greeting[len(MAGIC):]
    nonce_c = secrets.token_bytes(_NONCE)
    return nonce_c + _mac(secret, b"client", nonce_s, nonce_c), nonce_s


def _check_server_proof(secret: bytes, nonce_s: bytes, nonce_c: bytes, proof: bytes) -> None:
    if not hmac.compare_digest(proof, _mac(secret, b"server", nonce_c, nonce_s)):
        raise AuthenticationError("the server does not know the cluster secret")


def _server_proof(secret: bytes, nonce_s: bytes, answer: bytes) -> bytes:
    nonce_c, mac = answer[:_NONCE], answer[_NONCE:]
    if not hmac.compare_digest(mac, _mac(secret, b"client", nonce_s, nonce_c)):
        raise AuthenticationError("the client does not know the cluster secret")
    return _mac(secret, b"server", nonce_c, nonce_s)


async def authenticate_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                              secret: bytes, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Server side on asyncio streams: AuthenticationError (or a timeout/EOF error) unless
    the client proves it knows ``secret``."""
    nonce_s = secrets.token_bytes(_NONCE)
    writer.write(MAGIC + nonce_s)
    async with asyncio.timeout(timeout):
        await writer.drain()
        answer = await reader.readexactly(_NONCE + _MAC)
    writer.write(_server_proof(secret, nonce_s, answer))
    await writer.drain()


async def authenticate_to_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                 secret: bytes, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Client side on asyncio streams."""
    async with asyncio.timeout(timeout):
        greeting = await reader.readexactly(len(MAGIC) + _NONCE)
        answer, nonce_s = _client_answer(secret, greeting)
        writer.write(answer)
        await writer.drain()
        proof = await reader.readexactly(_MAC)
    _check_server_proof(secret, nonce_s, answer[:_NONCE], proof)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AuthenticationError("the peer closed the connection during the handshake")
        data += chunk
    return bytes(data)


def authenticate_socket_client(sock: socket.socket, secret: bytes,
                               timeout: float = DEFAULT_TIMEOUT) -> None:
    """Server side on a blocking socket (the data server); restores the socket's timeout."""
    previous = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        nonce_s = secrets.token_bytes(_NONCE)
        sock.sendall(MAGIC + nonce_s)
        sock.sendall(_server_proof(secret, nonce_s, _recv_exactly(sock, _NONCE + _MAC)))
    finally:
        sock.settimeout(previous)


def authenticate_socket_to_server(sock: socket.socket, secret: bytes,
                                  timeout: float = DEFAULT_TIMEOUT) -> None:
    """Client side on a blocking socket (a data connection to a producer)."""
    previous = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        answer, nonce_s = _client_answer(secret, _recv_exactly(sock, len(MAGIC) + _NONCE))
        sock.sendall(answer)
        _check_server_proof(secret, nonce_s, answer[:_NONCE], _recv_exactly(sock, _MAC))
    finally:
        sock.settimeout(previous)
