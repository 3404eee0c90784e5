"""Helpers shared by the integration tests: a fresh environment (:func:`new_env`) and reading
CLI output (:func:`job_id_of`). Jobs run on the ``mini_cluster`` fixture of
:mod:`headwater.testing.fixtures` and return records through
:class:`headwater.testing.CollectSink`."""

from __future__ import annotations

import re

from headwater.api import StreamExecutionEnvironment


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
