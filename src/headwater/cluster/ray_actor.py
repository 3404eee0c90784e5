"""A TaskManager inside a Ray actor: the same :class:`TaskExecutor` a TaskManager process
runs, in a worker process that Ray placed on one of its nodes.

The launcher (:mod:`headwater.cluster.ray_launcher`) wraps :class:`TaskManagerActor` with
``ray.remote`` and calls :meth:`TaskManagerActor.run` once; that call lasts as long as the
TaskManager does, so its result tells the launcher when the TaskManager ended (normally,
or with the actor's death when its node was lost). The data port binds the node's IP;
the log and stdout files live in a directory on that node, served through the REST API
like a local TaskManager's.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from headwater.runtime.log_files import configure_file_logging
from headwater.runtime.taskmanager.diagnostics import ProcessFiles
from headwater.runtime.taskmanager.task_executor import TaskExecutor


class TaskManagerActor:
    """One TaskManager as a Ray actor (see the module docstring)."""

    def __init__(self, jobmanager: str, slots: int, secret: bytes | None, name: str,
                 cluster_id: str) -> None:
        self.jobmanager = jobmanager
        self.slots = slots
        self.secret = secret
        self.name = name
        self.log_dir = Path(tempfile.gettempdir()) / "headwater-ray" / cluster_id / name
        self.executor: TaskExecutor | None = None

    def run(self) -> str:
        """Run the TaskManager until the JobManager stops it; its resource id."""
        import ray

        self.log_dir.mkdir(parents=True, exist_ok=True)
        stem = self.log_dir / self.name
        configure_file_logging(f"{stem}.log")
        # What user functions print goes to the TaskManager's stdout file, as for a process.
        out = os.open(f"{stem}.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stdout.flush()
        os.dup2(out, 1)
        os.close(out)
        host, port = self.jobmanager.rsplit(":", 1)
        context = ray.get_runtime_context()
        self.executor = TaskExecutor(
            (host, int(port)), ray.util.get_node_ip_address(), self.slots,
            log_dir=str(self.log_dir),
            process_files=ProcessFiles(log=f"{self.name}.log", stdout=f"{self.name}.out"),
            secret=self.secret,
            attributes={"rayNodeId": context.get_node_id(), "rayActorName": self.name})
        asyncio.run(self.executor.run())
        return self.executor.resource_id
