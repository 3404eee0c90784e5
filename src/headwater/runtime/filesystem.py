"""File systems by URL, as Flink's ``FileSystem``: local paths and fsspec URLs.

A location is a string. A plain path or a ``file:`` URL (``file:/x``, ``file:///x``) is
the local file system, handled with ``os`` calls (temporary file, fsync, rename). Any
other ``scheme://...`` is opened with fsspec: ``s3://bucket/prefix`` (s3fs),
``gs://...``, ``memory://...`` (one process only: for tests)...

    fs, path = filesystem.resolve("s3://bucket/checkpoints")
    filesystem.write_atomic("s3://bucket/x/_metadata", data)

S3 settings come from Flink's configuration keys (:data:`S3_KEYS`), applied with
:func:`configure` in every process that touches storage (the JobManager at start, a
TaskManager when it deploys a task: the keys travel in the job's task configuration).
Without them s3fs reads the usual ``AWS_*`` environment variables and files.

On object stores there is no rename: :func:`write_atomic` writes the whole object in one
request to its final key, so a reader sees either nothing or all of it.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Mapping
from typing import Any

#: Flink's S3 keys -> what they set in s3fs's arguments.
S3_KEYS = ("s3.endpoint", "s3.access-key", "s3.secret-key", "s3.path.style.access")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_lock = threading.Lock()
_options: dict[str, dict[str, Any]] = {}


class FileSystemError(OSError):
    """A location cannot be resolved, read or written."""


def configure(configuration: Mapping[str, Any]) -> None:
    """Take the storage settings (``s3.*`` keys) of ``configuration`` for this process."""
    # Other processes write the same prefixes: never answer from a stale listing.
    s3: dict[str, Any] = {"use_listings_cache": False}
    endpoint = str(configuration.get("s3.endpoint") or "")
    if endpoint:
        s3.setdefault("client_kwargs", {})["endpoint_url"] = endpoint
    if configuration.get("s3.access-key"):
        s3["key"] = str(configuration["s3.access-key"])
    if configuration.get("s3.secret-key"):
        s3["secret"] = str(configuration["s3.secret-key"])
    if str(configuration.get("s3.path.style.access", "")).lower() in ("true", "1"):
        s3["config_kwargs"] = {"s3": {"addressing_style": "path"}}
    with _lock:
        _options["s3"] = s3
        _options["s3a"] = s3


def storage_options(protocol: str) -> dict[str, Any]:
    """The fsspec arguments configured for ``protocol`` (a copy)."""
    with _lock:
        return dict(_options.get(protocol, {}))


def protocol_of(location: str | os.PathLike) -> str:
    """``"file"`` for a local location, else the URL scheme (``"s3"``, ``"memory"``...)."""
    text = os.fspath(location)
    m = _SCHEME.match(text)
    return m.group(1).lower() if m else "file"


def is_local(location: str | os.PathLike) -> bool:
    """Whether ``location`` is on the local file system (a path or a ``file:`` URL)."""
    return protocol_of(location) == "file"


def local_path(location: str | os.PathLike) -> str:
    """The local path of ``file:/x``, ``file:///x`` or ``/x``."""
    text = os.fspath(location)
    if text.startswith("file://"):
        return text[len("file://"):]
    if text.startswith("file:"):
        return text[len("file:"):]
    if not is_local(text):
        raise FileSystemError(f"{text!r} is not a local path")
    return text


def resolve(location: str | os.PathLike) -> tuple[Any, str]:
    """The fsspec file system of ``location`` and the path inside it. Raises
    :class:`FileSystemError` for an unknown scheme or a missing implementation."""
    text = os.fspath(location)
    protocol = protocol_of(text)
    if protocol == "file":
        text = local_path(text)
    import fsspec  # noqa: PLC0415 - a light import, but only where storage is used
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except ValueError as exc:
        raise FileSystemError(f"unknown file system scheme {protocol!r} in {text!r} "
                              "(fsspec knows no implementation of it)") from exc
    except ImportError as exc:
        raise FileSystemError(f"cannot open {text!r}: {exc}") from exc
    try:
        fs = cls(**storage_options(protocol))
    except Exception as exc:  # noqa: BLE001 - any constructor failure is a config problem
        raise FileSystemError(f"cannot open {text!r}: {type(exc).__name__}: {exc}") from exc
    return fs, fs._strip_protocol(text)


def join(location: str | os.PathLike, *names: str) -> str:
    """``location`` followed by ``names`` with "/" (URLs) or the OS separator (paths)."""
    text = os.fspath(location)
    if is_local(text):
        return os.path.join(text, *names)
    return "/".join([text.rstrip("/"), *names])


def split(location: str) -> tuple[str, str]:
    """(parent, last name) of ``location``."""
    if is_local(location):
        return os.path.split(location)
    parent, _, name = location.rstrip("/").rpartition("/")
    return parent, name


def write_atomic(location: str, data: bytes) -> None:
    """Write ``data`` so that ``location`` is never seen half-written: locally to a
    temporary file, fsync, rename; elsewhere in one request (one object PUT)."""
    if is_local(location):
        path = local_path(location)
        directory, name = os.path.split(path)
        os.makedirs(directory or ".", exist_ok=True)
        tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
        return
    fs, path = resolve(location)
    _remote(fs.pipe_file, location, path, data)


def read_bytes(location: str) -> bytes:
    """The whole content of ``location`` (FileNotFoundError when it does not exist)."""
    if is_local(location):
        with open(local_path(location), "rb") as f:
            return f.read()
    fs, path = resolve(location)
    return bytes(_remote(fs.cat_file, location, path))


def exists(location: str) -> bool:
    """Whether something (file, object or directory/prefix) exists at ``location``."""
    if is_local(location):
        return os.path.exists(local_path(location))
    fs, path = resolve(location)
    return bool(_remote(fs.exists, location, path))


def remove_tree(location: str) -> None:
    """Delete ``location`` and everything under it (what is already gone is ignored)."""
    if is_local(location):
        import shutil  # noqa: PLC0415
        shutil.rmtree(local_path(location), ignore_errors=True)
        return
    fs, path = resolve(location)
    try:
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001 - the store's own errors
        raise FileSystemError(f"could not delete {location}: {type(exc).__name__}: "
                              f"{exc}") from exc


def check_writable(location: str) -> None:
    """Fail with a clear :class:`FileSystemError` unless objects can be written to and
    deleted from ``location`` (unknown scheme, missing package, unreachable endpoint,
    missing bucket, no permission)."""
    probe = join(location, f".headwater-probe-{uuid.uuid4().hex[:12]}")
    try:
        if is_local(location):
            os.makedirs(local_path(location), exist_ok=True)
        write_atomic(probe, b"probe")
        if is_local(probe):
            os.remove(local_path(probe))
        else:
            fs, path = resolve(probe)
            _remote(fs.rm_file, probe, path)
    except FileSystemError as exc:
        raise FileSystemError(f"storage location {location} is not usable: "
                              f"{_reason(exc)}") from exc
    except OSError as exc:
        raise FileSystemError(f"storage location {location} is not writable: "
                              f"{type(exc).__name__}: {exc}") from exc


def _reason(exc: FileSystemError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("could not ") and ": " in text else text


def _remote(call: Any, location: str, *args: Any) -> Any:
    """Run a fsspec call; turn the store's own errors into :class:`FileSystemError`
    (FileNotFoundError passes through)."""
    try:
        return call(*args)
    except (FileNotFoundError, FileSystemError):
        raise
    except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors have no common base
        raise FileSystemError(f"could not access {location}: {type(exc).__name__}: "
                              f"{exc}") from exc
