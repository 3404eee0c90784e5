"""Python files and requirements that travel with a job (``add_python_file``,
``set_python_requirements``).

Operators travel to the TaskManagers pickled inside the JobGraph. When a program
declares Python dependencies, each operator is pickled together with them: unpickling it
on a TaskManager first installs the dependencies (once per TaskManager and content) and
puts them on ``sys.path``, then unpickles the operator. So a function that imports a
shipped module only when it runs (``import helper`` inside the function) finds it, as in
PyFlink::

    env.add_python_file("/src/helper.py")          # a module, a package directory or a zip
    env.set_python_requirements("/src/requirements.txt", "/src/wheels")

Requirements a TaskManager's Python already satisfies are used as installed; the others
are installed with ``pip install --target`` into the TaskManager's cache directory (from
``requirements_cache_dir`` only, when given, so no network is needed). A requirement
that cannot be installed fails the job with pip's message.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

#: Where TaskManagers unpack dependencies (one directory per content digest).
CACHE_DIR_ENV = "HEADWATER_PYTHON_DEPS_DIR"

_lock = threading.Lock()
_installed: set[str] = set()


class PythonDependencies:
    """The files and requirements an environment ships (collected on the client)."""

    def __init__(self) -> None:
        #: (name, content): modules, zips, and package directories zipped.
        self.files: list[tuple[str, bytes]] = []
        self.requirements: bytes | None = None
        #: (name, content) of the requirements cache directory's files.
        self.cache: list[tuple[str, bytes]] = []

    def __bool__(self) -> bool:
        return bool(self.files or self.requirements)

    def add_file(self, file_path: str | os.PathLike) -> None:
        """Ship a .py module, a package directory or a zip/wheel/egg."""
        path = Path(file_path)
        if path.is_dir():
            self.files.append((f"{path.name}.zip", _zip_directory(path)))
        elif path.is_file():
            self.files.append((path.name, path.read_bytes()))
        else:
            raise FileNotFoundError(f"add_python_file: {str(path)!r} does not exist")

    def set_requirements(self, requirements_file_path: str | os.PathLike,
                         requirements_cache_dir: str | os.PathLike | None = None) -> None:
        """Ship a requirements file (and the packages of a cache directory)."""
        path = Path(requirements_file_path)
        if not path.is_file():
            raise FileNotFoundError(f"set_python_requirements: {str(path)!r} does not exist")
        self.requirements = path.read_bytes()
        self.cache = []
        if requirements_cache_dir is not None:
            cache = Path(requirements_cache_dir)
            if not cache.is_dir():
                raise FileNotFoundError(f"set_python_requirements: cache directory "
                                        f"{str(cache)!r} does not exist")
            self.cache = [(p.name, p.read_bytes()) for p in sorted(cache.iterdir())
                          if p.is_file()]

    def payload(self) -> tuple[str, list[tuple[str, bytes]], bytes | None,
                               list[tuple[str, bytes]]]:
        """(digest, files, requirements, cache): what travels with each operator."""
        digest = hashlib.sha256(pickle.dumps((self.files, self.requirements, self.cache),
                                             protocol=5)).hexdigest()[:32]
        return digest, self.files, self.requirements, self.cache

    def attach(self, job_graph: Any) -> None:
        """Pickle every operator of ``job_graph`` together with the dependencies."""
        import cloudpickle

        from headwater.graph.serialization import ship_user_modules

        ship_user_modules()
        payload = self.payload()
        for vertex in job_graph.vertices:
            for spec in vertex.operators:
                if not isinstance(spec.operator, bytes):
                    spec.operator = cloudpickle.dumps(
                        _WithDependencies(payload, cloudpickle.dumps(spec.operator,
                                                                     protocol=5)),
                        protocol=5)


def _zip_directory(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                zf.write(file, str(Path(path.name) / file.relative_to(path)))
    return buffer.getvalue()


class _WithDependencies:
    """Pickles as "install the dependencies, then unpickle the operator"."""

    def __init__(self, payload: tuple, operator_blob: bytes) -> None:
        self.payload = payload
        self.operator_blob = operator_blob

    def __reduce__(self) -> tuple:
        return load_with_dependencies, (self.payload, self.operator_blob)


def load_with_dependencies(payload: tuple, operator_blob: bytes) -> Any:
    """Install the dependencies (once per process), then unpickle the operator."""
    install(*payload)
    return pickle.loads(operator_blob)


def install(digest: str, files: list[tuple[str, bytes]], requirements: bytes | None,
            cache: list[tuple[str, bytes]]) -> Path:
    """Unpack ``files`` into this machine's cache directory, install unmet
    ``requirements``, and put both on ``sys.path``; the directory."""
    root = Path(os.environ.get(CACHE_DIR_ENV) or
                Path(tempfile.gettempdir()) / "headwater-python-deps") / digest
    with _lock:
        if digest in _installed:
            return root
        files_dir = root / "files"
        files_dir.mkdir(parents=True, exist_ok=True)
        entries: list[str] = []
        for name, content in files:
            target = files_dir / Path(name).name
            if not target.exists() or target.read_bytes() != content:
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                tmp.write_bytes(content)
                os.replace(tmp, target)
            entries.append(str(target) if target.suffix in (".zip", ".whl", ".egg")
                           else str(files_dir))
        if requirements:
            site = _install_requirements(root, requirements, cache)
            if site is not None:
                entries.append(str(site))
        for entry in dict.fromkeys(entries):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        _installed.add(digest)
    return root


def _unmet(requirements: bytes) -> list[str]:
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    unmet = []
    for line in requirements.decode().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement:
            unmet.append(text)
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            unmet.append(text)
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            unmet.append(text)
    return unmet


def _install_requirements(root: Path, requirements: bytes,
                          cache: list[tuple[str, bytes]]) -> Path | None:
    site = root / "site-packages"
    if site.is_dir():
        return site
    unmet = _unmet(requirements)
    if not unmet:
        return None
    # TaskManagers on one machine may install at once: each into its own directory,
    # the first to finish wins the rename.
    target = root / f".site-packages.{os.getpid()}.{threading.get_ident()}.tmp"
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
               "--no-warn-script-location", "--target", str(target)]
    cache_dir = Path(str(target) + ".cache")
    if cache:
        cache_dir.mkdir(exist_ok=True)
        for name, content in cache:
            (cache_dir / Path(name).name).write_bytes(content)
        command += ["--no-index", "--find-links", str(cache_dir)]
    done = subprocess.run([*command, *unmet], capture_output=True, text=True, check=False)
    shutil.rmtree(cache_dir, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError("set_python_requirements: could not install "
                           f"{', '.join(unmet)}: {done.stderr.strip()[-2000:]}")
    try:
        os.replace(target, site)
    except OSError:
        if not site.is_dir():
            raise
        shutil.rmtree(target, ignore_errors=True)
    return site
