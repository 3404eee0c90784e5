"""Flame graphs of job vertices (Flink 1.13's ``JobVertexFlameGraphHandler`` with the
answers Flink 1.14 gives while there is nothing to draw).

The answer is Flink's ``JobVertexFlameGraph``: ``endTimestamp`` (when the sampling ended)
and ``data``, a tree of ``{name, value, children}`` whose root is ``root`` and whose
values count samples, built from the vertex's thread samples
(:mod:`headwater.runtime.jobmanager.thread_info`) like ``JobVertexFlameGraphFactory``:
every sample adds one to each frame of its stack, outermost frame first. ``type=full``
counts every sample, ``on_cpu`` those of running threads, ``off_cpu`` those of waiting
ones. Without a graph the answer is ``endTimestamp`` alone: -1 the vertex has ended, -2
flame graphs are disabled (``rest.flamegraph.enabled``), -3 the first sampling still runs.
"""

from __future__ import annotations

from typing import Any

from headwater.rest.context import HandlerContext
from headwater.rest.handlers.common import aggregate_state, state_counts, vertex
from headwater.runtime.jobmanager.thread_info import JobVertexThreadInfoStats
from headwater.runtime.thread_samples import ON_CPU_STATE

#: Flink's FlameGraphTypeQueryParameter values, as the query parameter spells them.
FLAME_GRAPH_TYPES = ("full", "on_cpu", "off_cpu")

#: Flink's ``JobVertexFlameGraph`` in the JSON-schema dialect of its REST documentation.
FLAME_GRAPH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "id": "urn:jsonschema:org:apache:flink:runtime:webmonitor:threadinfo:JobVertexFlameGraph",
    "properties": {
        "endTimestamp": {"type": "integer"},
        "data": {
            "type": "object",
            "id": "urn:jsonschema:org:apache:flink:runtime:webmonitor:threadinfo:"
                  "JobVertexFlameGraph:Node",
            "properties": {
                "name": {"type": "string"},
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {
                    "type": "object",
                    "$ref": "urn:jsonschema:org:apache:flink:runtime:webmonitor:threadinfo:"
                            "JobVertexFlameGraph:Node"}},
            },
        },
    },
}


def parse_flame_graph_type(value: str) -> str:
    """``full``, ``on_cpu`` or ``off_cpu`` (any case, as Flink's enum parameter)."""
    lowered = value.lower()
    if lowered not in FLAME_GRAPH_TYPES:
        raise ValueError(f"not a flame graph type: {value!r}")
    return lowered


def terminated() -> dict[str, Any]:
    """The vertex has ended: nothing runs that could be sampled."""
    return {"endTimestamp": -1}


def disabled() -> dict[str, Any]:
    """``rest.flamegraph.enabled`` is false."""
    return {"endTimestamp": -2}


def waiting() -> dict[str, Any]:
    """The first sampling of the vertex has not completed yet."""
    return {"endTimestamp": -3}


class _NodeBuilder:
    __slots__ = ("name", "value", "children")

    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0
        self.children: dict[str, _NodeBuilder] = {}

    def child(self, name: str) -> _NodeBuilder:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = _NodeBuilder(name)
        return node

    def to_json(self) -> dict[str, Any]:
        children = sorted(self.children.values(), key=lambda c: (-c.value, c.name))
        return {"name": self.name, "value": self.value,
                "children": [c.to_json() for c in children]}


def create_flame_graph(stats: JobVertexThreadInfoStats, graph_type: str) -> dict[str, Any]:
    """The flame graph of ``graph_type`` (one of :data:`FLAME_GRAPH_TYPES`) of a vertex's
    samples; children are listed heaviest first."""
    root = _NodeBuilder("root")
    for (state, stack), count in stats.samples.counts.items():
        on_cpu = state == ON_CPU_STATE
        if (graph_type == "on_cpu" and not on_cpu) or (graph_type == "off_cpu" and on_cpu):
            continue
        root.value += count
        node = root
        for name in stack:
            node = node.child(name)
            node.value += count
    return {"endTimestamp": stats.end_time, "data": root.to_json()}


async def vertex_flame_graph(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jobs/:jobid/vertices/:vertexid/flamegraph: the vertex's flame graph."""
    if not ctx.cluster.configuration.get_bool("rest.flamegraph.enabled"):
        return disabled()
    graph, jv = vertex(ctx)
    if aggregate_state(state_counts(jv.subtasks), jv.parallelism).is_terminal:
        return terminated()
    job_master = ctx.cluster.job_master(graph.job_id)
    stats = job_master.vertex_thread_info_stats(jv.vertex_id) if job_master else None
    if stats is None:
        return waiting()
    return create_flame_graph(stats, ctx.first("type", "full"))
