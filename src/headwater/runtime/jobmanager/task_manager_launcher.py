"""How the ResourceManager gets TaskManagers: a launcher it asks to start, replace and
stop them (Flink's ``ResourceManagerDriver``).

The composition root (:mod:`headwater.cluster`) picks the implementation: local
subprocesses (:class:`headwater.cluster.process_launcher.ProcessTaskManagerLauncher`)
today, Ray actors next.
"""

from __future__ import annotations

from typing import Protocol

from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo


class TaskManagerLauncher(Protocol):
    """Starts TaskManagers that register at a JobManager's RPC address. The
    ResourceManager decides how many; the launcher where and how."""

    @property
    def slots_per_task_manager(self) -> int:
        """Slots of each TaskManager it starts."""

    def start(self, jobmanager_address: str, count: int) -> None:
        """Start ``count`` more TaskManagers joining ``jobmanager_address`` (host:port)."""

    def replace_dead(self) -> int:
        """Start a new TaskManager for every one that died; returns how many."""

    def retire(self, task_manager: TaskManagerInfo) -> None:
        """Forget this registered TaskManager: it is being shut down on purpose (recycled
        or released), so its exit is not a death to replace."""

    def stop(self) -> None:
        """Stop every TaskManager this launcher started and wait for them."""
