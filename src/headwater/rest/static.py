"""Serve the web dashboard's static files (package data under ``headwater/web``)."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_COMPRESSIBLE = {".html", ".js", ".css", ".svg", ".json"}
_ASSET_MAX_AGE = 3600


@dataclass(frozen=True)
class _Asset:
    body: bytes
    gzipped: bytes | None
    etag: str
    content_type: str


class StaticFiles:
    """Answer GET/HEAD for dashboard files, with gzip, ETag and Cache-Control."""

    def __init__(self, root: Path = WEB_ROOT) -> None:
        self.root = root.resolve()
        self._cache: dict[Path, tuple[float, _Asset]] = {}

    def _locate(self, path: str) -> Path | None:
        relative = path.lstrip("/") or "index.html"
        if "\x00" in relative:
            return None
        try:
            target = (self.root / relative).resolve()
        except (OSError, ValueError):
            return None
        if target.is_dir():  # /docs -> docs/index.html
            target = target / "index.html"
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target

    def _load(self, target: Path) -> _Asset:
        mtime = target.stat().st_mtime
        cached = self._cache.get(target)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        body = target.read_bytes()
        suffix = target.suffix.lower()
        content_type = _TYPES.get(suffix) or mimetypes.guess_type(target.name)[0] \
            or "application/octet-stream"
        gz = gzip.compress(body, mtime=0) if suffix in _COMPRESSIBLE else None
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        asset = _Asset(body, gz, etag, content_type)
        self._cache[target] = (mtime, asset)
        return asset

    def respond(self, request: web.Request) -> web.Response | None:
        """Return the response for a web file, or None when the path is not one."""
        if request.method not in ("GET", "HEAD"):
            return None
        target = self._locate(request.path)
        if target is None:
            return None
        asset = self._load(target)
        is_index = target.name == "index.html"
        headers = {
            "Content-Type": asset.content_type,
            "ETag": asset.etag,
            "Cache-Control": "no-cache" if is_index else f"public, max-age={_ASSET_MAX_AGE}",
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if asset.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        body = asset.body
        if asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return web.Response(headers=headers)
        return web.Response(body=body, headers=headers)
