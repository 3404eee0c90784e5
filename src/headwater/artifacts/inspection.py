"""What an artifact contains: validation, entry points and requirements, without running it.

    >>> info = inspect_artifact(Path("wordcount.py"))
    >>> [e.name for e in info.entries]
    ['wordcount']

A module is an *entry point* when its source (parsed, never executed) has an
``if __name__ == "__main__":`` block, defines ``main``, or calls ``execute`` /
``execute_async``; its docstring is the description. Anything that is not a parseable
``.py`` file or a zip holding at least one parseable module is an :class:`InvalidArtifact`.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import zipfile
from pathlib import Path, PurePosixPath

#: File name suffixes of artifacts (a ``.jar`` is accepted when it is a zip of modules).
PY_SUFFIX = ".py"
ZIP_SUFFIXES = (".zip", ".pyz", ".jar")
SUFFIXES = (PY_SUFFIX, *ZIP_SUFFIXES)

#: Stored artifacts are named ``<32 hex>_<name>``; the module name drops the prefix.
_STORED_PREFIX = re.compile(r"^[0-9a-f]{32}_")


class InvalidArtifact(ValueError):
    """The file is not a job artifact (message says why)."""


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
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("execute", "execute_async")):
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


def _inspect_py(path: Path, display_name: str) -> ArtifactInfo:
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


def _inspect_zip(path: Path, display_name: str) -> ArtifactInfo:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidArtifact(f"{display_name}: not a zip archive ({exc})") from exc
    entries: list[EntryPoint] = []
    requirements: list[str] = []
    modules = 0
    has_main = False
    with archive:
        for info in archive.infolist():
            name = info.filename
            if name.startswith("/") or ".." in PurePosixPath(name).parts or "\\" in name:
                raise InvalidArtifact(f"{display_name}: unsafe member name {name!r}")
            if info.is_dir():
                continue
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
                raise InvalidArtifact(f"{display_name}: cannot read {name} ({exc})") from exc
            if name == "requirements.txt":
                requirements = _requirements(data)
                continue
            module = _module_of(name)
            if module is None:
                continue
            tree = _parse(data, f"{display_name}/{name}")
            modules += 1
            if name == "__main__.py":
                has_main = True
                entries.append(EntryPoint("__main__", ast.get_docstring(tree)))
            elif _is_entry(tree):
                entries.append(EntryPoint(module, ast.get_docstring(tree)))
    if not modules:
        raise InvalidArtifact(f"{display_name}: the archive holds no Python module")
    return ArtifactInfo("zip", entries, requirements, has_main)


def inspect_artifact(path: Path, display_name: str | None = None) -> ArtifactInfo:
    """Validate ``path`` and describe it; InvalidArtifact when it is not an artifact."""
    display_name = display_name or path.name
    if kind_of(display_name) == "py":
        return _inspect_py(path, display_name)
    return _inspect_zip(path, display_name)
