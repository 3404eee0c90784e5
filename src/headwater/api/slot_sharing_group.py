"""``SlotSharingGroup`` and ``MemorySize`` (PyFlink's names).

``stream.slot_sharing_group("g")`` (or a ``SlotSharingGroup``) is accepted and recorded in
the execution plan. headwater runs one task per slot, so groups and their resource
requests do not change where operators run.
"""

from __future__ import annotations

import re
from typing import Any

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}


class MemorySize:
    """An amount of memory in bytes."""

    def __init__(self, bytes_size: int) -> None:
        if int(bytes_size) < 0:
            raise ValueError("memory size must not be negative")
        self._bytes = int(bytes_size)

    @staticmethod
    def of_mebi_bytes(mebi_bytes: int) -> MemorySize:
        """``mebi_bytes`` MiB."""
        return MemorySize(int(mebi_bytes) << 20)

    @staticmethod
    def parse(text: str) -> MemorySize:
        """Parse "512m", "1 gb", "1024"..."""
        m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(text))
        unit = m.group(2).lower() if m else None
        if m is None or unit not in _UNITS:
            raise ValueError(f"not a memory size: {text!r}")
        return MemorySize(int(m.group(1)) * _UNITS[unit])

    def get_bytes(self) -> int:
        """The size in bytes."""
        return self._bytes

    def get_kibi_bytes(self) -> int:
        """The size in KiB."""
        return self._bytes >> 10

    def get_mebi_bytes(self) -> int:
        """The size in MiB."""
        return self._bytes >> 20

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemorySize) and other._bytes == self._bytes

    def __hash__(self) -> int:
        return hash(self._bytes)

    def __repr__(self) -> str:
        return f"MemorySize({self._bytes})"


class SlotSharingGroup:
    """A named slot sharing group with optional resource requests (recorded only)."""

    def __init__(self, name: str, resources: dict[str, Any] | None = None) -> None:
        if not name:
            raise ValueError("a slot sharing group needs a name")
        self._name = name
        self._resources = dict(resources or {})

    @staticmethod
    def builder(name: str) -> SlotSharingGroup.Builder:
        """A builder of a group called ``name``."""
        return SlotSharingGroup.Builder(name)

    def get_name(self) -> str:
        """The group's name."""
        return self._name

    def get_cpu_cores(self) -> float | None:
        """The requested CPU cores (None: unspecified)."""
        return self._resources.get("cpu_cores")

    def get_task_heap_memory(self) -> MemorySize | None:
        """The requested task heap memory."""
        return self._resources.get("task_heap_memory")

    def get_task_off_heap_memory(self) -> MemorySize | None:
        """The requested task off-heap memory."""
        return self._resources.get("task_off_heap_memory")

    def get_managed_memory(self) -> MemorySize | None:
        """The requested managed memory."""
        return self._resources.get("managed_memory")

    def get_external_resources(self) -> dict[str, float]:
        """The requested external resources."""
        return dict(self._resources.get("external", {}))

    def __repr__(self) -> str:
        return f"SlotSharingGroup({self._name!r})"

    class Builder:
        """Sets a group's resource requests (recorded, not enforced)."""

        def __init__(self, name: str) -> None:
            self._name = name
            self._resources: dict[str, Any] = {}

        def set_cpu_cores(self, cpu_cores: float) -> SlotSharingGroup.Builder:
            """CPU cores."""
            self._resources["cpu_cores"] = float(cpu_cores)
            return self

        def set_task_heap_memory(self, memory: MemorySize) -> SlotSharingGroup.Builder:
            """Task heap memory."""
            self._resources["task_heap_memory"] = memory
            return self

        def set_task_heap_memory_mb(self, mb: int) -> SlotSharingGroup.Builder:
            """Task heap memory in MiB."""
            return self.set_task_heap_memory(MemorySize.of_mebi_bytes(mb))

        def set_task_off_heap_memory(self, memory: MemorySize) -> SlotSharingGroup.Builder:
            """Task off-heap memory."""
            self._resources["task_off_heap_memory"] = memory
            return self

        def set_task_off_heap_memory_mb(self, mb: int) -> SlotSharingGroup.Builder:
            """Task off-heap memory in MiB."""
            return self.set_task_off_heap_memory(MemorySize.of_mebi_bytes(mb))

        def set_managed_memory(self, memory: MemorySize) -> SlotSharingGroup.Builder:
            """Managed memory."""
            self._resources["managed_memory"] = memory
            return self

        def set_managed_memory_mb(self, mb: int) -> SlotSharingGroup.Builder:
            """Managed memory in MiB."""
            return self.set_managed_memory(MemorySize.of_mebi_bytes(mb))

        def set_external_resource(self, name: str, value: float) -> SlotSharingGroup.Builder:
            """An external resource."""
            self._resources.setdefault("external", {})[name] = float(value)
            return self

        def build(self) -> SlotSharingGroup:
            """The group."""
            return SlotSharingGroup(self._name, self._resources)
