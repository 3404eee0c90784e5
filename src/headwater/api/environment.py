"""StreamExecutionEnvironment: where a program declares sources and runs the job.

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.from_sequence(1, 100).map(lambda x: x * x).print()
    result = env.execute("squares")

``execute`` and ``execute_async`` build a JobGraph and hand it to an *executor*: an object
with ``execute(job_graph) -> JobExecutionResult`` and ``execute_async(job_graph) ->
JobClient``. The executor is, in order: the one given to ``env.set_executor``, the one
given to :func:`set_default_executor`, or ``headwater.runtime.minicluster.default_executor()``
(an embedded local cluster, or the cluster named by ``HEADWATER_JOBMANAGER`` under
``headwater run``).
"""

from __future__ import annotations

import os
from typing import Any

from headwater.api.datastream import DataStream
from headwater.api.execution import JobClient, JobExecutionResult
from headwater.graph.job_graph import JobGraph
from headwater.graph.job_graph_builder import DEFAULT_JOB_NAME, build_job_graph
from headwater.graph.stream_graph import StreamGraph
from headwater.runtime.operators.sources import CollectionSource, SequenceSource, UserSource

#: Default parallelism requested by ``headwater run -p`` (see headwater.runtime.minicluster).
PARALLELISM_ENV = "HEADWATER_PARALLELISM"

_default_executor: Any = None


def set_default_executor(executor: Any) -> None:
    """Use ``executor`` for every environment without its own (None: back to the default)."""
    global _default_executor
    _default_executor = executor


def get_default_executor() -> Any:
    """The executor set with :func:`set_default_executor`, or None."""
    return _default_executor


class StreamExecutionEnvironment:
    """The context of a streaming program: settings, sources, and execution."""

    def __init__(self) -> None:
        self._graph = StreamGraph(DEFAULT_JOB_NAME)
        default = os.environ.get(PARALLELISM_ENV)
        self._graph.parallelism = int(default) if default else 1
        self._executor: Any = None

    @staticmethod
    def get_execution_environment() -> StreamExecutionEnvironment:
        """A new environment (parallelism from ``headwater run -p``, else 1)."""
        return StreamExecutionEnvironment()

    # -- settings -----------------------------------------------------------------------

    def set_parallelism(self, parallelism: int) -> StreamExecutionEnvironment:
        """Default parallelism of operators without their own."""
        if int(parallelism) < 1:
            raise ValueError("parallelism must be at least 1")
        self._graph.parallelism = int(parallelism)
        return self

    def get_parallelism(self) -> int:
        """The default parallelism."""
        return self._graph.parallelism

    def set_max_parallelism(self, max_parallelism: int) -> StreamExecutionEnvironment:
        """Default max parallelism (number of key groups), 1..32768."""
        if not 0 < int(max_parallelism) <= 32768:
            raise ValueError("The maximum parallelism must be between 1 and 32768.")
        self._graph.max_parallelism = int(max_parallelism)
        return self

    def get_max_parallelism(self) -> int:
        """The default max parallelism (-1 when not set, as in Flink)."""
        return self._graph.max_parallelism or -1

    def disable_operator_chaining(self) -> StreamExecutionEnvironment:
        """Run every operator in its own task."""
        self._graph.chaining_enabled = False
        return self

    def is_chaining_enabled(self) -> bool:
        """Whether operators are chained."""
        return self._graph.chaining_enabled

    def set_executor(self, executor: Any) -> StreamExecutionEnvironment:
        """Run this environment's jobs with ``executor`` (see the module docstring)."""
        self._executor = executor
        return self

    # -- sources ------------------------------------------------------------------------

    def _source(self, name: str, operator: Any) -> DataStream:
        return DataStream._of(self, self._graph.add_node(name, operator, "Source: "))

    def from_collection(self, collection: list, type_info: Any = None) -> DataStream:
        """A stream of the collection's elements; subtask i of p emits elements i, i+p..."""
        return self._source("Collection Source", CollectionSource(collection))

    def from_sequence(self, start: int, end: int) -> DataStream:
        """The integers start..end (inclusive), split evenly across subtasks."""
        return self._source("Sequence Source", SequenceSource(int(start), int(end)))

    def add_source(self, source_function: Any, source_name: str = "Custom Source",
                   type_info: Any = None) -> DataStream:
        """A stream from a SourceFunction, a generator function or an iterable (every
        subtask runs its own copy)."""
        return self._source(source_name, UserSource(source_function))

    # -- execution ----------------------------------------------------------------------

    def get_job_graph(self, job_name: str | None = None) -> JobGraph:
        """Build the JobGraph of the operators declared so far (nothing runs)."""
        return build_job_graph(self._graph, job_name or DEFAULT_JOB_NAME)

    def _take_job_graph(self, job_name: str | None) -> JobGraph:
        job_graph = self.get_job_graph(job_name)
        self._graph.clear()  # like Flink: a second execute() needs new operators
        return job_graph

    def _resolve_executor(self) -> Any:
        if self._executor is not None:
            return self._executor
        if _default_executor is not None:
            return _default_executor
        from headwater.runtime import minicluster

        return minicluster.default_executor()

    def execute(self, job_name: str | None = None) -> JobExecutionResult:
        """Run the job to its end; its result (raises if it fails)."""
        job_graph = self._take_job_graph(job_name)
        return self._resolve_executor().execute(job_graph)

    def execute_async(self, job_name: str | None = None) -> JobClient:
        """Submit the job and return a JobClient at once."""
        job_graph = self._take_job_graph(job_name)
        return self._resolve_executor().execute_async(job_graph)
