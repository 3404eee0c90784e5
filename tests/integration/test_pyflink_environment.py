"""PyFlink-style environment features through ``headwater.pyflink`` imports on a real mini
cluster: a graph reused across executions, execute_and_collect, partition_custom,
project, the execution plan, runtime modes, shipped Python files and requirements, and
the clear errors of what headwater does not have."""

from __future__ import annotations

import json
import sys

import pytest

from headwater.cluster.minicluster import JobExecutionException
from headwater.pyflink.common import Configuration, JobStatus, Types
from headwater.pyflink.datastream import (
    CheckpointStorage,
    ExternalizedCheckpointRetention,
    FileSystemCheckpointStorage,
    FsStateBackend,
    MemoryStateBackend,
    Partitioner,
    RocksDBStateBackend,
    RuntimeContext,
    RuntimeExecutionMode,
    SlotSharingGroup,
    SourceFunction,
    StreamExecutionEnvironment,
    TimeCharacteristic,
)
from headwater.pyflink.datastream.functions import MapFunction


def new_env(parallelism: int = 1) -> StreamExecutionEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    return env


def test_graph_is_reusable_across_executions(mini_cluster):
    env = new_env()
    numbers = env.from_collection([1, 2, 3], type_info=Types.INT())
    doubled = numbers.map(lambda x: x * 2, output_type=Types.INT())
    assert list(doubled.execute_and_collect("first")) == [2, 4, 6]
    # the earlier streams are extended and run again; the first job's sink does not rerun
    assert list(doubled.map(lambda x: x + 1).execute_and_collect("second")) == [3, 5, 7]
    assert numbers.filter(lambda x: x > 1).execute_and_collect(limit=1) == [2]
    plan = json.loads(env.get_execution_plan())
    assert plan == {"nodes": []}
    with pytest.raises(ValueError, match="No operators"):
        env.execute("nothing new")


def test_only_new_sinks_run_again(mini_cluster):
    env = new_env()
    words = env.from_collection(["a", "b"])
    words.map(str.upper).execute_and_collect()
    upper_plan = words.map(lambda w: w * 2)
    upper_plan.print()
    nodes = json.loads(env.get_execution_plan())["nodes"]
    assert [n["contents"] for n in nodes] == ["Source: Collection Source", "Map",
                                               "Sink: Print to Std. Out"]
    env.execute("print only")


def test_execute_and_collect_iterator_and_limit(mini_cluster):
    env = new_env(2)
    stream = env.from_sequence(1, 10).map(lambda x: x * x)
    with stream.execute_and_collect() as results:
        assert sorted(results) == [x * x for x in range(1, 11)]
    assert len(env.from_sequence(1, 10).execute_and_collect(limit=3)) == 3


class ByParity(Partitioner):
    def partition(self, key, num_partitions: int) -> int:
        return key % num_partitions


class Tagged(MapFunction):
    def open(self, runtime_context: RuntimeContext):
        self.index = runtime_context.get_index_of_this_subtask()

    def map(self, value):
        return self.index, value


def test_partition_custom_and_project(mini_cluster):
    env = new_env(2)
    pairs = env.from_collection([(i, f"v{i}", i * 10) for i in range(6)],
                                type_info=Types.TUPLE([Types.INT(), Types.STRING(),
                                                       Types.INT()]))
    projected = pairs.project(2, 0)
    assert repr(projected.get_type()) == "TupleTypeInfo(INT, INT)"
    routed = projected.partition_custom(ByParity(), lambda t: t[1]).map(Tagged())
    assert sorted(routed.execute_and_collect()) == sorted((i % 2, (i * 10, i))
                                                          for i in range(6))
    with pytest.raises(TypeError, match="Only Tuple DataStreams can be projected."):
        env.from_collection([1], type_info=Types.INT()).project(0)


def test_plan_records_description_and_slot_sharing_group():
    env = new_env(3)
    (env.from_sequence(1, 5).set_description("numbers")
        .map(lambda x: x).slot_sharing_group("maps").set_parallelism(2)
        .key_by(lambda x: x % 2).map(lambda x: x)
        .slot_sharing_group(SlotSharingGroup.builder("heavy").set_cpu_cores(1.0).build())
        .print().set_description("out"))
    nodes = json.loads(env.get_execution_plan())["nodes"]
    assert [(n["type"], n["pact"], n["parallelism"]) for n in nodes] == [
        ("Sequence Source", "Data Source", 3), ("Map", "Operator", 2), ("Map", "Operator", 3),
        ("Print to Std. Out", "Data Sink", 3)]
    assert nodes[0]["description"] == "numbers" and nodes[3]["description"] == "out"
    assert nodes[1]["slot_sharing_group"] == "maps" and nodes[2]["slot_sharing_group"] == "heavy"
    assert [p["ship_strategy"] for n in nodes[1:] for p in n["predecessors"]] == \
        ["REBALANCE", "HASH", "FORWARD"]
    env.get_job_graph()  # the plan does not consume the graph


class Endless(SourceFunction):
    def run(self, ctx):
        ctx.collect(1)

    def cancel(self):
        pass


def test_runtime_modes():
    env = new_env()
    assert env.set_runtime_mode(RuntimeExecutionMode.STREAMING) is env
    env.from_collection([1]).print()
    assert env.get_job_graph().configuration["execution.runtime-mode"] == "STREAMING"
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    assert env.get_job_graph().configuration["execution.runtime-mode"] == "BATCH"
    configured = StreamExecutionEnvironment.get_execution_environment(
        Configuration().set_string("execution.runtime-mode", "batch"))
    configured.add_source(Endless()).print()
    with pytest.raises(ValueError, match="Detected an UNBOUNDED source with the "
                                         "'execution.runtime-mode' set to 'BATCH'"):
        configured.get_job_graph()
    env.set_runtime_mode(RuntimeExecutionMode.AUTOMATIC)
    assert env.get_job_graph().configuration["execution.runtime-mode"] == "BATCH"
    unbounded = new_env().set_runtime_mode(RuntimeExecutionMode.AUTOMATIC)
    unbounded.add_source(Endless()).print()
    graph = unbounded.get_job_graph()
    assert graph.configuration["execution.runtime-mode"] == "STREAMING"
    env.set_stream_time_characteristic(TimeCharacteristic.EventTime)
    assert env.get_stream_time_characteristic() is TimeCharacteristic.EventTime


def test_configuration_state_backends_and_checkpoint_storage():
    conf = Configuration().set_integer("parallelism.default", 3)
    conf.set_string("pipeline.name", "configured")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    assert env.get_parallelism() == 3
    env.enable_checkpointing(1000)
    env.get_checkpoint_config().set_checkpoint_storage(
        FileSystemCheckpointStorage("file:///tmp/headwater-cp"))
    assert isinstance(env.get_checkpoint_config().get_checkpoint_storage(), CheckpointStorage)
    env.set_state_backend(RocksDBStateBackend("file:///tmp/headwater-rocks"))
    env.from_collection([1]).print()
    config = env.get_job_graph().configuration
    assert config["state.backend"] == "rocksdb"
    # the explicit checkpoint storage wins over the legacy backend's path, as in Flink
    assert config["state.checkpoints.dir"] == "file:///tmp/headwater-cp"
    assert config["pipeline.name"] == "configured"
    assert MemoryStateBackend().to_configuration()["state.backend"] == "hashmap"
    assert FsStateBackend("file:///x").to_configuration()["state.checkpoints.dir"] == "file:///x"


def test_add_python_file_ships_modules_to_taskmanagers(mini_cluster, tmp_path):
    name = f"hw_shipped_{tmp_path.name.replace('-', '_')}"
    module = tmp_path / f"{name}.py"
    module.write_text("def shout(text):\n    return text.upper() + '!'\n")
    package = tmp_path / f"{name}_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("SUFFIX = '?'\n")
    env = new_env(2)
    env.add_python_file(str(module))
    env.add_python_file(str(package))
    code = (f"lambda w: __import__('{name}').shout(w) + "
            f"__import__('{name}_pkg').SUFFIX")
    assert name not in sys.modules
    words = env.from_collection(["a", "b"]).map(eval(code))
    assert sorted(words.execute_and_collect()) == ["A!?", "B!?"]


def test_python_requirements(mini_cluster, tmp_path):
    satisfied = tmp_path / "requirements.txt"
    satisfied.write_text("msgspec  # installed with headwater\n")
    env = new_env()
    env.set_python_requirements(str(satisfied))
    assert list(env.from_collection([1]).map(lambda x: x + 1).execute_and_collect()) == [2]
    missing = tmp_path / "missing.txt"
    missing.write_text("headwater-no-such-package-xyz==1.0\n")
    cache = tmp_path / "wheels"
    cache.mkdir()
    env = new_env()
    env.set_python_requirements(str(missing), str(cache))
    env.from_collection([1]).print()
    with pytest.raises(JobExecutionException) as failure:
        env.execute("unmet requirement")
    text = str(failure.value) + str(getattr(failure.value, "cause", ""))
    assert "could not install headwater-no-such-package-xyz==1.0" in text


def test_table_api_and_jvm_methods_give_clear_errors():
    env = new_env()
    with pytest.raises(NotImplementedError,
                       match=r"StreamExecutionEnvironment.execute_sql\(\) belongs to "
                             r"PyFlink's Table API"):
        env.execute_sql("SELECT 1")
    stream = env.from_collection([1])
    with pytest.raises(NotImplementedError, match=r"DataStream.to_table\(\) belongs to "
                                                  r"PyFlink's Table API"):
        stream.to_table()
    with pytest.raises(NotImplementedError, match=r"add_jars\(\) loads Java classes"):
        env.add_jars("file:///flink-connector-kafka.jar")
    with pytest.raises(ImportError, match="headwater has no Table API"):
        import headwater.pyflink.table  # noqa: F401
    with pytest.raises(AttributeError, match="no attribute 'no_such_method'"):
        env.no_such_method()


def test_job_client_answers_work_the_pyflink_way(mini_cluster):
    env = new_env()
    env.from_collection([1, 2]).print()
    client = env.execute_async("async")
    result = client.get_job_execution_result().result()
    assert result.get_job_id() == client.get_job_id()
    assert client.get_job_status().result() is JobStatus.FINISHED
    assert client.get_job_status() == "FINISHED"


def test_execution_and_checkpoint_config_settings():
    env = new_env()
    config = env.get_config()
    config.set_parallelism(4).enable_object_reuse().set_global_job_parameters({"k": "v"})
    assert env.get_parallelism() == 4 and config.is_object_reuse_enabled()
    checkpoints = env.get_checkpoint_config()
    checkpoints.enable_unaligned_checkpoints()
    checkpoints.set_externalized_checkpoint_retention(
        ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION)
    assert env.is_unaligned_checkpoints_enabled()
    assert checkpoints.get_externalized_checkpoint_retention() is \
        ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION
    env.from_collection([1]).print()
    graph = env.get_job_graph()
    assert graph.vertices[0].parallelism == 4
    assert json.loads(graph.configuration["pipeline.global-job-parameters"]) == {"k": "v"}
    assert graph.execution_config["user-config"] == {"k": "v"}
    cached = env.from_collection([1]).cache()
    assert len(cached.dataset_id) == 32
    cached.print()
    with pytest.raises(ValueError, match=r"cache\(\) is only supported in BATCH"):
        env.get_job_graph()


def write_wheel(directory, name: str, version: str, code: str) -> None:
    """A minimal pure-Python wheel (what pip needs to install it offline)."""
    import base64
    import hashlib
    import zipfile

    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": code,
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)


def test_python_requirements_install_from_the_cache_dir(mini_cluster, tmp_path):
    name = f"hw_req_{tmp_path.name.replace('-', '_')}"
    cache = tmp_path / "wheels"
    cache.mkdir()
    write_wheel(cache, name, "1.0", "ANSWER = 42\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{name}==1.0\n")
    env = new_env(2)
    env.set_python_requirements(str(requirements), str(cache))
    code = f"lambda x: x + __import__('{name}').ANSWER"
    assert sorted(env.from_collection([0, 1]).map(eval(code)).execute_and_collect()) == [42, 43]


class Greeting(MapFunction):
    def open(self, runtime_context: RuntimeContext):
        self.greeting = runtime_context.get_job_parameter("greeting", "hello")
        self.missing = runtime_context.get_job_parameter("missing", "default")

    def map(self, value):
        return f"{self.greeting} {value} ({self.missing})"


def test_job_parameters_reach_the_functions(mini_cluster):
    env = new_env(2)
    env.get_config().set_global_job_parameters({"greeting": "hi, there"})
    out = env.from_collection(["a", "b"]).map(Greeting()).execute_and_collect()
    assert sorted(out) == ["hi, there a (default)", "hi, there b (default)"]


class Ticks(SourceFunction):
    def __init__(self):
        self.running = True

    def run(self, ctx):
        import time

        n = 0
        while self.running:
            with ctx.get_checkpoint_lock():
                ctx.collect(n)
            n += 1
            time.sleep(0.01)

    def cancel(self):
        self.running = False


def test_job_client_savepoints_and_accumulators(mini_cluster, tmp_path):
    from headwater.client import RestClient
    from headwater.testing import wait_for

    env = new_env()
    env.add_source(Ticks()).map(lambda x: x).print()
    client = env.execute_async("ticks")
    rest = RestClient(mini_cluster.rest_url)
    wait_for(lambda: all(v["status"] == "RUNNING"
                         for v in rest.job(client.get_job_id())["vertices"]),
             timeout=30, message="every subtask running")
    path = client.trigger_savepoint(str(tmp_path / "sp")).result()
    assert path and str(tmp_path / "sp") in path
    assert isinstance(client.get_accumulators().result(), dict)
    stopped = client.stop_with_savepoint(False, str(tmp_path / "stop")).result()
    assert str(tmp_path / "stop") in stopped
    wait_for(lambda: client.get_job_status().result() is JobStatus.FINISHED, timeout=30,
             message="stopped")
