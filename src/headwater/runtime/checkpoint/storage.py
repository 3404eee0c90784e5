"""Checkpoint storage on a filesystem every process can reach.

Layout (like Flink's FsCheckpointStorage)::

    <state.checkpoints.dir>/<job id>/chk-<n>/<vertex id>-<subtask>.state
    <state.checkpoints.dir>/<job id>/chk-<n>/_metadata
    <savepoint dir>/savepoint-<job id[:6]>-<random>/...   (self-contained, relative paths)

Locations are plain paths or ``file:`` URLs. State files are written to a temporary name
and renamed, so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import os
import pickle
import shutil
import uuid
from pathlib import Path
from typing import Any

import msgspec

METADATA = "_metadata"
METADATA_VERSION = 1


class CheckpointStorageError(OSError):
    """A checkpoint location cannot be read or written."""


def to_path(location: str) -> Path:
    """A local path for a location (``file:/x``, ``file:///x`` or ``/x``)."""
    if location.startswith("file://"):
        location = location[len("file://"):]
    elif location.startswith("file:"):
        location = location[len("file:"):]
    if "://" in location:
        raise CheckpointStorageError(f"unsupported checkpoint location {location!r}")
    return Path(location)


def to_url(path: Path) -> str:
    """Flink's way of printing a location: ``file:/abs/path``."""
    return f"file:{Path(path).absolute()}"


def checkpoint_dir(base: str, job_id: str, checkpoint_id: int) -> Path:
    """Directory of one checkpoint."""
    return to_path(base) / job_id / f"chk-{checkpoint_id}"


def new_savepoint_dir(base: str, job_id: str) -> Path:
    """A fresh directory name for a savepoint under ``base``."""
    return to_path(base) / f"savepoint-{job_id[:6]}-{uuid.uuid4().hex[:12]}"


def state_file_name(vertex_id: str, subtask_index: int) -> str:
    """Name of one subtask's state file inside a checkpoint directory."""
    return f"{vertex_id}-{subtask_index}.state"


def write_state(directory: Path, name: str, data: bytes) -> int:
    """Write a subtask's serialized state atomically; returns its size."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / name)
    except OSError as exc:
        raise CheckpointStorageError(f"could not write checkpoint state to {directory}: "
                                     f"{exc}") from exc
    return len(data)


def read_state(directory: Path, name: str) -> Any:
    """Read and unpickle one subtask's state file."""
    path = directory / name
    try:
        return pickle.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise CheckpointStorageError(f"state file {path} is missing") from exc
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise CheckpointStorageError(f"state file {path} is corrupt: {exc}") from exc


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


def write_metadata(directory: Path, metadata: CheckpointMetadata) -> None:
    """Write ``_metadata`` last: its presence marks the checkpoint complete."""
    write_state(directory, METADATA, msgspec.msgpack.encode(metadata))


def read_metadata(location: str) -> tuple[Path, CheckpointMetadata]:
    """Read a checkpoint/savepoint given its directory or its ``_metadata`` file."""
    path = to_path(location)
    if path.name == METADATA:
        path = path.parent
    meta_file = path / METADATA
    if not path.exists():
        raise CheckpointStorageError(f"savepoint/checkpoint path {location} does not exist")
    if not meta_file.is_file():
        raise CheckpointStorageError(f"{location} has no {METADATA} file: not a checkpoint")
    try:
        meta = msgspec.msgpack.decode(meta_file.read_bytes(), type=CheckpointMetadata)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CheckpointStorageError(f"corrupt metadata in {meta_file}: {exc}") from exc
    if meta.version != METADATA_VERSION:
        raise CheckpointStorageError(f"unsupported metadata version {meta.version}")
    return path, meta


def discard(directory: Path) -> None:
    """Delete a checkpoint directory (ignoring what is already gone)."""
    shutil.rmtree(directory, ignore_errors=True)
