"""Starts and stops local TaskManager processes for the ResourceManager (its
:class:`~headwater.runtime.jobmanager.task_manager_launcher.TaskManagerLauncher`).

Each TaskManager is a child process of the JobManager with its files in the cluster's log
directory, named as Flink names them: ``taskmanager-N.log`` (its log, rotated by size by
the TaskManager itself) and ``taskmanager-N.out`` (its stdout and stderr: what user
functions print). Only the JobManager's RPC address is passed on: the same
TaskManager command joins a JobManager on another machine.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo

log = logging.getLogger(__name__)

#: Seconds a terminated TaskManager gets to exit before it is killed.
_STOP_TIMEOUT = 5.0


class ProcessTaskManagerLauncher:
    """Spawns TaskManager subprocesses on this machine."""

    def __init__(self, slots: int, log_dir: Path, host: str = "127.0.0.1",
                 inherit_stdout: bool = False, secret_file: Path | None = None) -> None:
        #: set by the first ``start``
        self.jobmanager_address = ""
        #: Embedded mode: the TaskManagers' stdout (user print()) goes to this process's.
        self.inherit_stdout = inherit_stdout
        self.slots = slots
        self.log_dir = Path(log_dir)
        self.host = host
        #: The cluster secret's file, handed to each TaskManager (never the secret itself).
        self.secret_file = secret_file
        self.processes: list[subprocess.Popen[bytes]] = []
        #: processes that died and were replaced
        self.retired: list[subprocess.Popen[bytes]] = []
        self._started = 0

    def start(self, jobmanager_address: str, count: int) -> None:
        """Start ``count`` more TaskManagers joining ``jobmanager_address``."""
        self.jobmanager_address = jobmanager_address
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(count):
            n = self._started
            self._started += 1
            stem = self.log_dir / f"taskmanager-{n}"
            env = dict(os.environ)
            env["PYTHONUNBUFFERED"] = "1"
            cmd = [sys.executable, "-m", "headwater.runtime.taskmanager.task_executor",
                   "--jobmanager", self.jobmanager_address, "--host", self.host,
                   "--slots", str(self.slots), "--log-dir", str(self.log_dir),
                   "--log-file", f"{stem}.log"]
            if self.secret_file is not None:
                cmd += ["--secret-file", str(self.secret_file)]
            if self.inherit_stdout:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env)
            else:
                cmd += ["--stdout-file", f"{stem}.out"]
                with open(f"{stem}.out", "ab") as out:
                    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env,
                                            start_new_session=False)
            self.processes.append(proc)
            log.info("started TaskManager %d (pid %d)", n, proc.pid)

    def replace_dead(self) -> int:
        """Start a new TaskManager for every one whose process died (as an active
        resource manager does); returns how many were started."""
        for p in self.retired:
            p.poll()  # reap the ones that exited on purpose (no zombies left behind)
        dead = [p for p in self.processes if p.poll() is not None]
        for p in dead:
            self.processes.remove(p)
            self.retired.append(p)
            log.warning("TaskManager process %d exited with %s; starting a replacement",
                        p.pid, p.returncode)
        if dead:
            self.start(self.jobmanager_address, len(dead))
        return len(dead)

    @property
    def slots_per_task_manager(self) -> int:
        """Slots of each TaskManager process."""
        return self.slots

    def retire(self, task_manager: TaskManagerInfo) -> None:
        """Forget the process of ``task_manager`` (shut down on purpose)."""
        for p in [p for p in self.processes if p.pid == task_manager.pid]:
            self.processes.remove(p)
            self.retired.append(p)

    def stop(self) -> None:
        """Terminate every TaskManager and wait for it."""
        for p in self.processes:
            if p.poll() is None:
                p.terminate()
        for p in self.processes:
            try:
                p.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
