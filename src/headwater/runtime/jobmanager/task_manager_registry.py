"""What the JobManager knows of each registered TaskManager."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class TaskManagerInfo:
    """A registered TaskManager as the ResourceManager tracks it.

    ``hardware`` and ``memory`` come from the TaskManager's own psutil readings at
    registration; ``last_heartbeat`` is the JobManager's clock (ms) at the last heartbeat.
    """

    resource_id: str
    host: str
    rpc_address: str  # shown as "path"/"address" in REST
    data_port: int
    pid: int
    slots_total: int
    #: slot index -> job id occupying it (absent: free)
    slots_used: dict[int, str] = dataclasses.field(default_factory=dict)
    last_heartbeat: int = 0
    registered_at: int = 0
    #: {"cpuCores", "physicalMemory", "freeMemory", "managedMemory"}
    hardware: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Latest process figures from heartbeats (rss, cpu, threads...), free form.
    process: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Directory with this TaskManager's log and stdout files (issue 5).
    log_dir: str | None = None
    #: Where it runs, as its deployment describes it (``rayNodeId``, ``rayActorName``).
    attributes: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def slots_free(self) -> int:
        """Slots without a job."""
        return self.slots_total - len(self.slots_used)
