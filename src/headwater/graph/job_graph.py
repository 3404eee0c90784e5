"""The JobGraph: what a client submits and a JobMaster schedules.

A JobGraph is a DAG of :class:`JobVertex` objects. Each vertex is a linear chain of
operators that run in one task (one thread) per parallel subtask; vertices are joined by
:class:`JobEdge` objects that say how records are distributed (the ship strategy).
The whole graph is shipped with cloudpickle, so operators may carry user functions.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class ShipStrategy(enum.StrEnum):
    """How records travel over an edge between two vertices (Flink's names)."""

    FORWARD = "FORWARD"
    HASH = "HASH"
    REBALANCE = "REBALANCE"
    RESCALE = "RESCALE"
    SHUFFLE = "SHUFFLE"
    BROADCAST = "BROADCAST"
    #: partition_custom: the edge's key selector picks the channel
    #: (``channel(value, num_channels)``).
    CUSTOM = "CUSTOM"


@dataclasses.dataclass
class OperatorSpec:
    """One operator of a chain: a template instance of a ``StreamOperator``.

    ``operator`` is an unopened :class:`headwater.runtime.operators.base.StreamOperator`;
    each subtask gets its own deserialized copy.
    """

    operator_id: str  # 32 lower-case hex, stable for the same program (uid-based if uid set)
    name: str  # e.g. "Map", "Source: lines", "Sink: Print to Std. Out"
    uid: str | None
    operator: Any


@dataclasses.dataclass
class JobEdge:
    """A connection from an upstream vertex to a downstream vertex."""

    source_vertex_id: str
    target_vertex_id: str
    ship_strategy: ShipStrategy
    #: For HASH: a picklable callable record -> key.
    key_selector: Any = None
    #: Index of this edge among the target vertex's inputs (``num`` in the plan JSON).
    input_number: int = 0
    #: The OutputTag id when the edge carries a side output instead of the main output.
    side_output_tag: str | None = None
    #: 1 or 2: the edge feeds that input of a two-input operator (Flink's ``typeNumber``);
    #: 0 for a one-input operator.
    type_number: int = 0


@dataclasses.dataclass
class JobVertex:
    """A chain of operators executed with one parallelism."""

    vertex_id: str  # 32 lower-case hex
    name: str  # Flink-style, e.g. "Source: lines -> split"
    parallelism: int
    max_parallelism: int
    operators: list[OperatorSpec]
    inputs: list[JobEdge] = dataclasses.field(default_factory=list)
    outputs: list[JobEdge] = dataclasses.field(default_factory=list)
    #: cache(): the cluster data set this vertex's output is kept as (32 hex), if any.
    cache_dataset_id: str | None = None
    #: Set by the JobMaster when the data set already exists: the vertex reads it instead
    #: of computing it (its inputs are gone).
    reads_cached_dataset: str | None = None

    @property
    def is_source(self) -> bool:
        """A vertex without inputs runs a source operator at its head."""
        return not self.inputs


@dataclasses.dataclass
class JobGraph:
    """A job ready to be submitted: vertices in topological order plus its configuration."""

    job_id: str
    name: str
    vertices: list[JobVertex]
    #: Execution configuration as Flink reports it under /jobs/:jobid/config
    #: ("execution-mode", "restart-strategy", "job-parallelism", "object-reuse-mode",
    #: "user-config").
    execution_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Job-level configuration overrides (Flink config keys), e.g. checkpointing.
    configuration: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Restore settings (filled in by the submitter).
    savepoint_path: str | None = None
    allow_non_restored_state: bool = False

    def vertex(self, vertex_id: str) -> JobVertex:
        """Return the vertex with this id (KeyError if unknown)."""
        for v in self.vertices:
            if v.vertex_id == vertex_id:
                return v
        raise KeyError(vertex_id)

    def plan(self) -> dict[str, Any]:
        """The plan JSON exactly as Flink's JsonPlanGenerator writes it."""
        from headwater.graph.plan import plan_json

        return plan_json(self)
