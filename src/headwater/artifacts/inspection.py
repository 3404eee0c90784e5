"""What an artifact contains: validation, entry points and requirements, without running it.

    >>> info = inspect_artifact(Path("wordcount.py"))
    >>> [e.name for e in info.entries]
    ['wordcount']

A module is an *entry point* when its source (parsed, never executed) has an
``if __name__ == "__main__":`` block, defines ``main``, or calls ``execute`` /
``execute_async``; its docstring is the description. Anything that is not a parseable
``.py`` file or a zip holding at least one parseable module is an :class:`InvalidArtifact`.

Inspection runs inside the JobManager on untrusted uploads, so its cost is bounded by
:class:`InspectionLimits`: members are read as streams and counted as they inflate (a
zip's declared sizes are not trusted), the total uncompressed size and each member's
compression ratio are capped, and only modules small enough to parse are parsed.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

#: File name suffixes of artifacts (a ``.jar`` is accepted when it is a zip of modules).
PY_SUFFIX = ".py"
ZIP_SUFFIXES = (".zip", ".pyz", ".jar")
SUFFIXES = (PY_SUFFIX, *ZIP_SUFFIXES)

#: Stored artifacts are named ``<32 hex>_<name>``; the module name drops the prefix.
_STORED_PREFIX = re.compile(r"^[0-9a-f]{32}_")


class InvalidArtifact(ValueError):
    """The file is not a job artifact (message says why)."""


@dataclasses.dataclass(frozen=True)
class InspectionLimits:
    """What inspecting one artifact may cost (``web.upload.*`` configuration keys)."""

    #: Bytes all members of a zip may inflate to, together.
    max_uncompressed_size: int = 256 * 1024 * 1024
    #: Largest uncompressed/compressed ratio of one member (zip bombs inflate ~1000x).
    max_compression_ratio: int = 200
    #: Largest module source that is parsed (parsing costs ~50x the source in memory).
    max_module_size: int = 4 * 1024 * 1024

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InspectionLimits:
        """The limits set by ``web.upload.max-uncompressed-size``,
        ``web.upload.max-compression-ratio`` and ``web.upload.max-module-size``."""
        default = cls()
        return cls(
            int(config.get("web.upload.max-uncompressed-size", default.max_uncompressed_size)),
            int(config.get("web.upload.max-compression-ratio", default.max_compression_ratio)),
            int(config.get("web.upload.max-module-size", default.max_module_size)))


_CHUNK = 64 * 1024


@dataclasses.dataclass(frozen=True)
class EntryPoint:
    """A module that defines a job: Flink's ``JarEntryInfo``."""

    name: str
    description: str | None


@dataclasses.dataclass(frozen=True)
class ArtifactInfo:
    """Kind (``py`` or ``zip``), entry points and requirements of an artifact."""

    kind: str
    entries: list[EntryPoint]
    requirements: list[str]
    #: True for a zip with a top-level ``__main__.py`` (runnable without an entry).
    has_main: bool = False


def module_name_of(file_name: str) -> str:
    """The module name of a ``.py`` artifact: its (original) file stem."""
    stem = _STORED_PREFIX.sub("", Path(file_name).name)
    return stem[: -len(PY_SUFFIX)] if stem.endswith(PY_SUFFIX) else stem


def kind_of(file_name: str) -> str:
    """``py`` or ``zip`` by suffix; InvalidArtifact for anything else."""
    lowered = file_name.lower()
    if lowered.endswith(PY_SUFFIX):
        return "py"
    if lowered.endswith(ZIP_SUFFIXES):
        return "zip"
    raise InvalidArtifact(f"{file_name}: not a job artifact (expected one of "
                          f"{', '.join(SUFFIXES)})")


def _is_entry(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            return True
        if isinstance(node, ast.If) and _is_main_guard(node.test):
            return True
    for walked in ast.walk(tree):
        if (isinstance(walked, ast.Call) and isinstance(walked.func, ast.Attribute)
                and walked.func.attr in ("execute", "execute_async")):
            return True
    return False


def _is_main_guard(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.comparators) != 1:
        return False
    names = [test.left, test.comparators[0]]
    return (any(isinstance(n, ast.Name) and n.id == "__name__" for n in names)
            and any(isinstance(n, ast.Constant) and n.value == "__main__" for n in names))


def _parse(source: bytes, where: str) -> ast.Module:
    try:
        return ast.parse(source, filename=where)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise InvalidArtifact(f"{where}{f', line {line}' if line else ''}: "
                              f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}") from exc


def _requirements(text: bytes) -> list[str]:
    lines = text.decode("utf-8", errors="replace").splitlines()
    return [s for s in (line.split("#", 1)[0].strip() for line in lines) if s]


def _inspect_py(path: Path, display_name: str, limits: InspectionLimits) -> ArtifactInfo:
    size = path.stat().st_size
    if size > limits.max_module_size:
        raise InvalidArtifact(f"{display_name}: the module has {size} bytes, more than the "
                              f"{limits.max_module_size} bytes that can be inspected "
                              "(web.upload.max-module-size)")
    tree = _parse(path.read_bytes(), display_name)
    entries = []
    if _is_entry(tree):
        entries.append(EntryPoint(module_name_of(display_name), ast.get_docstring(tree)))
    return ArtifactInfo("py", entries, [])


def _module_of(member: str) -> str | None:
    """Dotted module name of a zip member (``pkg/job.py`` -> ``pkg.job``), or None."""
    parts = PurePosixPath(member).parts
    if not member.endswith(PY_SUFFIX) or "__pycache__" in parts:
        return None
    names = [*parts[:-1], parts[-1][: -len(PY_SUFFIX)]]
    if names[-1] in ("__init__", "__main__") and len(names) > 1:
        names = names[:-1]
    if not all(n.isidentifier() for n in names):
        return None
    return ".".join(names)


class _Budget:
    """Counts what a zip's members announce and what they really inflate to."""

    def __init__(self, display_name: str, limits: InspectionLimits) -> None:
        self.display_name = display_name
        self.limits = limits
        self.declared = 0
        self.inflated = 0

    def check_declared(self, info: zipfile.ZipInfo) -> None:
        """Refuse an archive whose headers already announce too much."""
        self.declared += info.file_size
        self._check(info, info.file_size, self.declared)

    def read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, keep: int) -> bytes | None:
        """Stream the member, counting what it really inflates to (headers may lie); its
        bytes when they fit in ``keep``, else None (read through and counted, not kept)."""
        kept: list[bytes] | None = []
        size = 0
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                self.inflated += len(chunk)
                self._check(info, size, self.inflated)
                if kept is not None:
                    kept.append(chunk)
                    if size > keep:
                        kept = None
        return b"".join(kept) if kept is not None else None

    def _check(self, info: zipfile.ZipInfo, size: int, total: int) -> None:
        limits, name = self.limits, f"{self.display_name}: {info.filename}"
        if total > limits.max_uncompressed_size:
            raise InvalidArtifact(f"{name}: the archive inflates to more than "
                                  f"{limits.max_uncompressed_size} bytes "
                                  "(web.upload.max-uncompressed-size)")
        if size > _CHUNK and size > max(info.compress_size, 1) * limits.max_compression_ratio:
            raise InvalidArtifact(f"{name}: the member inflates more than "
                                  f"{limits.max_compression_ratio} times its compressed size "
                                  "(web.upload.max-compression-ratio)")


def _inspect_zip(path: Path, display_name: str, limits: InspectionLimits) -> ArtifactInfo:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidArtifact(f"{display_name}: not a zip archive ({exc})") from exc
    entries: list[EntryPoint] = []
    requirements: list[str] = []
    modules = 0
    has_main = False
    budget = _Budget(display_name, limits)
    with archive:
        members = archive.infolist()
        for info in members:
            name = info.filename
            if name.startswith("/") or ".." in PurePosixPath(name).parts or "\\" in name:
                raise InvalidArtifact(f"{display_name}: unsafe member name {name!r}")
            budget.check_declared(info)
        for info in members:
            name = info.filename
            module = _module_of(name)
            if info.is_dir() or (module is None and name != "requirements.txt"):
                continue
            try:
                data = budget.read(archive, info, limits.max_module_size)
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError,
                    EOFError, NotImplementedError) as exc:
                if isinstance(exc, InvalidArtifact):
                    raise
                raise InvalidArtifact(f"{display_name}: cannot read {name} ({exc})") from exc
            if name == "requirements.txt":
                requirements = _requirements(data or b"")
                continue
            modules += 1
            if data is None:  # too large to parse: a module, but not offered as an entry
                continue
            tree = _parse(data, f"{display_name}/{name}")
            if name == "__main__.py":
                has_main = True
                entries.append(EntryPoint("__main__", ast.get_docstring(tree)))
            elif module is not None and _is_entry(tree):
                entries.append(EntryPoint(module, ast.get_docstring(tree)))
    if not modules:
        raise InvalidArtifact(f"{display_name}: the archive holds no Python module")
    return ArtifactInfo("zip", entries, requirements, has_main)


def inspect_artifact(path: Path, display_name: str | None = None,
                     limits: InspectionLimits | None = None) -> ArtifactInfo:
    """Validate ``path`` and describe it; InvalidArtifact when it is not an artifact or
    inspecting it would cost more than ``limits`` allow."""
    display_name = display_name or path.name
    limits = limits or InspectionLimits()
    if kind_of(display_name) == "py":
        return _inspect_py(path, display_name, limits)
    return _inspect_zip(path, display_name, limits)


def info_to_json(info: ArtifactInfo) -> dict[str, Any]:
    """A JSON-able form of ``info`` (kept beside a stored artifact)."""
    return dataclasses.asdict(info)


def info_from_json(data: Mapping[str, Any]) -> ArtifactInfo:
    """The ArtifactInfo written by :func:`info_to_json`."""
    return ArtifactInfo(str(data["kind"]),
                        [EntryPoint(str(e["name"]), e.get("description"))
                         for e in data["entries"]],
                        [str(r) for r in data["requirements"]], bool(data["has_main"]))
