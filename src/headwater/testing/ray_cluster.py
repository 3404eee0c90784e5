"""A real multi-node Ray cluster on this machine for tests: a head node and worker nodes,
each a separate raylet, all bound to 127.0.0.1 (Ray's loopback mode).

    with local_ray_cluster(workers=2, cpus_per_worker=2) as cluster:
        ... cluster.address ...          # give it to `headwater cluster start --ray`
        cluster.remove_node(cluster.worker_nodes[0])   # lose a node

The head node has no CPUs, so every TaskManager actor lands on a worker node.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class LocalRayCluster:
    """The running cluster: its GCS ``address`` and its ``workers`` (Ray nodes, each with
    a ``node_id``)."""

    def __init__(self, cluster: Any, workers: list[Any]) -> None:
        self.cluster = cluster
        self.workers = workers

    @property
    def address(self) -> str:
        """``host:port`` of the head's GCS (what ``ray.init``/``--ray`` take)."""
        return str(self.cluster.address)

    def remove_node(self, node: Any) -> None:
        """Kill a worker node and its raylet (its actors die)."""
        self.cluster.remove_node(node)


@contextmanager
def local_ray_cluster(workers: int = 2, cpus_per_worker: int = 2) -> Iterator[LocalRayCluster]:
    """A ``ray.cluster_utils.Cluster`` with ``workers`` worker nodes (see the module doc);
    shut down on exit."""
    # Binds every Ray process to 127.0.0.1: no test traffic leaves the loopback range.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    try:
        nodes = [cluster.add_node(num_cpus=cpus_per_worker, node_ip_address="127.0.0.1")
                 for _ in range(workers)]
        cluster.wait_for_nodes()
        yield LocalRayCluster(cluster, nodes)
    finally:
        cluster.shutdown()
