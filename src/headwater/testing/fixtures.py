"""pytest fixtures (the only module of :mod:`headwater.testing` that needs pytest).

Use them in a ``conftest.py``::

    from headwater.testing.fixtures import mini_cluster  # noqa: F401

or enable the plugin with ``pytest -p headwater.testing.fixtures``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from headwater.api import set_default_executor
from headwater.cluster.minicluster import EmbeddedJobClient, MiniCluster, _graph_result
from headwater.config import Configuration


class MiniClusterExecutor:
    """Runs ``env.execute()`` jobs on a running :class:`MiniCluster`."""

    def __init__(self, cluster: MiniCluster, timeout: float = 120) -> None:
        self.cluster = cluster
        self.timeout = timeout

    def execute(self, job_graph: Any) -> Any:
        """Submit ``job_graph`` and wait for its JobExecutionResult."""
        job_id = self.cluster.submit(job_graph)
        return _graph_result(job_id, self.cluster.wait(job_id, timeout=self.timeout))

    def execute_async(self, job_graph: Any) -> EmbeddedJobClient:
        """Submit ``job_graph``; returns its JobClient."""
        return _JobClient(self.cluster, self.cluster.submit(job_graph))

    def invalidate_dataset(self, dataset_id: str) -> None:
        """Release a cluster data set on the mini cluster."""
        self.cluster.release_dataset(dataset_id)


class _JobClient(EmbeddedJobClient):
    def get_job_execution_result(self, timeout: float | None = None) -> Any:
        return _graph_result(self.job_id, self.cluster.wait(self.job_id, timeout))


@pytest.fixture(scope="session")
def mini_cluster() -> Iterator[MiniCluster]:
    """An in-process mini cluster (2 TaskManagers, REST on a free port) shared by the
    whole test session and set as the default executor of ``env.execute()``."""
    cluster = MiniCluster(Configuration({"rest.port": 0}), taskmanagers=2).start()
    set_default_executor(MiniClusterExecutor(cluster))
    try:
        yield cluster
    finally:
        set_default_executor(None)
        cluster.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A private PostgreSQL server (:class:`headwater.testing.postgres.PostgresServer`,
    two-phase commit enabled) shared by the whole test session; skipped when psycopg or
    the server binaries are missing."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install "
                                          "'headwater[postgres]'")
    from headwater.testing.postgres import PostgresServer, find_bin_dir

    if find_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) not found: "
                    "apt-get install postgresql")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()
