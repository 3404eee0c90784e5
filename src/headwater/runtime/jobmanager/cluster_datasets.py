"""Cluster data sets: stream results that BATCH jobs kept on TaskManagers for later jobs
(``DataStream.cache()``; Flink's ``ClusterPartitionManager``).

A data set is one blocking partition per subtask of the vertex that computed it, each in
the files of the TaskManager that ran that subtask. It becomes usable when the job that
computed it FINISHED; a later job with the same cached stream reads the partitions
instead of computing them. Losing a TaskManager makes its data sets incomplete (listed,
not usable: the next job computes them again); releasing one deletes its files.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class DataSetPartition:
    """Where one subtask's part of a data set lives."""

    partition_id: str
    resource_id: str
    host: str
    data_port: int


@dataclasses.dataclass
class ClusterDataSet:
    """One cached stream's records on the cluster."""

    dataset_id: str
    #: The job that computed it.
    job_id: str
    #: One partition per subtask of the vertex that computed it, in subtask order.
    partitions: list[DataSetPartition]
    complete: bool = True

    @property
    def resource_ids(self) -> set[str]:
        """The TaskManagers holding some of it."""
        return {p.resource_id for p in self.partitions}


class ClusterDataSets:
    """The data sets of one cluster, by id."""

    def __init__(self) -> None:
        self._sets: dict[str, ClusterDataSet] = {}

    def register(self, dataset: ClusterDataSet) -> ClusterDataSet | None:
        """Keep a data set a job completed; the one it replaces (to be released), if any."""
        previous = self._sets.get(dataset.dataset_id)
        self._sets[dataset.dataset_id] = dataset
        return previous

    def usable(self, dataset_id: str, parallelism: int) -> ClusterDataSet | None:
        """The data set if a job can read it at ``parallelism``, else None."""
        dataset = self._sets.get(dataset_id)
        if dataset is None or not dataset.complete or len(dataset.partitions) != parallelism:
            return None
        return dataset

    def get(self, dataset_id: str) -> ClusterDataSet | None:
        """The data set with this id, complete or not."""
        return self._sets.get(dataset_id)

    def all(self) -> list[ClusterDataSet]:
        """Every data set, in the order they were completed."""
        return list(self._sets.values())

    def remove(self, dataset_id: str) -> ClusterDataSet | None:
        """Forget a data set; it, or None if unknown."""
        return self._sets.pop(dataset_id, None)

    def task_manager_lost(self, resource_id: str) -> list[ClusterDataSet]:
        """A TaskManager is gone: its data sets became incomplete; those data sets."""
        hit = [d for d in self._sets.values()
               if d.complete and resource_id in d.resource_ids]
        for dataset in hit:
            dataset.complete = False
        return hit


def cache_partition_id(attempt_id: str) -> str:
    """The id of the partition an attempt keeps its cached output in."""
    return f"{attempt_id}-cache"


def read_cached_datasets(job_graph: Any, datasets: ClusterDataSets) -> list[str]:
    """Make every vertex of ``job_graph`` whose cached output is a usable data set read
    it instead of computing it: its operators become one cache reader, its inputs go, and
    so do the vertices upstream that only fed it. The ids of the data sets read."""
    import cloudpickle

    from headwater.graph.job_graph import OperatorSpec
    from headwater.runtime.operators.cache_read import CacheReadOperator

    read = []
    had_outputs = {v.vertex_id for v in job_graph.vertices if v.outputs}
    for v in list(job_graph.vertices):
        if v.cache_dataset_id is None or datasets.usable(v.cache_dataset_id,
                                                         v.parallelism) is None:
            continue
        dataset_id = v.cache_dataset_id
        tail = v.operators[-1]
        v.operators = [OperatorSpec(operator_id=tail.operator_id,
                                    name=f"Source: Cached {tail.name}", uid=tail.uid,
                                    operator=cloudpickle.dumps(CacheReadOperator(dataset_id)))]
        v.name = v.operators[0].name
        v.reads_cached_dataset, v.cache_dataset_id = dataset_id, None
        for edge in v.inputs:
            job_graph.vertex(edge.source_vertex_id).outputs.remove(edge)
        v.inputs = []
        read.append(dataset_id)
    if read:
        _drop_unused_vertices(job_graph, had_outputs)
    return read


def _drop_unused_vertices(job_graph: Any, had_outputs: set[str]) -> None:
    """Remove the vertices that lost every output (they fed only cache readers), then
    those that fed only them, and so on."""
    while True:
        unused = [v for v in job_graph.vertices
                  if not v.outputs and v.vertex_id in had_outputs]
        if not unused:
            return
        for v in unused:
            for edge in v.inputs:
                job_graph.vertex(edge.source_vertex_id).outputs.remove(edge)
            job_graph.vertices.remove(v)


def release_dataset(resource_manager: Any, dataset: ClusterDataSet) -> None:
    """Tell the TaskManagers holding a data set to delete its partitions."""
    from headwater.runtime.rpc.messages import ReleasePartitions

    by_tm: dict[str, list[str]] = {}
    for p in dataset.partitions:
        by_tm.setdefault(p.resource_id, []).append(p.partition_id)
    for rid, ids in by_tm.items():
        resource_manager.send(rid, ReleasePartitions(job_id=dataset.job_id, partition_ids=ids))
    resource_manager.drop_partition_holds(dataset.dataset_id)
