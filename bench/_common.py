"""What the benchmarks share: loading the wordcount example, waiting for a job, and
running the ``headwater`` CLI against a cluster on a free port.

The benchmarks run as scripts (``python bench/X.py``), so this folder is on ``sys.path``
and they import this module as ``_common``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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


@contextlib.contextmanager
def local_cluster(taskmanagers: int = 2, *options: str) -> Iterator[int]:
    """``headwater cluster start`` in a temporary workdir on a free port (no Prometheus
    port), stopped on exit; yields the REST port."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="headwater-bench-") as tmp:
        workdir = os.path.join(tmp, "cluster")
        headwater_cli("cluster", "start", "--taskmanagers", str(taskmanagers), "--port",
                      str(port), "--workdir", workdir, "-D", "metrics.reporter.prom.port=0",
                      *options)
        try:
            yield port
        finally:
            headwater_cli("cluster", "stop", "--workdir", workdir)


def submit_wordcount(port: int, lines: int, parallelism: int = 2) -> str:
    """Run examples/wordcount.py detached on the cluster at ``port``; its job id."""
    out = headwater_cli("run", "-m", f"127.0.0.1:{port}", "-d",
                        str(REPO / "examples" / "wordcount.py"), "--lines", str(lines),
                        "--parallelism", str(parallelism))
    match = re.search(r"JobID ([0-9a-f]{32})", out)
    if match is None:
        raise RuntimeError(f"no job id in: {out}")
    return match.group(1)
