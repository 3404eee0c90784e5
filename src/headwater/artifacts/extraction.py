"""Getting the job graph out of a program without running the job, in a child process.

The JobManager never runs user code: to answer ``/jars/:jarid/plan`` and ``/run`` (and for
``headwater info``) the program runs in a separate Python process (``sys.executable -m
headwater.artifacts.extraction``) with a time limit. There ``env.execute()`` is a
:class:`~headwater.artifacts.executors.PlanCapturingExecutor`: it writes the serialized
JobGraph to a file and ends the program. ::

    graph = extract_job_graph(Path("wordcount.py"), args=["--lines", "10"])
    print(graph.plan())

A program that raises, exits, never calls ``execute()`` or overruns the time limit
raises :class:`ProgramError` with its message and traceback; the child's whole process
group is killed on timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from headwater.artifacts.executors import (
    ALLOW_NON_RESTORED_ENV,
    PLAN_OUTPUT_ENV,
    SAVEPOINT_PATH_ENV,
    PlanCaptured,
)
from headwater.graph.job_graph import JobGraph
from headwater.graph.serialization import deserialize_job_graph

#: Environment variables of the caller that must not reach the program.
_CLEARED_ENV = ("HEADWATER_JOBMANAGER", "HEADWATER_DETACHED", "HEADWATER_PARALLELISM",
                SAVEPOINT_PATH_ENV, ALLOW_NON_RESTORED_ENV, PLAN_OUTPUT_ENV)
#: How much of the program's output an error message quotes.
_OUTPUT_TAIL = 16 * 1024


class ProgramError(Exception):
    """The program did not hand over a job graph; ``details`` holds its output."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.message}\n\n{self.details}" if self.details else self.message


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _OUTPUT_TAIL))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return ("...\n" if size > _OUTPUT_TAIL else "") + text.strip()


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def extract_job_graph(path: Path, entry: str | None = None, args: Sequence[str] = (),
                      display_name: str | None = None, parallelism: int | None = None,
                      timeout: float = 60.0, own_directory_on_path: bool = True) -> JobGraph:
    """Run the artifact's program in a child process; the JobGraph its execute() built.

    The program runs from a copy named ``display_name`` in a private temporary directory
    (its working directory's sibling); ``own_directory_on_path`` puts the *original*
    file's directory on ``sys.path`` (as ``python file.py`` would), for local programs
    that import their neighbours.
    """
    display_name = display_name or path.name
    with tempfile.TemporaryDirectory(prefix="headwater-program-") as tmp:
        work = Path(tmp)
        output = work / "job.graph"
        program_dir = work / "program"
        program_dir.mkdir()
        program = program_dir / os.path.basename(display_name)
        shutil.copyfile(path, program)  # the program sees its own name, in a private dir
        env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENV}
        env[PLAN_OUTPUT_ENV] = str(output)
        env["PYTHONUNBUFFERED"] = "1"
        if parallelism:
            env["HEADWATER_PARALLELISM"] = str(parallelism)
        cmd = [sys.executable, "-m", "headwater.artifacts.extraction",
               "--artifact", str(program), "--name", display_name]
        if entry:
            cmd += ["--entry", entry]
        if own_directory_on_path:
            cmd += ["--path", str(Path(path).absolute().parent)]
        cmd += ["--", *args]
        with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    cwd=work, env=env, start_new_session=True)
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                code = None
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stderr, stdout = _tail(work / "stderr"), _tail(work / "stdout")
        details = stderr + (f"\n\nstdout:\n{stdout}" if stdout else "")
        if code is None:
            raise ProgramError(f"The program did not call execute() within {timeout:g} s and "
                               "was stopped.", details)
        if output.is_file():
            return deserialize_job_graph(output.read_bytes())
        if code != 0:
            reason = _last_line(stderr) or f"exit status {code}"
            raise ProgramError(f"The program's main method caused an error: {reason}", details)
        raise ProgramError("The program didn't contain a job: it ended without calling "
                           "execute() on its execution environment.", details)


def _child(argv: list[str] | None = None) -> int:
    """Child side: run the program; execute() captures the graph and exits 0."""
    parser = argparse.ArgumentParser(prog="headwater-extract-plan")
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--entry")
    parser.add_argument("--path", action="append", default=[],
                        help="also importable (the original program's directory)")
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args(argv)
    from headwater.artifacts.program import run_program

    sys.path[1:1] = ns.path
    try:
        run_program(Path(ns.artifact), ns.entry, ns.args, ns.name)
    except PlanCaptured:
        return 0
    except SystemExit as exc:
        if exc.code not in (None, 0):
            print(f"SystemExit: the program exited with status {exc.code} before calling "
                  "execute()", file=sys.stderr)
            return 1
        return 0
    except BaseException as exc:  # noqa: BLE001 - reported to the parent via stderr
        traceback.print_exception(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child())
