"""Starts TaskManagers as actors on an existing Ray cluster (``deployment.target: ray``),
for the ResourceManager (its
:class:`~headwater.runtime.jobmanager.task_manager_launcher.TaskManagerLauncher`).

Ray places and runs the processes; headwater keeps its own JobManager, data plane,
checkpoints and REST API. Each TaskManager is one actor (:class:`TaskManagerActor`)
reserving ``num_cpus`` = its slots, the memory of ``taskmanager.memory.process.size`` if
set, and the custom resources of ``ray.taskmanager.resources``, placed with Ray's SPREAD
strategy so that TaskManagers land on different nodes. The actor registers with the
JobManager over RPC like a TaskManager process; a lost node kills its actors, which this
launcher notices (their ``run`` call fails) and reports as dead, so the ResourceManager
replaces them on the nodes that are left.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from pathlib import Path
from typing import Any

from headwater.cluster.ray_actor import TaskManagerActor
from headwater.config import Configuration, parse_memory_size
from headwater.runtime.jobmanager.task_manager_registry import TaskManagerInfo
from headwater.runtime.rpc.handshake import read_secret_file

log = logging.getLogger(__name__)


class RayUnavailable(RuntimeError):
    """The ray package is missing or the Ray cluster cannot be reached."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("deployment.target: ray needs the ray package: "
                             "pip install 'headwater[ray]'") from exc
    return ray


def _resources(configuration: Configuration) -> dict[str, float]:
    """``ray.taskmanager.resources``: a mapping, or its JSON text (``{"gpu-node": 1}``)."""
    value = configuration.get("ray.taskmanager.resources") or {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ValueError(f"ray.taskmanager.resources is not a JSON object: {value!r}") \
                from exc
    if not isinstance(value, dict):
        raise ValueError(f"ray.taskmanager.resources must map resource names to amounts, "
                         f"got {value!r}")
    return {str(k): float(v) for k, v in value.items()}


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast for a ``host:port`` Ray address nobody listens on (``ray.init`` would
    retry for minutes)."""
    if address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise RayUnavailable(f"cannot connect to the Ray cluster at {address!r} "
                             f"(ray.address): {exc}") from exc


class RayTaskManagerLauncher:
    """TaskManagers as Ray actors (see the module docstring)."""

    def __init__(self, configuration: Configuration, slots: int,
                 secret_file: Path | None = None) -> None:
        ray = _import_ray()
        self._ray = ray
        address = str(configuration["ray.address"] or "auto")
        _check_reachable(address)
        try:
            ray.init(address=address, namespace=f"headwater-{uuid.uuid4().hex[:8]}",
                     log_to_driver=False, configure_logging=False)
        except Exception as exc:  # noqa: BLE001 - ray raises ConnectionError and others
            raise RayUnavailable(f"cannot connect to the Ray cluster at {address!r} "
                                 f"(ray.address): {exc}") from exc
        self.slots = slots
        self.secret_file = secret_file
        process_size = str(configuration["taskmanager.memory.process.size"] or "")
        options: dict[str, Any] = {"num_cpus": slots, "scheduling_strategy": "SPREAD",
                                   "max_restarts": 0, "max_concurrency": 2}
        if process_size:
            options["memory"] = parse_memory_size(process_size)
        resources = _resources(configuration)
        if resources:
            options["resources"] = resources
        self._actor_class = ray.remote(TaskManagerActor).options(**options)
        self.cluster_id = uuid.uuid4().hex[:12]
        self.jobmanager_address = ""
        #: name -> (actor handle, ObjectRef of its run() call)
        self.actors: dict[str, tuple[Any, Any]] = {}
        #: actors shut down on purpose: their end is not a death to replace
        self.retired: dict[str, tuple[Any, Any]] = {}
        self._started = 0

    @property
    def slots_per_task_manager(self) -> int:
        """Slots of each TaskManager actor."""
        return self.slots

    def nodes(self) -> list[dict[str, Any]]:
        """The Ray cluster's live nodes (``NodeID``, ``NodeManagerAddress``, resources)."""
        return [n for n in self._ray.nodes() if n.get("Alive")]

    def start(self, jobmanager_address: str, count: int) -> None:
        """Create ``count`` more TaskManager actors; Ray places them."""
        self.jobmanager_address = jobmanager_address
        secret = read_secret_file(self.secret_file) if self.secret_file is not None else None
        for _ in range(count):
            name = f"taskmanager-{self._started}"
            self._started += 1
            actor = self._actor_class.remote(jobmanager_address, self.slots, secret, name,
                                             self.cluster_id)
            self.actors[name] = (actor, actor.run.remote())
            log.info("requested TaskManager actor %s from Ray", name)

    def _ended(self, actors: dict[str, tuple[Any, Any]]) -> list[str]:
        refs = {ref: name for name, (_, ref) in actors.items()}
        if not refs:
            return []
        ready, _ = self._ray.wait(list(refs), num_returns=len(refs), timeout=0)
        return [refs[r] for r in ready]

    def replace_dead(self) -> int:
        """Start a new actor for every TaskManager actor that ended without being retired
        (its node was lost, its process died); returns how many."""
        for name in self._ended(self.retired):  # finished on purpose: free its resources
            actor, _ = self.retired.pop(name)
            self._ray.kill(actor, no_restart=True)
        dead = self._ended(self.actors)
        for name in dead:
            actor, ref = self.actors.pop(name)
            try:
                self._ray.get(ref, timeout=0)
                why = "ended"
            except Exception as exc:  # noqa: BLE001 - RayActorError and the like
                why = f"died: {type(exc).__name__}"
            log.warning("TaskManager actor %s %s; requesting a replacement", name, why)
            self._ray.kill(actor, no_restart=True)
        if dead:
            self.start(self.jobmanager_address, len(dead))
        return len(dead)

    def retire(self, task_manager: TaskManagerInfo) -> None:
        """Forget the actor of ``task_manager`` (it is shut down on purpose)."""
        name = task_manager.attributes.get("rayActorName", "")
        if name in self.actors:
            self.retired[name] = self.actors.pop(name)

    def stop(self) -> None:
        """Kill every actor and disconnect from the Ray cluster."""
        for actor, _ in [*self.actors.values(), *self.retired.values()]:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors.clear()
        self.retired.clear()
        self._ray.shutdown()
