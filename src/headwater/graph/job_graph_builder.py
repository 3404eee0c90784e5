"""StreamGraph -> JobGraph: operator chaining and stable ids (Flink's
StreamingJobGraphGenerator and StreamGraphHasherV2, in Python).

Chaining rule: an edge A -> B is chained (B runs in A's task, no exchange) when

* the edge is FORWARD: no partitioning was requested and the parallelisms match (an
  edge without a requested strategy between different parallelisms becomes REBALANCE);
* A and B have the same parallelism;
* B has exactly one input and A exactly one output (a simplification of Flink, which also
  chains one of several outputs: our chains are linear lists of operators); side-output
  edges count as outputs;
* the edge carries A's main output, not a side output (side outputs always cross to
  another vertex, so an operator with side-output consumers ends its chain);
* the edge does not feed one input of a two-input operator (``type_number`` 0: such
  edges always cross to another vertex, where their records arrive tagged);
* neither A nor B called ``disable_chaining()``, B did not call ``start_new_chain()``, and
  chaining is enabled on the environment.

Ids: every operator gets a 16-byte hash shown as 32 lower-case hex digits. With a
``uid`` it is md5(uid); otherwise md5 over the node's position in a breadth-first walk
from the sources (sorted by declaration), once for the node and once more per chainable
output, then mixed with the hashes of its inputs (``h = h * 37 ^ input_h`` per byte), as
StreamGraphHasherV2 does (with md5 instead of murmur3_128). The same program therefore
gets the same ids on every build. A vertex's id is the id of its chain head.
"""

from __future__ import annotations

import hashlib
import heapq
import struct
from collections import deque

from headwater.graph.job_graph import JobEdge, JobGraph, JobVertex, OperatorSpec, ShipStrategy
from headwater.graph.stream_graph import StreamEdge, StreamGraph, StreamNode
from headwater.ids import new_id

DEFAULT_JOB_NAME = "Flink Streaming Job"


def default_execution_config(parallelism: int) -> dict:
    """What /jobs/:jobid/config reports under "execution-config"."""
    return {
        "execution-mode": "PIPELINED",
        "restart-strategy": "Restart deactivated.",
        "job-parallelism": parallelism,
        "object-reuse-mode": False,
        "user-config": {},
    }


class _Builder:
    """One StreamGraph -> JobGraph translation."""

    def __init__(self, sg: StreamGraph) -> None:
        self.sg = sg
        self.parallelism: dict[int, int] = {}
        self.max_parallelism: dict[int, int] = {}
        self.strategy: dict[int, ShipStrategy] = {}  # id(edge) -> resolved strategy

    # -- resolution ---------------------------------------------------------------------

    def resolve(self) -> None:
        """Fix every node's parallelism and max parallelism and every edge's strategy."""
        # The runtime imports this package (the JobGraph it runs): reach it only when called.
        from headwater.runtime.state.key_groups import compute_default_max_parallelism

        sg = self.sg
        for node in sg.nodes.values():
            p = node.parallelism or sg.parallelism
            if p < 1:
                raise ValueError(f"parallelism of {node.name!r} must be at least 1, got {p}")
            maxp = node.max_parallelism or sg.max_parallelism or compute_default_max_parallelism(p)
            if p > maxp:
                raise ValueError(f"the parallelism ({p}) of {node.name!r} is higher than its "
                                 f"max parallelism ({maxp})")
            self.parallelism[node.id] = p
            self.max_parallelism[node.id] = maxp
        for node in sg.nodes.values():
            for edge in node.out_edges:
                self.strategy[id(edge)] = self._resolve_edge(edge)

    def _resolve_edge(self, edge: StreamEdge) -> ShipStrategy:
        up, down = self.parallelism[edge.source_id], self.parallelism[edge.target_id]
        requested = edge.partitioner
        if requested is None:
            return ShipStrategy.FORWARD if up == down else ShipStrategy.REBALANCE
        if requested == ShipStrategy.FORWARD and up != down:
            src, tgt = self.sg.node(edge.source_id), self.sg.node(edge.target_id)
            raise ValueError(
                "Forward partitioning does not allow change of parallelism. Upstream "
                f"operation: {src.name} parallelism: {up}, downstream operation: {tgt.name} "
                f"parallelism: {down} You must use another partitioning strategy, such as "
                "broadcast, rebalance, shuffle or global.")
        return requested

    def chainable(self, edge: StreamEdge) -> bool:
        """Whether the edge's target runs in its source's chain (module docstring)."""
        sg = self.sg
        up, down = sg.node(edge.source_id), sg.node(edge.target_id)
        return (sg.chaining_enabled
                and edge.side_output_tag is None
                and edge.type_number == 0
                and len(down.in_edges) == 1
                and len(up.out_edges) == 1
                and self.strategy[id(edge)] == ShipStrategy.FORWARD
                and self.parallelism[up.id] == self.parallelism[down.id]
                and not up.chaining_disabled
                and up.cache_id is None
                and not down.chaining_disabled
                and not down.starts_new_chain)

    # -- hashing (StreamGraphHasherV2) ---------------------------------------------------

    def hashes(self) -> dict[int, bytes]:
        """16-byte hash per node id, by StreamGraphHasherV2's breadth-first walk."""
        sg = self.sg
        hashes: dict[int, bytes] = {}
        visited: set[int] = set()
        remaining: deque[StreamNode] = deque()
        for sid in sg.source_ids:
            remaining.append(sg.node(sid))
            visited.add(sid)
        while remaining:
            node = remaining.popleft()
            if self._node_hash(node, hashes):
                for edge in node.out_edges:
                    if edge.target_id not in visited:
                        remaining.append(sg.node(edge.target_id))
                        visited.add(edge.target_id)
            else:
                visited.discard(node.id)  # revisited once all inputs have hashes
        missing = [n.name for n in sg.nodes.values() if n.id not in hashes]
        if missing:
            raise ValueError(f"operators not reachable from a source: {missing}")
        return hashes

    def _node_hash(self, node: StreamNode, hashes: dict[int, bytes]) -> bool:
        if node.uid is not None:
            h = hashlib.md5(node.uid.encode("utf-8")).digest()
            if h in hashes.values():
                raise ValueError(f"Hash collision on user-specified ID {node.uid!r}. Most likely "
                                 "cause is a non-unique ID. Please check that all IDs specified "
                                 "via `uid(str)` are unique.")
            hashes[node.id] = h
            return True
        if any(e.source_id not in hashes for e in node.in_edges):
            return False
        position = struct.pack(">i", len(hashes))
        hasher = hashlib.md5(position)
        for edge in node.out_edges:
            if self.chainable(edge):
                hasher.update(position)
        mixed = bytearray(hasher.digest())
        for edge in node.in_edges:
            other = hashes[edge.source_id]
            for j in range(len(mixed)):
                mixed[j] = ((mixed[j] * 37) ^ other[j]) & 0xFF
        hashes[node.id] = bytes(mixed)
        return True

    # -- chains and vertices ------------------------------------------------------------

    def build(self, job_name: str, job_id: str) -> JobGraph:
        """Chain the nodes into vertices and connect them."""
        sg = self.sg
        if not sg.nodes:
            raise ValueError("No operators defined in streaming topology. Cannot execute.")
        self.resolve()
        hashes = self.hashes()
        chains: dict[int, list[StreamNode]] = {}
        for node in sg.nodes.values():
            if len(node.in_edges) == 1 and self.chainable(node.in_edges[0]):
                continue
            chain = [node]
            while len(chain[-1].out_edges) == 1 and self.chainable(chain[-1].out_edges[0]):
                chain.append(sg.node(chain[-1].out_edges[0].target_id))
            chains[node.id] = chain
        vertices: dict[int, JobVertex] = {}
        for head_id, chain in chains.items():
            vertices[head_id] = JobVertex(
                vertex_id=hashes[head_id].hex(),
                name=" -> ".join(n.name for n in chain),
                parallelism=self.parallelism[head_id],
                max_parallelism=self.max_parallelism[head_id],
                operators=[OperatorSpec(operator_id=hashes[n.id].hex(), name=n.name, uid=n.uid,
                                        operator=n.operator) for n in chain],
            )
            tail = chain[-1]
            vertices[head_id].cache_dataset_id = tail.cache_id
            for edge in tail.out_edges:
                strategy = self.strategy[id(edge)]
                vertices[head_id].outputs.append(JobEdge(
                    source_vertex_id=hashes[head_id].hex(),
                    # the target of a non-chained edge is always a chain head
                    target_vertex_id=hashes[edge.target_id].hex(),
                    ship_strategy=strategy,
                    key_selector=edge.key_selector if strategy in (ShipStrategy.HASH,
                                                                   ShipStrategy.CUSTOM)
                    else None,
                    side_output_tag=edge.side_output_tag,
                    type_number=edge.type_number,
                ))
        by_id = {v.vertex_id: v for v in vertices.values()}
        sources = [vertices[sid] for sid in sg.source_ids]
        from headwater.graph.plan import creation_order

        for v in creation_order(sources, by_id):  # Flink connects inputs in this order
            for job_edge in v.outputs:
                target = by_id[job_edge.target_vertex_id]
                job_edge.input_number = len(target.inputs)
                target.inputs.append(job_edge)
        ordered = _topological(vertices, {h: [e.target_id for e in c[-1].out_edges]
                                          for h, c in chains.items()})
        return JobGraph(job_id=job_id, name=job_name, vertices=ordered,
                        execution_config=default_execution_config(sg.parallelism))


def _topological(vertices: dict[int, JobVertex], successors: dict[int, list[int]]
                 ) -> list[JobVertex]:
    """Kahn's algorithm, ties broken by declaration order of the chain heads."""
    indegree = dict.fromkeys(vertices, 0)
    for succ in successors.values():
        for s in succ:
            indegree[s] += 1
    ready = [h for h, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        h = heapq.heappop(ready)
        out.append(vertices[h])
        for s in successors[h]:
            indegree[s] -= 1
            if indegree[s] == 0:
                heapq.heappush(ready, s)
    if len(out) != len(vertices):
        raise ValueError("the stream graph has a cycle")
    return out


def build_job_graph(stream_graph: StreamGraph, job_name: str | None = None,
                    job_id: str | None = None) -> JobGraph:
    """Chain a StreamGraph into a JobGraph (fresh random job id unless given)."""
    return _Builder(stream_graph).build(job_name or stream_graph.job_name or DEFAULT_JOB_NAME,
                                        job_id or new_id())
