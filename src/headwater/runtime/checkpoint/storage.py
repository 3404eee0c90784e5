"""Checkpoint storage on a filesystem every process can reach.

Layout (like Flink's FsCheckpointStorage)::

    <state.checkpoints.dir>/<job id>/chk-<n>/<vertex id>-<subtask>.state
    <state.checkpoints.dir>/<job id>/chk-<n>/_metadata
    <savepoint dir>/savepoint-<job id[:6]>-<random>/...   (self-contained, relative paths)

Locations are strings: a plain path or ``file:`` URL is the local file system, any other
URL (``s3://bucket/prefix``, ``memory://``, ``gs://``...) goes through fsspec (see
:mod:`headwater.runtime.filesystem`). Every file is written atomically: locally to a
temporary name, fsynced and renamed; on an object store in one request to its final key
(no rename there). ``_metadata`` is written last: a checkpoint is *committed* exactly when
its ``_metadata`` exists.
"""

from __future__ import annotations

import logging
import os
import pickle
import uuid
from pathlib import Path
from typing import Any

import msgspec

from headwater.runtime import filesystem

log = logging.getLogger(__name__)

METADATA = "_metadata"
METADATA_VERSION = 1


class CheckpointStorageError(OSError):
    """A checkpoint location cannot be read or written."""


def to_path(location: str | os.PathLike) -> Path:
    """A local path for a local location (``file:/x``, ``file:///x`` or ``/x``)."""
    if not filesystem.is_local(location):
        raise CheckpointStorageError(f"{os.fspath(location)!r} is not a local location")
    return Path(filesystem.local_path(location))


def location_of(location: str | os.PathLike) -> str:
    """A location as the string the storage functions take: a local path stays a path
    (``file:`` stripped), a URL stays a URL. Raises for an unknown scheme."""
    text = os.fspath(location)
    if filesystem.is_local(text):
        return filesystem.local_path(text)
    try:
        filesystem.resolve(text)
    except filesystem.FileSystemError as exc:
        raise CheckpointStorageError(str(exc)) from exc
    return text.rstrip("/")


def to_url(location: str | os.PathLike) -> str:
    """Flink's way of printing a location: ``file:/abs/path``, or the URL itself."""
    text = os.fspath(location)
    if filesystem.is_local(text):
        return f"file:{Path(filesystem.local_path(text)).absolute()}"
    return text


def checkpoint_dir(base: str, job_id: str, checkpoint_id: int) -> str:
    """Directory of one checkpoint."""
    return filesystem.join(location_of(base), job_id, f"chk-{checkpoint_id}")


def new_savepoint_dir(base: str, job_id: str) -> str:
    """A fresh directory name for a savepoint under ``base``."""
    return filesystem.join(location_of(base),
                           f"savepoint-{job_id[:6]}-{uuid.uuid4().hex[:12]}")


def check_location(base: str, what: str = "checkpoint storage") -> None:
    """Fail with a clear :class:`CheckpointStorageError` unless ``base`` can be written
    (unknown scheme, missing fsspec implementation, unreachable store, no permission)."""
    try:
        filesystem.check_writable(location_of(base))
    except (filesystem.FileSystemError, CheckpointStorageError) as exc:
        raise CheckpointStorageError(f"{what}: {exc}") from exc


def state_file_name(vertex_id: str, subtask_index: int) -> str:
    """Name of one subtask's state file inside a checkpoint directory."""
    return f"{vertex_id}-{subtask_index}.state"


def write_state(directory: str | os.PathLike, name: str, data: bytes) -> int:
    """Write a subtask's serialized state atomically; returns its size."""
    directory = location_of(directory)
    try:
        filesystem.write_atomic(filesystem.join(directory, name), data)
    except OSError as exc:
        raise CheckpointStorageError(f"could not write checkpoint state to {directory}: "
                                     f"{exc}") from exc
    return len(data)


def read_state(directory: str | os.PathLike, name: str) -> Any:
    """Read and unpickle one subtask's state file."""
    path = filesystem.join(location_of(directory), name)
    try:
        return pickle.loads(filesystem.read_bytes(path))
    except FileNotFoundError as exc:
        raise CheckpointStorageError(f"state file {path} is missing") from exc
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise CheckpointStorageError(f"state file {path} is corrupt: {exc}") from exc
    except OSError as exc:
        raise CheckpointStorageError(f"could not read state file {path}: {exc}") from exc


class CheckpointMetadata(msgspec.Struct):
    """What a completed checkpoint or savepoint contains (the ``_metadata`` file)."""

    version: int
    job_id: str
    checkpoint_id: int
    timestamp: int
    is_savepoint: bool
    #: vertex id -> {"parallelism", "max_parallelism", "operator_ids": [...],
    #: "uids": [...], "files": [file name per subtask]}
    vertices: dict[str, dict[str, Any]]


def write_metadata(directory: str | os.PathLike, metadata: CheckpointMetadata) -> None:
    """Write ``_metadata`` last: its presence marks the checkpoint complete."""
    write_state(directory, METADATA, msgspec.msgpack.encode(metadata))


def read_metadata(location: str) -> tuple[str, CheckpointMetadata]:
    """Read a checkpoint/savepoint given its directory or its ``_metadata`` file."""
    path = location_of(location)
    parent, name = filesystem.split(path)
    if name == METADATA:
        path = parent
    meta_file = filesystem.join(path, METADATA)
    try:
        data = filesystem.read_bytes(meta_file)
    except FileNotFoundError:
        if not _exists(path):
            raise CheckpointStorageError(
                f"savepoint/checkpoint path {location} does not exist") from None
        raise CheckpointStorageError(
            f"{location} has no {METADATA} file: not a checkpoint") from None
    except IsADirectoryError:
        raise CheckpointStorageError(
            f"{location} has no {METADATA} file: not a checkpoint") from None
    except OSError as exc:
        raise CheckpointStorageError(f"could not read {meta_file}: {exc}") from exc
    try:
        meta = msgspec.msgpack.decode(data, type=CheckpointMetadata)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CheckpointStorageError(f"corrupt metadata in {meta_file}: {exc}") from exc
    if meta.version != METADATA_VERSION:
        raise CheckpointStorageError(f"unsupported metadata version {meta.version}")
    return path, meta


def _exists(location: str) -> bool:
    try:
        return filesystem.exists(location)
    except OSError as exc:
        raise CheckpointStorageError(f"could not read {location}: {exc}") from exc


def discard(directory: str | os.PathLike, *, strict: bool = False) -> None:
    """Delete a checkpoint directory (ignoring what is already gone). A failure is
    logged, or raised as :class:`CheckpointStorageError` when ``strict``."""
    try:
        filesystem.remove_tree(location_of(directory))
    except OSError as exc:
        if strict:
            raise CheckpointStorageError(str(exc)) from exc
        log.warning("could not discard %s: %s", directory, exc)
