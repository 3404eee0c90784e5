"""Exact-bytes HTTP requests for the tests: paths and multipart headers sent as written
(no client-side normalisation of ``..`` or percent escapes)."""

from __future__ import annotations

import http.client
import json
import uuid
from typing import Any


def raw_request(port: int, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    """(status, body, content type) of one request with ``path`` sent verbatim."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body or b"")
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("Content-Type", "")
    finally:
        conn.close()


def multipart_upload(port: int, path: str, filename: str, data: bytes,
                     field: str = "jarfile") -> tuple[int, Any]:
    """POST one file part whose ``filename`` header is exactly ``filename``."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/x-java-archive\r\n\r\n"
            ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    status, raw, ctype = raw_request(
        port, "POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return status, json.loads(raw) if "json" in ctype else raw
