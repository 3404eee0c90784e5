"""A local S3 server for tests (moto's, on 127.0.0.1), and the ``s3_server`` fixture.

    def test_checkpoints_on_s3(s3_server):
        bucket = s3_server.new_bucket()
        start_cluster(..., extra=s3_server.dynamic_properties())   # -D s3.endpoint=...
        ... f"s3://{bucket}/checkpoints" ...
        assert s3_server.keys(bucket, "out/")

Needs the ``test`` extra (``moto[server]``, ``s3fs``). Every process the test starts
reaches the server through the ``s3.*`` configuration keys the server hands out.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

ACCESS_KEY = "headwater-test"
SECRET_KEY = "headwater-test-secret"


class S3Server:
    """A running moto S3 server: its endpoint, configuration keys and a boto3 client."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - test extra only

        if not port:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.endpoint = f"http://{host}:{port}"
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._client: Any = None

    def start(self) -> S3Server:
        """Start serving (in a thread of this process)."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    @property
    def configuration(self) -> dict[str, str]:
        """The ``s3.*`` keys that point headwater at this server."""
        return {"s3.endpoint": self.endpoint, "s3.access-key": ACCESS_KEY,
                "s3.secret-key": SECRET_KEY, "s3.path.style.access": "true"}

    def dynamic_properties(self) -> tuple[str, ...]:
        """The configuration as ``-D key=value`` command line arguments."""
        return tuple(a for k, v in self.configuration.items() for a in ("-D", f"{k}={v}"))

    @property
    def client(self) -> Any:
        """A boto3 S3 client of this server."""
        if self._client is None:
            import boto3  # noqa: PLC0415

            self._client = boto3.client("s3", endpoint_url=self.endpoint,
                                        aws_access_key_id=ACCESS_KEY,
                                        aws_secret_access_key=SECRET_KEY,
                                        region_name="us-east-1")
        return self._client

    def new_bucket(self) -> str:
        """Create a bucket with a fresh name."""
        name = f"headwater-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under ``prefix``, sorted."""
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", ()))
        return sorted(keys)

    def read(self, bucket: str, key: str) -> bytes:
        """One object's content."""
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Write one object."""
        self.client.put_object(Bucket=bucket, Key=key, Body=data)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server on a free port of 127.0.0.1 for the whole test session; the
    process's storage settings point at it."""
    from headwater.runtime import filesystem  # noqa: PLC0415

    server = S3Server().start()
    filesystem.configure(server.configuration)
    try:
        yield server
    finally:
        filesystem.configure({})
        server.stop()
