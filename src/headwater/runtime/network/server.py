"""The TaskManager's data server: remote consumers connect here to read partitions."""

from __future__ import annotations

import logging
import socket
import threading

import msgspec

from headwater.runtime.network import frames
from headwater.runtime.network.blocking_partition import (
    BlockingResultPartition,
    SubpartitionReader,
)
from headwater.runtime.network.connection_security import ConnectionSecurity
from headwater.runtime.network.partition import PartitionRegistry, Subpartition
from headwater.runtime.rpc.handshake import AuthenticationError, authenticate_socket_client

log = logging.getLogger(__name__)


class DataServer:
    """Accepts consumer connections and attaches them to the requested subpartition.

    Protocol: with a cluster secret, the handshake of
    :mod:`~headwater.runtime.rpc.handshake` first (a peer that fails it is dropped
    unheard); then the consumer sends a REQUEST frame ``{"partition_id", "subpartition",
    "credits"}``; the server answers a RESPONSE frame ``{"ok": true}`` or
    ``{"ok": false, "error": ...}``, then the producer task writes DATA/EVENT frames and
    this server's connection thread reads CREDIT frames from the consumer. A BLOCKING
    partition is answered at once too; a reader of its own sends its file once the
    producer finished.
    """

    def __init__(self, registry: PartitionRegistry, host: str = "127.0.0.1", port: int = 0,
                 lookup_timeout: float = 60.0,
                 security: ConnectionSecurity | None = None) -> None:
        self.registry = registry
        self.security = security or ConnectionSecurity()
        self.lookup_timeout = lookup_timeout
        self._sock = socket.create_server((host, port), reuse_port=False)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="data-server", daemon=True)

    def start(self) -> None:
        """Start accepting connections."""
        self._thread.start()

    def close(self) -> None:
        """Stop accepting."""
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), name="data-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        max_frame = self.security.max_frame_size
        sub: Subpartition | SubpartitionReader | None = None
        try:
            if self.security.secret is not None:
                try:
                    authenticate_socket_client(conn, self.security.secret)
                except (AuthenticationError, OSError) as exc:
                    log.warning("refused a data connection: %s", exc)
                    return
            # A request is small: whatever a peer announces, nothing larger is read.
            kind, payload = frames.recv_frame(conn, min(max_frame, 64 * 1024))
            if kind != frames.REQUEST:
                raise ValueError("expected a partition request")
            req = msgspec.msgpack.decode(payload)
            try:
                partition = self.registry.wait_for(req["partition_id"], self.lookup_timeout)
                index = int(req["subpartition"])
                if isinstance(partition, BlockingResultPartition):
                    sub = partition.create_reader(index)
                else:
                    sub = partition.subpartitions[index]
            except (LookupError, IndexError) as exc:
                frames.send_frame(conn, frames.RESPONSE,
                                  msgspec.msgpack.encode({"ok": False, "error": str(exc)}))
                conn.close()
                return
            frames.send_frame(conn, frames.RESPONSE, msgspec.msgpack.encode({"ok": True}))
            sub.attach_remote(conn, int(req["credits"]))
            while True:
                kind, payload = frames.recv_frame(conn, frames.CREDIT.size)
                if kind == frames.CREDIT_KIND:
                    sub.add_credit(frames.CREDIT.unpack(payload)[0])
        except (ConnectionError, OSError):
            pass
        except Exception:  # noqa: BLE001 - a bad peer must not take the server down
            log.exception("data connection failed")
        finally:
            if isinstance(sub, SubpartitionReader):
                sub.stop()
            try:
                conn.close()
            except OSError:
                pass
