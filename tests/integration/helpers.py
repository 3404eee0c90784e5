"""Helpers shared by the integration tests: running DataStream jobs on an in-process mini
cluster (:class:`ClusterExecutor`, the ``mini_cluster`` fixture of ``conftest.py``),
collecting their records (:class:`Collect`) and reading CLI output (:func:`job_id_of`)."""

from __future__ import annotations

import re

from headwater.api import ListAccumulator, SinkFunction, StreamExecutionEnvironment
from headwater.cluster.minicluster import MiniCluster


class ClusterExecutor:
    """Runs jobs on one shared mini cluster."""

    def __init__(self, cluster: MiniCluster) -> None:
        self.cluster = cluster

    def execute(self, job_graph):
        from headwater.cluster.minicluster import _graph_result

        job_id = self.cluster.submit(job_graph)
        return _graph_result(job_id, self.cluster.wait(job_id, timeout=120))

    def execute_async(self, job_graph):
        from headwater.cluster.minicluster import EmbeddedJobClient

        class _Client(EmbeddedJobClient):
            def get_job_execution_result(self, timeout=None):
                from headwater.cluster.minicluster import _graph_result

                return _graph_result(self.job_id, self.cluster.wait(self.job_id, timeout))

        return _Client(self.cluster, self.cluster.submit(job_graph))


class Collect(SinkFunction):
    """Sends every record back through a list accumulator."""

    def __init__(self, name: str = "out") -> None:
        self.name = name

    def open(self, runtime_context) -> None:
        self.acc = ListAccumulator()
        runtime_context.add_accumulator(self.name, self.acc)

    def invoke(self, value, context=None) -> None:
        self.acc.add(value)


def new_env(parallelism: int = 2) -> StreamExecutionEnvironment:
    """The execution environment with ``parallelism``."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    return env


def job_id_of(output: str) -> str:
    """The job id in the output of ``headwater run`` (``JobID <32 hex digits>``)."""
    match = re.search(r"JobID ([0-9a-f]{32})", output)
    assert match, output
    return match.group(1)
