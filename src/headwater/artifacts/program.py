"""Running an artifact's program in the current process.

``entry`` names what to run, as Flink's ``entry-class`` does:

* ``None``: a ``.py`` file runs as ``__main__``; a zip runs its ``__main__.py``, or its
  only entry point module;
* ``pkg.job``: that module runs as ``__main__`` (``python -m pkg.job``);
* ``pkg.job:main``: the module is imported and ``main`` is called, with the program
  arguments as its one argument when it takes any (``main(argv)``), else without.

For a ``.py`` file the module name is the file's stem. ``sys.argv`` is
``[artifact name, *args]`` while the program runs. Used by ``headwater run`` (whose
``execute()`` submits to a cluster) and by the extraction child process (whose
``execute()`` hands the job graph back).
"""

from __future__ import annotations

import importlib
import inspect
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from headwater.artifacts.inspection import inspect_artifact, module_name_of


class EntryPointError(ValueError):
    """The entry point does not exist in the artifact or cannot be chosen."""


def split_entry(entry: str | None) -> tuple[str | None, str | None]:
    """``"pkg.job:main"`` -> ``("pkg.job", "main")``; ``"pkg.job"`` -> ``("pkg.job", None)``."""
    if not entry:
        return None, None
    module, _, function = entry.strip().partition(":")
    return module.strip() or None, function.strip() or None


def _call(function: Any, args: list[str]) -> Any:
    try:
        params = [p for p in inspect.signature(function).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        params = []
    return function(args) if params else function()


def _run_py(path: Path, display_name: str, entry: str | None, args: list[str]) -> None:
    module, function = split_entry(entry)
    own = module_name_of(display_name)
    if module not in (None, own):
        raise EntryPointError(f"Entry point {entry!r} not found: {display_name} is module "
                              f"{own!r}.")
    if function is None:
        runpy.run_path(str(path), run_name="__main__")
        return
    namespace = runpy.run_path(str(path), run_name=own)
    if not callable(namespace.get(function)):
        raise EntryPointError(f"Entry point {entry!r} not found: module {own!r} has no "
                              f"function {function!r}.")
    _call(namespace[function], args)


def _run_zip(path: Path, display_name: str, entry: str | None, args: list[str]) -> None:
    module, function = split_entry(entry)
    if module is None:
        info = inspect_artifact(path, display_name)
        if info.has_main:
            runpy.run_path(str(path), run_name="__main__")
            return
        candidates = [e.name for e in info.entries]
        if len(candidates) != 1:
            raise EntryPointError(
                f"{display_name} has {len(candidates)} entry points "
                f"({', '.join(candidates) or 'none'}) and no __main__.py: name one with "
                "entry-class (module or module:function).")
        module = candidates[0]
    sys.path.insert(0, str(path))
    if function is None:
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except ImportError as exc:
            if exc.name and module.startswith(exc.name):
                raise EntryPointError(f"Entry point module {module!r} not found in "
                                      f"{display_name}.") from exc
            raise
        return
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise EntryPointError(f"Entry point module {module!r} not found in "
                                  f"{display_name}.") from exc
        raise
    target = getattr(loaded, function, None)
    if not callable(target):
        raise EntryPointError(f"Entry point {entry!r} not found: module {module!r} has no "
                              f"function {function!r}.")
    _call(target, args)


def run_program(path: Path, entry: str | None = None, args: Sequence[str] = (),
                display_name: str | None = None, own_directory_on_path: bool = True) -> None:
    """Run the program of the artifact at ``path`` (see the module docstring).

    ``own_directory_on_path``: a ``.py`` file's directory is importable, as with
    ``python file.py`` (off for uploaded files, which share the upload directory).
    """
    display_name = display_name or path.name
    argv = [display_name, *args]
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = argv
    try:
        if display_name.lower().endswith(".py"):
            if own_directory_on_path:
                sys.path.insert(0, str(path.parent.absolute()))
            _run_py(path, display_name, entry, list(args))
        else:
            _run_zip(path, display_name, entry, list(args))
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
