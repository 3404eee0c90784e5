"""The StreamGraph: one node per operator the program declared, before chaining.

Translating the program's transformations (:mod:`headwater.graph.translation`) gives a
:class:`StreamNode` per operator (source, map, sink...) and a :class:`StreamEdge` per
connection. Partitioning calls (``key_by``, ``rebalance``...) add no node: they set the
ship strategy of the edges that the next operator creates, like Flink's virtual partition
nodes; ``get_side_output`` adds no node either: the next operator's edge names the side
output (Flink's virtual side-output node). An edge without an explicit strategy becomes
FORWARD or REBALANCE when the JobGraph is built, once parallelisms are final.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from headwater.graph.job_graph import ShipStrategy


@dataclasses.dataclass(eq=False)
class StreamEdge:
    """A connection between two stream nodes."""

    source_id: int
    target_id: int
    #: Requested strategy; None means "FORWARD if parallelisms match, else REBALANCE".
    partitioner: ShipStrategy | None = None
    #: For HASH: the key selector (record -> key).
    key_selector: Any = None
    #: The OutputTag id when the edge carries a side output of the source node (such an
    #: edge is never chained).
    side_output_tag: str | None = None
    #: 1 or 2 when the target is a two-input operator (which input the edge feeds), else 0.
    type_number: int = 0


@dataclasses.dataclass(eq=False)
class StreamNode:
    """One operator of the program."""

    id: int
    #: Display name as in Flink's vertex names: "Map", "Source: lines", "Sink: Unnamed".
    name: str
    #: The operator template (a StreamOperator instance).
    operator: Any
    #: Name prefix that stays when the user renames the node ("Source: ", "Sink: ").
    name_prefix: str = ""
    parallelism: int | None = None
    max_parallelism: int | None = None
    uid: str | None = None
    #: disable_chaining(): never chained to a predecessor or successor.
    chaining_disabled: bool = False
    #: start_new_chain(): not chained to its predecessor.
    starts_new_chain: bool = False
    #: cache(): its output is kept as this cluster data set (it ends its chain).
    cache_id: str | None = None
    in_edges: list[StreamEdge] = dataclasses.field(default_factory=list)
    out_edges: list[StreamEdge] = dataclasses.field(default_factory=list)

    @property
    def is_source(self) -> bool:
        """Whether the node has no inputs."""
        return not self.in_edges

    def set_name(self, name: str) -> None:
        """Rename, keeping the kind prefix ("Source: ", "Sink: ")."""
        self.name = f"{self.name_prefix}{name}"


class StreamGraph:
    """Nodes and edges of a program, in declaration order."""

    def __init__(self, job_name: str = "Flink Streaming Job") -> None:
        self.job_name = job_name
        self.nodes: dict[int, StreamNode] = {}
        self.parallelism = 1
        self.max_parallelism: int | None = None
        self.chaining_enabled = True
        self._next_id = 1

    def add_node(self, name: str, operator: Any, name_prefix: str = "",
                 parallelism: int | None = None, node_id: int | None = None) -> StreamNode:
        """Append a node; its id is ``node_id`` or the next integer (declaration order)."""
        if node_id is None:
            node_id = self._next_id
        node = StreamNode(id=node_id, name=f"{name_prefix}{name}", operator=operator,
                          name_prefix=name_prefix, parallelism=parallelism)
        self._next_id = max(self._next_id, node_id + 1)
        self.nodes[node.id] = node
        return node

    def add_edge(self, source: StreamNode, target: StreamNode,
                 partitioner: ShipStrategy | None = None, key_selector: Any = None,
                 side_output_tag: str | None = None, type_number: int = 0) -> StreamEdge:
        """Connect two nodes (``side_output_tag``: the edge reads that side output;
        ``type_number``: 1 or 2, the input of a two-input target it feeds)."""
        if partitioner == ShipStrategy.HASH and key_selector is None:
            raise ValueError("a HASH edge needs a key selector")
        edge = StreamEdge(source.id, target.id, partitioner, key_selector, side_output_tag,
                          type_number)
        source.out_edges.append(edge)
        target.in_edges.append(edge)
        return edge

    def node(self, node_id: int) -> StreamNode:
        """The node with this id."""
        return self.nodes[node_id]

    @property
    def source_ids(self) -> list[int]:
        """Ids of the nodes without inputs, sorted."""
        return sorted(n.id for n in self.nodes.values() if n.is_source)
