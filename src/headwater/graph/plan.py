"""The plan JSON of a JobGraph, exactly as Flink 1.12's JsonPlanGenerator writes it.

``/jobs/:jobid/plan`` answers ``{"plan": plan_json(job_graph)}``::

    {"jid": "...", "name": "wordcount", "nodes": [
        {"id": "...", "parallelism": 2, "operator": "", "operator_strategy": "",
         "description": "Keyed Aggregation -&gt; Sink: Unnamed",
         "inputs": [{"num": 0, "id": "...", "ship_strategy": "HASH",
                     "exchange": "pipelined_bounded"}],
         "optimizer_properties": {}},
        {"id": "...", "parallelism": 2, ..., "description": "Source: lines -&gt; split"}]}

Nodes come in the order Flink's StreamingJobGraphGenerator creates vertices: a depth-first
walk from each source (sources in declaration order) that creates a vertex after all
vertices downstream of it, so consumers precede their producers. Source nodes have no
"inputs" key. The description is the vertex name HTML-escaped like Apache Commons'
``escapeHtml4`` (``&``, ``<``, ``>``, ``"`` and the HTML 4 named entities), with
newlines as ``<br/>`` and backslashes as ``&#92;``.
"""

from __future__ import annotations

import html.entities
from collections.abc import Iterable
from typing import Any

from headwater.config import is_batch
from headwater.graph.job_graph import JobGraph, JobVertex, ShipStrategy

#: Flink's ResultPartitionType of streaming exchanges, lower-cased.
EXCHANGE = "pipelined_bounded"
#: ... and of the exchanges of BATCH jobs but FORWARD ones.
BLOCKING = "blocking"

_ENTITIES = {cp: f"&{name};" for cp, name in html.entities.codepoint2name.items()}
_ENTITIES.pop(ord("'"), None)  # escapeHtml4 leaves apostrophes alone


def escape_html4(text: str) -> str:
    """HTML-escape like Apache Commons Text's ``StringEscapeUtils.escapeHtml4``."""
    return text.translate(_ENTITIES)


def describe(name: str) -> str:
    """A vertex name as the plan's "description"."""
    return escape_html4(name).replace("\n", "<br/>").replace("\\", "&#92;")


def creation_order(sources: Iterable[JobVertex], by_id: dict[str, JobVertex]) -> list[JobVertex]:
    """Vertices in the order Flink creates them: post-order from each source."""
    built: set[str] = set()
    order: list[JobVertex] = []

    def create(v: JobVertex) -> None:
        # Iterative post-order DFS (deep pipelines must not hit the recursion limit).
        stack: list[tuple[JobVertex, int]] = [(v, 0)]
        entered = {v.vertex_id}
        while stack:
            vertex, i = stack.pop()
            if i < len(vertex.outputs):
                stack.append((vertex, i + 1))
                target = by_id[vertex.outputs[i].target_vertex_id]
                if target.vertex_id not in built and target.vertex_id not in entered:
                    entered.add(target.vertex_id)
                    stack.append((target, 0))
            else:
                built.add(vertex.vertex_id)
                order.append(vertex)

    for s in sources:
        if s.vertex_id not in built:
            create(s)
    # Vertices unreachable from the given sources (not expected) keep their order.
    order.extend(v for v in by_id.values() if v.vertex_id not in built)
    return order


def plan_json(job_graph: JobGraph) -> dict[str, Any]:
    """The plan of a job as Flink's JsonPlanGenerator writes it."""
    by_id = {v.vertex_id: v for v in job_graph.vertices}
    sources = [v for v in job_graph.vertices if v.is_source]
    batch = is_batch(job_graph.configuration)
    nodes = []
    for v in creation_order(sources, by_id):
        node: dict[str, Any] = {
            "id": v.vertex_id,
            "parallelism": v.parallelism,
            "operator": "",
            "operator_strategy": "",
            "description": describe(v.name),
        }
        if not v.is_source:
            node["inputs"] = [
                {"num": num, "id": e.source_vertex_id, "ship_strategy": e.ship_strategy.value,
                 "exchange": BLOCKING if batch and e.ship_strategy is not ShipStrategy.FORWARD
                 else EXCHANGE}
                for num, e in enumerate(v.inputs)
            ]
        node["optimizer_properties"] = {}
        nodes.append(node)
    return {"jid": job_graph.job_id, "name": job_graph.name, "nodes": nodes}
