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
