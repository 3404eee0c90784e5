"""StreamExecutionEnvironment: where a program declares sources and runs the job.

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.from_sequence(1, 100).map(lambda x: x * x).print()
    result = env.execute("squares")

The environment records the program's transformations; ``execute`` and
``execute_async`` translate the ones declared since the last execution (with the
operators they read from) into a JobGraph and hand it to an *executor*: an object
with ``execute(job_graph) -> JobExecutionResult`` and ``execute_async(job_graph) ->
JobClient``. The executor is, in order: the one given to ``env.set_executor``, the one
given to :func:`set_default_executor`, or ``headwater.cluster.minicluster.default_executor()``
(an embedded local cluster, or the cluster named by ``HEADWATER_JOBMANAGER`` under
``headwater run``).

As in PyFlink, a graph is reusable across executions: after ``execute()``, streams
declared earlier can be extended and executed again; the next job holds the new
operators and everything upstream of them, and sinks that already ran do not run again.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from headwater.api.checkpoint_config import CheckpointConfig, CheckpointingMode
from headwater.api.datastream import DataStream
from headwater.api.execution import JobClient, JobExecutionResult, PyFlinkJobClient
from headwater.api.execution_config import JOB_PARAMETERS, ExecutionConfig
from headwater.api.execution_mode import RuntimeExecutionMode, TimeCharacteristic
from headwater.api.python_dependencies import PythonDependencies
from headwater.api.transformations import (
    CollectionSourceTransformation,
    Partitioning,
    SequenceSourceTransformation,
    SourceFunctionTransformation,
    SourceTransformation,
    StreamInput,
    Transformation,
)
from headwater.api.typeinfo import check_type_info, converter_for
from headwater.api.unsupported import JVM_ONLY, NOT_YET, TABLE_API_ONLY, unsupported

if TYPE_CHECKING:
    from headwater.api.batch_stream import BatchStream
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

    def __init__(self, configuration: Any = None) -> None:
        self._transformations: list[Transformation] = []
        #: Transformations with an id up to this one were part of an executed job.
        self._executed_up_to = 0
        self._next_id = 1
        self._runtime_mode = RuntimeExecutionMode.STREAMING
        self._runtime_mode_set = False
        self._time_characteristic = TimeCharacteristic.EventTime
        self._python_dependencies = PythonDependencies()
        #: Flink configuration keys from ``configure``/``get_execution_environment(conf)``.
        self._configuration: dict[str, str] = {}
        self._savepoint_directory: str | None = None
        self._slot_sharing_groups: dict[str, Any] = {}
        self._changelog_state_backend = False
        default = os.environ.get(PARALLELISM_ENV)
        self._parallelism = int(default) if default else 1
        self._max_parallelism: int | None = None
        self._chaining_enabled = True
        self._executor: Any = None
        self._checkpoint_config = CheckpointConfig()
        self._state_backend: Any = None
        self._restart_strategy: Any = None
        self._config = ExecutionConfig()
        if configuration is not None:
            self.configure(configuration)

    @staticmethod
    def get_execution_environment(configuration: Any = None) -> StreamExecutionEnvironment:
        """A new environment (parallelism from ``headwater run -p``, else 1), configured
        with ``configuration`` (a Configuration) if given."""
        return StreamExecutionEnvironment(configuration)

    def configure(self, configuration: Any) -> StreamExecutionEnvironment:
        """Apply a Configuration: ``parallelism.default``, ``pipeline.max-parallelism``,
        ``execution.runtime-mode``, ``execution.checkpointing.interval``; every key also
        goes into the job's configuration."""
        settings = dict(configuration.to_dict() if hasattr(configuration, "to_dict")
                        else configuration)
        for key, value in settings.items():
            text = str(value)
            if key == "parallelism.default":
                self.set_parallelism(int(text))
            elif key == "pipeline.max-parallelism":
                self.set_max_parallelism(int(text))
            elif key == "execution.runtime-mode":
                self.set_runtime_mode(RuntimeExecutionMode[text.strip().upper()])
            elif key == "execution.checkpointing.interval":
                self.enable_checkpointing(_duration_ms(text))
            self._configuration[key] = text
        return self

    def set_runtime_mode(self, execution_mode: RuntimeExecutionMode
                         ) -> StreamExecutionEnvironment:
        """STREAMING, BATCH (every source must be bounded: blocking exchanges, stage by
        stage scheduling, one final result per key) or AUTOMATIC (BATCH when every source
        is bounded, else STREAMING)."""
        self._runtime_mode = RuntimeExecutionMode(execution_mode)
        self._runtime_mode_set = True
        return self

    def set_stream_time_characteristic(self, characteristic: TimeCharacteristic
                                       ) -> StreamExecutionEnvironment:
        """Accepted for compatibility: event time and processing time are always
        available (assign timestamps with a WatermarkStrategy)."""
        self._time_characteristic = TimeCharacteristic(characteristic)
        return self

    def get_stream_time_characteristic(self) -> TimeCharacteristic:
        """The characteristic set (EventTime by default, as in Flink 1.12+)."""
        return self._time_characteristic

    def set_buffer_timeout(self, timeout_millis: int) -> StreamExecutionEnvironment:
        """Accepted: headwater flushes partly filled batches on its own schedule."""
        return self

    def get_buffer_timeout(self) -> int:
        """100 ms, Flink's default (informational)."""
        return 100

    def add_python_file(self, file_path: str) -> StreamExecutionEnvironment:
        """Ship a Python module, package directory or zip with the job: it is importable
        in the job's functions on every TaskManager."""
        self._python_dependencies.add_file(file_path)
        return self

    def set_python_requirements(self, requirements_file_path: str,
                                requirements_cache_dir: str | None = None
                                ) -> StreamExecutionEnvironment:
        """Ship a requirements file: TaskManagers install what they lack (from
        ``requirements_cache_dir`` only, when given) before running the job."""
        self._python_dependencies.set_requirements(requirements_file_path,
                                                   requirements_cache_dir)
        return self

    def register_slot_sharing_group(self, slot_sharing_group: Any
                                    ) -> StreamExecutionEnvironment:
        """Record a SlotSharingGroup's resources (see ``slot_sharing_group``)."""
        self._slot_sharing_groups[slot_sharing_group.get_name()] = slot_sharing_group
        return self

    def set_default_savepoint_directory(self, directory: str) -> StreamExecutionEnvironment:
        """Where savepoints go by default (``state.savepoints.dir``)."""
        self._savepoint_directory = str(directory)
        return self

    def get_default_savepoint_directory(self) -> str | None:
        """The default savepoint directory set here."""
        return self._savepoint_directory

    def get_checkpointing_consistency_mode(self) -> CheckpointingMode:
        """EXACTLY_ONCE or AT_LEAST_ONCE (Flink 1.20's name)."""
        return self.get_checkpointing_mode()

    def enable_changelog_state_backend(self, enabled: bool) -> StreamExecutionEnvironment:
        """Recorded: headwater's checkpoints are full snapshots either way."""
        self._changelog_state_backend = bool(enabled)
        return self

    def is_changelog_state_backend_enabled(self) -> bool:
        """Whether the changelog state backend was asked for."""
        return self._changelog_state_backend

    def is_unaligned_checkpoints_enabled(self) -> bool:
        """Whether unaligned checkpoints were asked for (headwater aligns barriers)."""
        return self._checkpoint_config.is_unaligned_checkpoints_enabled()

    def is_force_unaligned_checkpoints(self) -> bool:
        """Whether forced unaligned checkpoints were asked for."""
        return self._checkpoint_config.is_force_unaligned_checkpoints()

    def is_chaining_of_operators_with_different_max_parallelism_enabled(self) -> bool:
        """True: operators with different max parallelism may chain."""
        return True

    _default_local_parallelism = os.cpu_count() or 1

    @staticmethod
    def get_default_local_parallelism() -> int:
        """The parallelism of local environments (CPU cores)."""
        return StreamExecutionEnvironment._default_local_parallelism

    @staticmethod
    def set_default_local_parallelism(parallelism: int) -> None:
        """Set the parallelism of local environments."""
        StreamExecutionEnvironment._default_local_parallelism = int(parallelism)

    def close(self) -> None:
        """Forget the declared operators (the environment stays usable)."""
        self._executed_up_to = self._next_id - 1
        self._transformations.clear()

    if not TYPE_CHECKING:  # mypy keeps flagging unknown attributes
        def __getattr__(self, name: str) -> Any:
            if name in TABLE_API_ONLY or name in JVM_ONLY or name in NOT_YET:
                unsupported("StreamExecutionEnvironment", name)
            raise AttributeError(f"'StreamExecutionEnvironment' object has no attribute {name!r}")

    # -- settings -----------------------------------------------------------------------

    def get_config(self) -> ExecutionConfig:
        """The job's ExecutionConfig (e.g. ``set_auto_watermark_interval``)."""
        return self._config

    def set_parallelism(self, parallelism: int) -> StreamExecutionEnvironment:
        """Default parallelism of operators without their own."""
        if int(parallelism) < 1:
            raise ValueError("parallelism must be at least 1")
        self._parallelism = int(parallelism)
        self._config.set_parallelism(self._parallelism)
        return self

    def get_parallelism(self) -> int:
        """The default parallelism (``get_config().set_parallelism`` sets it too)."""
        configured = self._config.get_parallelism()
        return configured if configured > 0 else self._parallelism

    def set_max_parallelism(self, max_parallelism: int) -> StreamExecutionEnvironment:
        """Default max parallelism (number of key groups), 1..32768."""
        if not 0 < int(max_parallelism) <= 32768:
            raise ValueError("The maximum parallelism must be between 1 and 32768.")
        self._max_parallelism = int(max_parallelism)
        self._config.set_max_parallelism(self._max_parallelism)
        return self

    def get_max_parallelism(self) -> int:
        """The default max parallelism (-1 when not set, as in Flink)."""
        return self._config.get_max_parallelism()

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
        restart_strategy = self._restart_strategy or self._config.get_restart_strategy()
        if restart_strategy is not None:
            config.update(restart_strategy.to_configuration())
            job_graph.execution_config["restart-strategy"] = \
                restart_strategy.get_description()
        parameters = self._config.get_global_job_parameters()
        if parameters:
            config[JOB_PARAMETERS] = json.dumps(parameters)
            job_graph.execution_config["user-config"] = parameters
        if self._config.is_object_reuse_enabled():
            job_graph.execution_config["object-reuse-mode"] = True
        if self._savepoint_directory:
            config["state.savepoints.dir"] = self._savepoint_directory

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
        """A stream of the collection's elements; subtask i of p emits elements i, i+p...
        With ``type_info`` the elements are converted to it now (an element that does
        not fit raises here, as in PyFlink)."""
        elements = list(collection)
        convert = converter_for(check_type_info(type_info, "type_info"), "from_collection",
                                "element")
        if convert is not None:
            elements = [convert(e) for e in elements]
        stream = self._source(CollectionSourceTransformation, "Collection Source",
                              collection=elements)
        if stream._node is not None:
            stream._node.output_type = None  # converted already
        stream._type_info = type_info
        return stream

    def from_sequence(self, start: int, end: int) -> DataStream:
        """The integers start..end (inclusive), split evenly across subtasks."""
        return self._source(SequenceSourceTransformation, "Sequence Source", start=int(start),
                            end=int(end))

    def from_arrow(self, data: Any, batch_size: int | None = None) -> BatchStream:
        """A columnar stream of a pyarrow Table or list of RecordBatches
        (:mod:`headwater.api.batch_stream`)."""
        from headwater.api.batch_stream import from_arrow

        return from_arrow(self, data, batch_size)

    def from_batch_source(self, source: Any, source_name: str = "Batch Source") -> BatchStream:
        """A columnar stream from a SourceFunction that collects RecordBatches, or from a
        batch source object such as ``BatchFileSource.for_parquet(path)``."""
        from headwater.api.batch_stream import from_batch_source

        return from_batch_source(self, source, source_name)

    def add_source(self, source_func: Any, source_name: str = "Custom Source",
                   type_info: Any = None) -> DataStream:
        """A stream from a SourceFunction, a generator function or an iterable (every
        subtask runs its own copy)."""
        return self._source(SourceFunctionTransformation, source_name,
                            function=source_func)

    def from_source(self, source: Any, watermark_strategy: Any = None,
                    source_name: str = "Custom Source", type_info: Any = None) -> DataStream:
        """A stream from a source object such as ``FileSource.for_path(path)``; with a
        watermark strategy, its timestamps and watermarks are assigned right after it (or
        by the source itself when it has ``with_watermark_strategy(strategy, config)``,
        as ``KafkaSource`` does per partition). ``type_info`` declares the records' type
        (how they print; not converted)."""
        create = getattr(source, "create_operator", None)
        if not callable(create):
            raise TypeError(f"not a source: {type(source).__name__} (expected e.g. a "
                            "FileSource)")
        with_strategy = getattr(source, "with_watermark_strategy", None)
        if watermark_strategy is not None and callable(with_strategy):
            # The source generates timestamps and watermarks itself (per split, as
            # Flink's KafkaSource does per partition).
            return self._source(SourceTransformation, source_name,
                                source=with_strategy(watermark_strategy, self._config),
                                output_type=check_type_info(type_info, "type_info"))
        stream = self._source(SourceTransformation, source_name, source=source,
                              output_type=check_type_info(type_info, "type_info"))
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

    def _pending(self) -> list[Transformation]:
        """The transformations of the next job: those declared since the last execution
        and every transformation upstream of them, in declaration order."""
        todo = [t for t in self._transformations if t.id > self._executed_up_to]
        seen: dict[int, Transformation] = {}
        while todo:
            t = todo.pop()
            if t.id not in seen:
                seen[t.id] = t
                todo.extend(i.upstream for i in t.inputs)
        return sorted(seen.values(), key=lambda t: t.id)

    def _resolve_runtime_mode(self, transformations: list[Transformation]
                              ) -> RuntimeExecutionMode:
        """The mode the job runs in: AUTOMATIC becomes BATCH when every source is bounded;
        BATCH with an unbounded source is refused (as Flink does at submission)."""
        mode = self._runtime_mode
        if mode is RuntimeExecutionMode.STREAMING:
            return mode
        unbounded = [t.name for t in transformations if not t.inputs and not _is_bounded(t)]
        if mode is RuntimeExecutionMode.AUTOMATIC:
            return RuntimeExecutionMode.STREAMING if unbounded or not transformations \
                else RuntimeExecutionMode.BATCH
        if unbounded:
            raise ValueError(
                "Detected an UNBOUNDED source with the 'execution.runtime-mode' set to "
                f"'BATCH'. This combination is not allowed, please set the "
                f"'execution.runtime-mode' to STREAMING or AUTOMATIC (unbounded: "
                f"{', '.join(unbounded)})")
        return mode

    def get_job_graph(self, job_name: str | None = None) -> JobGraph:
        """Build the JobGraph of the operators declared since the last execution
        (nothing runs)."""
        from headwater.graph.job_graph_builder import build_job_graph
        from headwater.graph.translation import translate

        name = job_name or DEFAULT_JOB_NAME
        transformations = self._pending()
        mode = self._resolve_runtime_mode(transformations)
        cached = [t.name for t in transformations if t.cache_id is not None]
        if cached and mode is not RuntimeExecutionMode.BATCH:
            raise ValueError(f"cache() is only supported in BATCH execution mode (cached: "
                             f"{', '.join(cached)}); set_runtime_mode(RuntimeExecutionMode."
                             "BATCH), or AUTOMATIC with bounded sources")
        max_parallelism = self.get_max_parallelism()
        stream_graph = translate(transformations, name, self.get_parallelism(),
                                 max_parallelism if max_parallelism > 0 else None,
                                 self._chaining_enabled,
                                 batch=mode is RuntimeExecutionMode.BATCH)
        job_graph = build_job_graph(stream_graph, name)
        self._apply_fault_tolerance(job_graph)
        for key, value in self._configuration.items():
            job_graph.configuration.setdefault(key, value)
        if self._runtime_mode_set or mode is RuntimeExecutionMode.BATCH:
            job_graph.configuration["execution.runtime-mode"] = mode.name
        if self._python_dependencies:
            self._python_dependencies.attach(job_graph)
        return job_graph

    def get_execution_plan(self) -> str:
        """The JSON plan of the operators the next ``execute()`` would run (Flink's
        StreamGraph JSON: nodes with id, type, pact, contents, parallelism and
        predecessors; plus description and slot sharing group where set)."""
        nodes = []
        for t in self._pending():
            parallelism = t.parallelism or self._parallelism
            pact = "Data Source" if not t.inputs else \
                "Data Sink" if t.name_prefix == "Sink: " else "Operator"
            node: dict[str, Any] = {
                "id": t.id, "type": t.name[len(t.name_prefix):], "pact": pact,
                "contents": t.name, "parallelism": parallelism,
            }
            if t.description is not None:
                node["description"] = t.description
            if t.slot_sharing_group is not None:
                node["slot_sharing_group"] = t.slot_sharing_group
            if t.inputs:
                node["predecessors"] = [
                    {"id": i.upstream.id, "side": "second",
                     "ship_strategy": _ship_strategy(i, parallelism, self._parallelism)}
                    for i in t.inputs]
            nodes.append(node)
        return json.dumps({"nodes": nodes}, indent=2)

    def _take_job_graph(self, job_name: str | None) -> JobGraph:
        job_graph = self.get_job_graph(job_name)
        self._executed_up_to = self._next_id - 1
        return job_graph

    def _resolve_executor(self) -> Any:
        if self._executor is not None:
            return self._executor
        if _default_executor is not None:
            return _default_executor
        from headwater.cluster import minicluster

        return minicluster.default_executor()

    def _invalidate_dataset(self, dataset_id: str) -> None:
        """Release a cluster data set through the executor (CachedDataStream.invalidate)."""
        release = getattr(self._resolve_executor(), "invalidate_dataset", None)
        if release is not None:
            release(dataset_id)

    def execute(self, job_name: str | None = None) -> JobExecutionResult:
        """Run the job to its end; its result (raises if it fails)."""
        job_graph = self._take_job_graph(job_name)
        return self._resolve_executor().execute(job_graph)

    def execute_async(self, job_name: str | None = None) -> JobClient:
        """Submit the job and return a JobClient at once."""
        job_graph = self._take_job_graph(job_name)
        return PyFlinkJobClient(self._resolve_executor().execute_async(job_graph))


def _is_bounded(source: Transformation) -> bool:
    """Whether a source ends by itself (collections, sequences, static files)."""
    if isinstance(source, CollectionSourceTransformation | SequenceSourceTransformation):
        return True
    if isinstance(source, SourceTransformation):
        return bool(getattr(source.source, "is_bounded", lambda: False)())
    return False


def _ship_strategy(stream_input: StreamInput, parallelism: int, default: int) -> str:
    if stream_input.partitioning is not None:
        return "HASH" if stream_input.partitioning is Partitioning.HASH else \
            stream_input.partitioning.value
    upstream = stream_input.upstream.parallelism or default
    return "FORWARD" if upstream == parallelism else "REBALANCE"


_UNITS_MS = {"": 1, "ms": 1, "milli": 1, "millis": 1, "s": 1000, "sec": 1000, "secs": 1000,
             "second": 1000, "seconds": 1000, "min": 60_000, "mins": 60_000,
             "minute": 60_000, "minutes": 60_000, "h": 3_600_000, "hour": 3_600_000,
             "hours": 3_600_000, "d": 86_400_000, "day": 86_400_000, "days": 86_400_000}


def _duration_ms(text: str) -> int:
    """Milliseconds of a Flink duration value ("10000", "10 s", "1min", "500 ms")."""
    text = text.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = text[len(number):].strip()
    if not number or unit not in _UNITS_MS:
        raise ValueError(f"not a duration: {text!r} (e.g. 10000, 10 s, 1 min)")
    return int(float(number) * _UNITS_MS[unit])
