"""Pipelined regions: the subtasks that must run at the same time (Flink's
``SchedulingPipelinedRegion``).

Subtasks joined by pipelined exchanges form one region: they are deployed together and,
in BATCH jobs, restarted together. Blocking exchanges separate regions: a region is
deployed once every producer of its blocking inputs has finished, so a job runs stage by
stage on fewer slots than its parallelism. ::

    regions = compute_regions(graph.vertices, is_blocking)
    regions[0].members      # [("<vertex id>", 0), ...]
    regions[1].producers    # the (vertex id, subtask) whose files region 1 reads
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from headwater.runtime.jobmanager.connections import consumers_of

#: A subtask: (vertex id, subtask index).
SubtaskId = tuple[str, int]


@dataclasses.dataclass
class PipelinedRegion:
    """Subtasks joined by pipelined exchanges, and the regions around it."""

    index: int
    members: list[SubtaskId]
    #: Producer subtasks whose blocking partitions this region reads.
    producers: set[SubtaskId] = dataclasses.field(default_factory=set)
    #: Regions that read this region's blocking partitions.
    consumer_regions: set[int] = dataclasses.field(default_factory=set)
    #: Regions whose blocking partitions this region reads.
    producer_regions: set[int] = dataclasses.field(default_factory=set)

    @property
    def slots_needed(self) -> int:
        """Slots to run the region with slot sharing: its widest vertex."""
        per_vertex: dict[str, int] = {}
        for vertex_id, _ in self.members:
            per_vertex[vertex_id] = per_vertex.get(vertex_id, 0) + 1
        return max(per_vertex.values())

    def slot_of(self) -> dict[SubtaskId, int]:
        """Which of the region's slots each member uses (subtask k of every vertex of the
        region shares slot k, as slot sharing does for a whole job)."""
        ranks: dict[str, int] = {}
        placement = {}
        for member in sorted(self.members, key=lambda m: (m[0], m[1])):
            rank = ranks.get(member[0], 0)
            ranks[member[0]] = rank + 1
            placement[member] = rank
        return placement


def compute_regions(vertices: Sequence[Any], is_blocking: Callable[[Any], bool]
                    ) -> list[PipelinedRegion]:
    """The pipelined regions of a job's vertices (``ExecutionJobVertex``, topologically
    ordered), in an order where every region comes after the regions it reads from."""
    parent: dict[SubtaskId, SubtaskId] = {}

    def find(x: SubtaskId) -> SubtaskId:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_id = {v.vertex_id: v for v in vertices}
    for v in vertices:
        for i in range(v.parallelism):
            parent[(v.vertex_id, i)] = (v.vertex_id, i)
    blocking_links: list[tuple[SubtaskId, SubtaskId]] = []
    for v in vertices:
        for edge in v.job_vertex.outputs:
            target = by_id[edge.target_vertex_id]
            blocking = is_blocking(edge)
            for p in range(v.parallelism):
                for c in consumers_of(edge.ship_strategy.value, v.parallelism,
                                      target.parallelism, p):
                    producer, consumer = (v.vertex_id, p), (target.vertex_id, c)
                    if blocking:
                        blocking_links.append((producer, consumer))
                    else:
                        a, b = find(producer), find(consumer)
                        if a != b:
                            parent[b] = a
    order = {v.vertex_id: k for k, v in enumerate(vertices)}
    groups: dict[SubtaskId, list[SubtaskId]] = {}
    for member in parent:
        groups.setdefault(find(member), []).append(member)
    members_list = sorted(groups.values(),
                          key=lambda ms: min((order[m[0]], m[1]) for m in ms))
    index_of = {m: k for k, ms in enumerate(members_list) for m in ms}
    regions = [PipelinedRegion(k, sorted(ms, key=lambda m: (order[m[0]], m[1])))
               for k, ms in enumerate(members_list)]
    for producer, consumer in blocking_links:
        pr, cr = index_of[producer], index_of[consumer]
        if pr == cr:
            raise ValueError(f"a blocking exchange inside one pipelined region "
                             f"({producer} -> {consumer})")
        regions[cr].producers.add(producer)
        regions[cr].producer_regions.add(pr)
        regions[pr].consumer_regions.add(cr)
    return _topological(regions)


def _topological(regions: list[PipelinedRegion]) -> list[PipelinedRegion]:
    """Renumber the regions so that producers come before their consumers."""
    remaining = {r.index: len(r.producer_regions) for r in regions}
    ready = [r.index for r in regions if not r.producer_regions]
    ordered: list[int] = []
    while ready:
        k = ready.pop(0)
        ordered.append(k)
        for c in sorted(regions[k].consumer_regions):
            remaining[c] -= 1
            if remaining[c] == 0:
                ready.append(c)
    if len(ordered) != len(regions):
        raise ValueError("the blocking exchanges of the job form a cycle")
    renumber = {old: new for new, old in enumerate(ordered)}
    result = []
    for old in ordered:
        r = regions[old]
        result.append(PipelinedRegion(
            renumber[old], r.members, r.producers,
            {renumber[c] for c in r.consumer_regions},
            {renumber[p] for p in r.producer_regions}))
    return result
