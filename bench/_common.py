"""What the benchmarks share: loading the wordcount example, waiting for a job, and
running the ``headwater`` CLI against a cluster on a free port.

The benchmarks run as scripts (``python bench/X.py``), so this folder is on ``sys.path``
and they import this module as ``_common``.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_wordcount_example() -> ModuleType:
    """examples/wordcount.py as the module ``wordcount_example`` (its ``build`` and
    ``generate_lines``)."""
    spec = importlib.util.spec_from_file_location("wordcount_example",
                                                  REPO / "examples" / "wordcount.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["wordcount_example"] = module
    spec.loader.exec_module(module)
    return module


def wait_finished(cluster, job_id: str, timeout: float = 600):
    """The execution graph of ``job_id`` once it ended; AssertionError unless FINISHED."""
    graph = cluster.wait(job_id, timeout=timeout)
    assert graph.state.value == "FINISHED", graph.failure
    return graph


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def headwater_cli(*args: str, timeout: float = 600) -> str:
    """Run ``headwater ARGS...`` (this interpreter); its stdout, RuntimeError if it fails."""
    proc = subprocess.run([sys.executable, "-m", "headwater.cli", *args], capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"headwater {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout
