"""How the ResourceManager gets TaskManagers: a launcher it asks to start, replace and
stop them (Flink's ``ResourceManagerDriver``).

The composition root (:mod:`headwater.cluster`) picks the implementation: local
subprocesses (:class:`headwater.cluster.process_launcher.ProcessTaskManagerLauncher`)
today, Ray actors next.
"""

from __future__ import annotations

from typing import Protocol


class TaskManagerLauncher(Protocol):
    """Starts TaskManagers that register at a JobManager's RPC address."""

    def start(self, jobmanager_address: str, count: int) -> None:
        """Start ``count`` more TaskManagers joining ``jobmanager_address`` (host:port)."""

    def replace_dead(self) -> int:
        """Start a new TaskManager for every one that died; returns how many."""

    def retire(self, pid: int) -> None:
        """Forget the TaskManager process ``pid``: it is being shut down on purpose (a
        recycled TaskManager), so its exit is not a death to replace."""

    def stop(self) -> None:
        """Stop every TaskManager this launcher started and wait for them."""
