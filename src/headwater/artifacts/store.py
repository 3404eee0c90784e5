"""The upload directory: where uploaded artifacts live, under server-chosen names.

    store = JarStore(Path(".headwater/web-upload"))
    with store.staging() as tmp:          # stream the upload into tmp
        tmp.write(data)
    jar = store.commit(tmp, "wordcount.py")   # validates, then names it <uuid>_wordcount.py

A client's file name is never used as a path: :func:`safe_file_name` refuses names with
path separators, ``..``, percent signs (encoded separators) or control characters, and
keeps only the final name's harmless characters (CVE-2020-17518). Every lookup takes a
jar id that must match ``<32 hex>_<safe name>`` and name a regular file (not a symlink)
directly in the directory.

What inspection learned about an artifact is kept beside it (``.<jar id>.info``), so a
restarted JobManager lists its stored artifacts without reading them again.

With ``web.upload.dir`` set to a URL (``s3://bucket/jars``...) that location is the
store: each committed artifact is uploaded there in one request under its id, listing
and lookups read it, and the local directory is only the JobManager's working copy
(programs run from local files); a JobManager started anywhere else finds the artifacts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from headwater.artifacts.inspection import (
    ArtifactInfo,
    InspectionLimits,
    InvalidArtifact,
    info_from_json,
    info_to_json,
    inspect_artifact,
    kind_of,
)
from headwater.runtime import filesystem

_ID = re.compile(r"^[0-9a-f]{32}_[A-Za-z0-9][A-Za-z0-9._+-]{0,150}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+-]")
_STAGING_PREFIX = ".upload-"


class JarNotFound(KeyError):
    """No stored artifact has that id."""


@dataclasses.dataclass(frozen=True)
class StoredJar:
    """An artifact in the store: id (= file name), original name, upload time, contents."""

    id: str
    name: str
    path: Path
    uploaded: int
    info: ArtifactInfo


def plain_file_name(client_name: str | None) -> str:
    """A client's file name reduced to harmless characters (any suffix).

    Raises InvalidArtifact for a missing name or one that tries to leave the directory.
    """
    if not client_name:
        raise InvalidArtifact("The upload has no file name.")
    if ("/" in client_name or "\\" in client_name or "%" in client_name or ".." in client_name
            or any(ord(c) < 32 or ord(c) == 127 for c in client_name)):
        raise InvalidArtifact(f"Invalid file name {client_name!r}: it must be a plain file "
                              "name without path separators or '..'.")
    name = _UNSAFE_CHARS.sub("_", client_name).lstrip("._-+") or "artifact"
    if len(name) > 120:
        stem, dot, suffix = name.rpartition(".")
        name = f"{stem[: 110]}{dot}{suffix[:9]}"
    return name


def safe_file_name(client_name: str | None) -> str:
    """The name to store an uploaded artifact under (without the id prefix): a
    :func:`plain_file_name` with an artifact suffix (InvalidArtifact otherwise)."""
    name = plain_file_name(client_name)
    kind_of(name)
    return name


class JarStore:
    """Artifacts uploaded through ``/jars/upload``, in one directory."""

    def __init__(self, directory: Path, limits: InspectionLimits | None = None,
                 remote: str | None = None) -> None:
        self.directory = Path(directory).absolute()
        self.limits = limits or InspectionLimits()
        #: The URL holding the artifacts when ``web.upload.dir`` is one (else None).
        self.remote = remote.rstrip("/") if remote else None
        self._cache: dict[tuple[str, int, int], ArtifactInfo] = {}

    @contextlib.contextmanager
    def staging(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A fresh hidden file in the directory to stream an upload into; removed on
        exit unless :meth:`commit` renamed it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                yield path, f
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def commit(self, staged: Path, client_name: str | None) -> StoredJar:
        """Validate a staged upload and store it as ``<uuid>_<safe name>``."""
        name = safe_file_name(client_name)
        info = inspect_artifact(staged, name, self.limits)
        jar_id = f"{uuid.uuid4().hex}_{name}"
        target = self.directory / jar_id
        if target.parent != self.directory:  # cannot happen for a safe name; stay paranoid
            raise InvalidArtifact(f"Invalid file name {client_name!r}.")
        os.replace(staged, target)
        if self.remote is not None:
            try:
                fs, path = filesystem.resolve(filesystem.join(self.remote, jar_id))
                fs.put_file(str(target), path)  # one upload: visible only once complete
            except Exception:
                target.unlink(missing_ok=True)
                raise
        return self._stored(jar_id, target, info)

    def _fetch(self, jar_id: str, path: Path) -> None:
        """Copy ``jar_id`` from the remote store into the working directory (if there)."""
        if self.remote is None:
            return
        fs, remote = filesystem.resolve(filesystem.join(self.remote, jar_id))
        try:
            modified = fs.modified(remote).timestamp()
        except (FileNotFoundError, NotImplementedError):
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        try:
            fs.get_file(remote, str(tmp))
            os.utime(tmp, (modified, modified))  # the upload time, as listed
            os.replace(tmp, path)
        except FileNotFoundError:
            return
        finally:
            tmp.unlink(missing_ok=True)

    def _info_path(self, jar_id: str) -> Path:
        return self.directory / f".{jar_id}.info"

    def _stored(self, jar_id: str, path: Path, info: ArtifactInfo | None = None) -> StoredJar:
        st = path.lstat()
        key = (jar_id, st.st_mtime_ns, st.st_size)
        if info is None:
            info = self._cache.get(key) or self._read_info(jar_id, key)
        if info is None:
            info = inspect_artifact(path, jar_id, self.limits)
        if key not in self._cache:
            self._write_info(jar_id, key, info)
        self._cache[key] = info
        return StoredJar(jar_id, jar_id.split("_", 1)[1], path, int(st.st_mtime * 1000), info)

    def _read_info(self, jar_id: str, key: tuple[str, int, int]) -> ArtifactInfo | None:
        try:
            data = json.loads(self._info_path(jar_id).read_bytes())
            if data["key"] != [key[1], key[2]]:
                return None  # the artifact changed since
            return info_from_json(data["info"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_info(self, jar_id: str, key: tuple[str, int, int], info: ArtifactInfo) -> None:
        data = json.dumps({"key": [key[1], key[2]], "info": info_to_json(info)})
        tmp = self._info_path(jar_id).with_suffix(f".{uuid.uuid4().hex}")
        try:
            tmp.write_text(data)
            os.replace(tmp, self._info_path(jar_id))
        except OSError:
            tmp.unlink(missing_ok=True)

    def get(self, jar_id: str) -> StoredJar:
        """The stored artifact ``jar_id``; JarNotFound if there is none."""
        if not _ID.fullmatch(jar_id or ""):
            raise JarNotFound(jar_id)
        path = self.directory / jar_id
        if not os.path.lexists(path):
            self._fetch(jar_id, path)
        try:
            st = path.lstat()
        except OSError as exc:
            raise JarNotFound(jar_id) from exc
        if not stat.S_ISREG(st.st_mode):
            raise JarNotFound(jar_id)
        try:
            return self._stored(jar_id, path)
        except InvalidArtifact as exc:
            raise JarNotFound(jar_id) from exc

    def list(self) -> list[StoredJar]:
        """Every stored artifact, newest first."""
        jars = []
        try:
            names = set(os.listdir(self.directory))
        except OSError:
            names = set()
        if self.remote is not None:
            fs, path = filesystem.resolve(self.remote)
            try:
                names.update(p.rstrip("/").rpartition("/")[2]
                             for p in fs.ls(path, detail=False))
            except FileNotFoundError:
                pass
        for name in names:
            try:
                jars.append(self.get(name))
            except JarNotFound:
                continue
        jars.sort(key=lambda j: (j.uploaded, j.id), reverse=True)
        return jars

    def delete(self, jar_id: str) -> None:
        """Remove a stored artifact; JarNotFound if there is none."""
        jar = self.get(jar_id)
        if self.remote is not None:
            fs, path = filesystem.resolve(filesystem.join(self.remote, jar_id))
            try:
                fs.rm_file(path)
            except FileNotFoundError:
                pass
        try:
            jar.path.unlink()
        except FileNotFoundError as exc:
            raise JarNotFound(jar_id) from exc
        self._info_path(jar_id).unlink(missing_ok=True)
