"""StreamExecutionEnvironment: where a program declares sources and runs the job.

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.from_sequence(1, 100).map(lambda x: x * x).print()
    result = env.execute("squares")

The environment records the program's transformations; ``execute`` and
``execute_async`` translate them into a JobGraph and hand it to an *executor*: an object
with ``execute(job_graph) -> JobExecutionResult`` and ``execute_async(job_graph) ->
JobClient``. The executor is, in order: the one given to ``env.set_executor``, the one
given to :func:`set_default_executor`, or ``headwater.cluster.minicluster.default_executor()``
(an embedded local cluster, or the cluster named by ``HEADWATER_JOBMANAGER`` under
``headwater run``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from headwater.api.checkpoint_config import CheckpointConfig, CheckpointingMode
from headwater.api.datastream import DataStream
from headwater.api.execution import JobClient, JobExecutionResult
from headwater.api.execution_config import ExecutionConfig
from headwater.api.transformations import (
    CollectionSourceTransformation,
    SequenceSourceTransformation,
    SourceFunctionTransformation,
    SourceTransformation,
    StreamInput,
    Transformation,
)

if TYPE_CHECKING:
    from headwater.graph.job_graph import JobGraph

#: The job name when ``execute`` gets none (Flink's default).
DEFAULT_JOB_NAME = "Flink Streaming Job"

#: Default parallelism requested by ``headwater run -p`` (see headwater.cluster.minicluster).
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
        self._transformations: list[Transformation] = []
        #: Ids keep counting after execute() clears the transformations.
        self._next_id = 1
        default = os.environ.get(PARALLELISM_ENV)
        self._parallelism = int(default) if default else 1
        self._max_parallelism: int | None = None
        self._chaining_enabled = True
        self._executor: Any = None
        self._checkpoint_config = CheckpointConfig()
        self._state_backend: Any = None
        self._restart_strategy: Any = None
        self._config = ExecutionConfig()

    @staticmethod
    def get_execution_environment() -> StreamExecutionEnvironment:
        """A new environment (parallelism from ``headwater run -p``, else 1)."""
        return StreamExecutionEnvironment()

    # -- settings -----------------------------------------------------------------------

    def get_config(self) -> ExecutionConfig:
        """The job's ExecutionConfig (e.g. ``set_auto_watermark_interval``)."""
        return self._config

    def set_parallelism(self, parallelism: int) -> StreamExecutionEnvironment:
        """Default parallelism of operators without their own."""
        if int(parallelism) < 1:
            raise ValueError("parallelism must be at least 1")
        self._parallelism = int(parallelism)
        return self

    def get_parallelism(self) -> int:
        """The default parallelism."""
        return self._parallelism

    def set_max_parallelism(self, max_parallelism: int) -> StreamExecutionEnvironment:
        """Default max parallelism (number of key groups), 1..32768."""
        if not 0 < int(max_parallelism) <= 32768:
            raise ValueError("The maximum parallelism must be between 1 and 32768.")
        self._max_parallelism = int(max_parallelism)
        return self

    def get_max_parallelism(self) -> int:
        """The default max parallelism (-1 when not set, as in Flink)."""
        return self._max_parallelism or -1

    def disable_operator_chaining(self) -> StreamExecutionEnvironment:
        """Run every operator in its own task."""
        self._chaining_enabled = False
        return self

    def is_chaining_enabled(self) -> bool:
        """Whether operators are chained."""
        return self._chaining_enabled

    def set_executor(self, executor: Any) -> StreamExecutionEnvironment:
        """Run this environment's jobs with ``executor`` (see the module docstring)."""
        self._executor = executor
        return self

    # -- fault tolerance ----------------------------------------------------------------

    def enable_checkpointing(self, interval: int,
                             mode: CheckpointingMode = CheckpointingMode.EXACTLY_ONCE
                             ) -> StreamExecutionEnvironment:
        """Checkpoint every ``interval`` ms with ``mode`` (see ``get_checkpoint_config``)."""
        self._checkpoint_config.set_checkpoint_interval(interval)
        self._checkpoint_config.set_checkpointing_mode(mode)
        return self

    def get_checkpoint_config(self) -> CheckpointConfig:
        """The checkpoint settings (timeout, pauses, retention, storage...)."""
        return self._checkpoint_config

    def get_checkpoint_interval(self) -> int:
        """The checkpoint interval in ms (-1 when checkpointing is disabled)."""
        return self._checkpoint_config.get_checkpoint_interval()

    def get_checkpointing_mode(self) -> CheckpointingMode:
        """EXACTLY_ONCE or AT_LEAST_ONCE."""
        return self._checkpoint_config.get_checkpointing_mode()

    def set_state_backend(self, state_backend: Any) -> StreamExecutionEnvironment:
        """Keep keyed state in ``HashMapStateBackend()`` or ``EmbeddedRocksDBStateBackend()``."""
        if not callable(getattr(state_backend, "to_configuration", None)):
            raise TypeError("expected a state backend such as HashMapStateBackend() or "
                            "EmbeddedRocksDBStateBackend()")
        self._state_backend = state_backend
        return self

    def get_state_backend(self) -> Any:
        """The state backend set with ``set_state_backend`` (None: the cluster's)."""
        return self._state_backend

    def set_restart_strategy(self, restart_strategy_configuration: Any
                             ) -> StreamExecutionEnvironment:
        """How the job restarts after failures, e.g.
        ``RestartStrategies.fixed_delay_restart(3, 1000)``."""
        if not callable(getattr(restart_strategy_configuration, "get_description", None)):
            raise TypeError("expected a RestartStrategies configuration")
        self._restart_strategy = restart_strategy_configuration
        return self

    def get_restart_strategy(self) -> Any:
        """The restart strategy set with ``set_restart_strategy`` (None: the cluster's)."""
        return self._restart_strategy

    def _apply_fault_tolerance(self, job_graph: JobGraph) -> None:
        """Write checkpointing, state backend and restart settings as Flink config keys."""
        config = job_graph.configuration
        if self._state_backend is not None:
            config.update(self._state_backend.to_configuration())
        config.update(self._checkpoint_config.to_configuration())
        if self._restart_strategy is not None:
            config.update(self._restart_strategy.to_configuration())
            job_graph.execution_config["restart-strategy"] = \
                self._restart_strategy.get_description()

    # -- sources ------------------------------------------------------------------------

    def _add_transformation(self, transformation_type: type[Transformation], name: str,
                            name_prefix: str, inputs: list[StreamInput], /,
                            **settings: Any) -> Transformation:
        """Record a transformation (ids in declaration order)."""
        transformation = transformation_type(id=self._next_id, name=f"{name_prefix}{name}",
                              name_prefix=name_prefix, inputs=inputs, **settings)
        self._next_id += 1
        self._transformations.append(transformation)
        return transformation

    def _source(self, transformation_type: type[Transformation], name: str, /,
                **settings: Any) -> DataStream:
        return DataStream._of(self, self._add_transformation(transformation_type, name,
                                                             "Source: ", [], **settings))

    def from_collection(self, collection: list[Any], type_info: Any = None) -> DataStream:
        """A stream of the collection's elements; subtask i of p emits elements i, i+p..."""
        return self._source(CollectionSourceTransformation, "Collection Source",
                            collection=list(collection))

    def from_sequence(self, start: int, end: int) -> DataStream:
        """The integers start..end (inclusive), split evenly across subtasks."""
        return self._source(SequenceSourceTransformation, "Sequence Source", start=int(start),
                            end=int(end))

    def add_source(self, source_function: Any, source_name: str = "Custom Source",
                   type_info: Any = None) -> DataStream:
        """A stream from a SourceFunction, a generator function or an iterable (every
        subtask runs its own copy)."""
        return self._source(SourceFunctionTransformation, source_name,
                            function=source_function)

    def from_source(self, source: Any, watermark_strategy: Any = None,
                    source_name: str = "Custom Source") -> DataStream:
        """A stream from a source object such as ``FileSource.for_path(path)``; with a
        watermark strategy, its timestamps and watermarks are assigned right after it (or
        by the source itself when it has ``with_watermark_strategy(strategy, config)``,
        as ``KafkaSource`` does per partition)."""
        create = getattr(source, "create_operator", None)
        if not callable(create):
            raise TypeError(f"not a source: {type(source).__name__} (expected e.g. a "
                            "FileSource)")
        with_strategy = getattr(source, "with_watermark_strategy", None)
        if watermark_strategy is not None and callable(with_strategy):
            # The source generates timestamps and watermarks itself (per split, as
            # Flink's KafkaSource does per partition).
            return self._source(SourceTransformation, source_name,
                                source=with_strategy(watermark_strategy, self._config))
        stream = self._source(SourceTransformation, source_name, source=source)
        if watermark_strategy is not None:
            assign = getattr(stream, "assign_timestamps_and_watermarks", None)
            if assign is None:
                raise NotImplementedError("watermark strategies on from_source are not "
                                          "supported yet")
            stream = assign(watermark_strategy)
        return stream

    def read_text_file(self, file_path: str, charset_name: str = "UTF-8") -> DataStream:
        """The lines of a file (or of the files of a directory), checkpointed by byte
        offset so a restored job reads every line once."""
        from headwater.connectors.file import FileSource

        return self.from_source(FileSource.for_path(file_path, charset=charset_name), None,
                                "Custom File Source")

    # -- execution ----------------------------------------------------------------------

    def get_job_graph(self, job_name: str | None = None) -> JobGraph:
        """Build the JobGraph of the operators declared so far (nothing runs)."""
        from headwater.graph.job_graph_builder import build_job_graph
        from headwater.graph.translation import translate

        name = job_name or DEFAULT_JOB_NAME
        stream_graph = translate(self._transformations, name, self._parallelism,
                                 self._max_parallelism, self._chaining_enabled)
        job_graph = build_job_graph(stream_graph, name)
        self._apply_fault_tolerance(job_graph)
        return job_graph

    def _take_job_graph(self, job_name: str | None) -> JobGraph:
        job_graph = self.get_job_graph(job_name)
        self._transformations.clear()  # like Flink: a second execute() needs new operators
        return job_graph

    def _resolve_executor(self) -> Any:
        if self._executor is not None:
            return self._executor
        if _default_executor is not None:
            return _default_executor
        from headwater.cluster import minicluster

        return minicluster.default_executor()

    def execute(self, job_name: str | None = None) -> JobExecutionResult:
        """Run the job to its end; its result (raises if it fails)."""
        job_graph = self._take_job_graph(job_name)
        return self._resolve_executor().execute(job_graph)

    def execute_async(self, job_name: str | None = None) -> JobClient:
        """Submit the job and return a JobClient at once."""
        job_graph = self._take_job_graph(job_name)
        return self._resolve_executor().execute_async(job_graph)
