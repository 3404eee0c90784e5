"""BLOCKING result partitions: real files, a real DataServer socket, real tasks.

A producer writes each subpartition to a file; once it finished, every attach (local
channel or remote request) replays the file honouring the consumer's credits; a failed
or cancelled producer leaves no files; release_partitions deletes them.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import cloudpickle
import msgspec
import pytest

from headwater.api import StreamExecutionEnvironment
from headwater.graph.job_graph import JobEdge, ShipStrategy
from headwater.runtime.jobmanager.shuffle_mode import is_blocking
from headwater.runtime.network.blocking_partition import (
    BlockingResultPartition,
    job_partition_dirs,
    partition_dir,
    release_partitions,
)
from headwater.runtime.network.buffers import ChannelEvent, SerializedBuffer
from headwater.runtime.network.events import (
    END_OF_PARTITION,
    ChannelError,
    CheckpointBarrier,
    EndOfPartition,
    Watermark,
)
from headwater.runtime.network.input_gate import InputGate
from headwater.runtime.network.partition import PartitionRegistry
from headwater.runtime.network.record_writer import RecordWriter
from headwater.runtime.network.server import DataServer
from headwater.runtime.rpc.messages import (
    AnyMessage,
    OperatorBlob,
    PartitionDescriptor,
    ReleasePartitions,
    TaskDeploymentDescriptor,
)
from headwater.runtime.taskmanager.task import Task
from headwater.runtime.taskmanager.task_executor import TaskExecutor
from headwater.testing import wait_for

pa = pytest.importorskip("pyarrow")

RESOURCE = "127.0.0.1:6121-abcdef"
JOB = "0" * 32


class Opaque:
    """Not a plain built-in: its batches are pickled, not marshalled."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.n == self.n

    def __hash__(self) -> int:
        return self.n


@pytest.fixture
def registry():
    return PartitionRegistry()


@pytest.fixture
def server(registry):
    s = DataServer(registry, lookup_timeout=5)
    s.start()
    yield s
    s.close()


def new_partition(tmp_path: Path, pid: str = "attempt-0", subs: int = 2
                  ) -> BlockingResultPartition:
    config = {"taskmanager.tmp.dirs": str(tmp_path)}
    return BlockingResultPartition(pid, JOB, subs, partition_dir(config, RESOURCE, JOB, pid),
                                   threading.Event())


def write_sample(p: BlockingResultPartition) -> int:
    """Records, pickled records, an Arrow batch and events on subpartition 0; one batch
    on subpartition 1. Returns the bytes the writer counted."""
    writer = RecordWriter(p, "FORWARD", batch_size=3)
    writer.emit([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    writer.flush()
    sub = p.subpartitions[0]
    sub.send_event(Watermark(25))
    sub.send_event(CheckpointBarrier(7, 0))
    written = writer.bytes_out
    written += sub.send_batch([Opaque(1), Opaque(2)], None)
    written += sub.send_arrow(pa.record_batch({"x": [1, 2, 3]}))
    p.subpartitions[1].send_batch(["only", "one"], None)
    for s in p.subpartitions:
        s.send_event(END_OF_PARTITION)
    return written


EXPECTED_0: list[Any] = [
    ("data", [1, 2, 3, 4, 5], [10, 20, 30, 40, 50]),
    ("event", Watermark(25)),
    ("event", CheckpointBarrier(7, 0)),
    ("data", [Opaque(1), Opaque(2)], None),
    ("arrow", {"x": [1, 2, 3]}),
    ("event", EndOfPartition()),
]
EXPECTED_1: list[Any] = [("data", ["only", "one"], None), ("event", EndOfPartition())]
#: What a second reader of subpartition 0 gets: a restarted consumer sees no old barriers.
WITHOUT_BARRIERS_0 = [e for e in EXPECTED_0 if e != ("event", CheckpointBarrier(7, 0))]


def connect(registry: PartitionRegistry, server: DataServer, pid: str, subs: list[int],
            local: bool, credits: int = 4) -> InputGate:
    gate = InputGate(credits, threading.Event())
    for sub in subs:
        gate.add_channel(0, pid, sub, "127.0.0.1", server.port, local=local)
    gate.connect(registry, 5)
    return gate


def drain(gate: InputGate, timeout: float = 10) -> list[list[Any]]:
    """Everything each channel delivers up to its EndOfPartition, returning credits."""
    out: list[list[Any]] = [[] for _ in gate.channels]
    open_channels = len(gate.channels)
    deadline = time.monotonic() + timeout
    while open_channels:
        item = gate.queue.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(item, SerializedBuffer):
            values, timestamps = item.decode(item.data)
            if values and type(values[0]).__name__ == "RecordBatch":
                out[item.channel].append(("arrow", values[0].to_pydict()))
            else:
                out[item.channel].append(("data", list(values), timestamps))
            gate.channels[item.channel].return_credit()
        else:
            assert isinstance(item, ChannelEvent)
            out[item.channel].append(("event", item.event))
            assert not isinstance(item.event, ChannelError), item.event
            if isinstance(item.event, EndOfPartition):
                open_channels -= 1
    return out


@pytest.mark.parametrize("local", [True, False], ids=["local", "remote"])
def test_a_finished_partition_reads_back_what_was_written(tmp_path, registry, server, local):
    p = new_partition(tmp_path)
    registry.register(p)
    written = write_sample(p)
    files = sorted(os.listdir(p.directory))
    assert files == ["0.bin", "1.bin"]
    assert written > 0
    p.finish()
    gate = connect(registry, server, p.partition_id, [0, 1], local)
    try:
        assert drain(gate) == [EXPECTED_0, EXPECTED_1]
    finally:
        gate.close()
    assert p.directory.startswith(str(tmp_path / "headwater-partitions-127.0.0.1_6121-abcdef"
                                      / JOB))


def test_consumers_attached_before_the_producer_finished_wait_for_it(tmp_path, registry,
                                                                      server):
    p = new_partition(tmp_path)
    registry.register(p)
    local = connect(registry, server, p.partition_id, [0, 1], local=True)
    remote = connect(registry, server, p.partition_id, [0, 1], local=False)
    try:
        p.subpartitions[0].send_batch([1], None)
        time.sleep(0.3)
        assert local.queue.empty() and remote.queue.empty()  # nothing before it finished
        write_sample(p)
        p.finish()
        assert drain(local) == [[("data", [1], None)] + EXPECTED_0, EXPECTED_1]
        assert drain(remote) == [[("data", [1], None)] + WITHOUT_BARRIERS_0, EXPECTED_1]
    finally:
        local.close()
        remote.close()


def test_reads_are_repeatable_and_concurrent(tmp_path, registry, server):
    p = new_partition(tmp_path, subs=1)
    registry.register(p)
    sub = p.subpartitions[0]
    batches = [list(range(i, i + 50)) for i in range(0, 5000, 50)]
    for b in batches:
        sub.send_batch(b, None)
    sub.send_event(END_OF_PARTITION)
    p.finish()
    gates = [connect(registry, server, p.partition_id, [0], local=i % 2 == 0, credits=2)
             for i in range(4)]
    results: list[Any] = [None] * len(gates)

    def read(i: int) -> None:
        results[i] = drain(gates[i])

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(gates))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    expected = [[("data", b, None) for b in batches] + [("event", EndOfPartition())]]
    assert results == [expected] * len(gates)
    again = connect(registry, server, p.partition_id, [0], local=False)  # a restarted reader
    assert drain(again) == expected
    for g in gates + [again]:
        g.close()


@pytest.mark.parametrize("local", [True, False], ids=["local", "remote"])
def test_only_the_first_reader_gets_checkpoint_barriers(tmp_path, registry, server, local):
    p = new_partition(tmp_path)
    registry.register(p)
    write_sample(p)
    p.finish()
    first = connect(registry, server, p.partition_id, [0, 1], local)
    assert drain(first) == [EXPECTED_0, EXPECTED_1]
    again = connect(registry, server, p.partition_id, [0, 1], local)
    assert drain(again) == [WITHOUT_BARRIERS_0, EXPECTED_1]
    first.close()
    again.close()


@pytest.mark.parametrize("local", [True, False], ids=["local", "remote"])
def test_credits_limit_the_buffers_in_flight(tmp_path, registry, server, local):
    p = new_partition(tmp_path, subs=1)
    registry.register(p)
    for i in range(10):
        p.subpartitions[0].send_batch([i], None)
        p.subpartitions[0].send_event(Watermark(i))  # events need no credit
    p.subpartitions[0].send_event(END_OF_PARTITION)
    p.finish()
    gate = connect(registry, server, p.partition_id, [0], local, credits=3)
    try:
        def counts() -> tuple[int, int]:
            items: list[Any] = []
            while not gate.queue.empty():
                items.append(gate.queue.get())
            for item in items:
                gate.queue.put(item)
            return (sum(isinstance(i, SerializedBuffer) for i in items),
                    sum(isinstance(i, ChannelEvent) for i in items))

        wait_for(lambda: counts() == (3, 3), timeout=10)
        time.sleep(0.3)
        assert counts() == (3, 3)  # the fourth buffer waits for a credit
        if local:
            gate.channels[0].return_credit()
        else:  # a remote channel returns credits in groups
            for _ in range(3):
                gate.channels[0].return_credit()
        wait_for(lambda: counts()[0] > 3, timeout=10)
        out = drain(gate)[0]
        assert [e for e in out if e[0] == "data"] == [("data", [i], None) for i in range(10)]
    finally:
        gate.close()


def test_a_partition_released_before_it_finished_fails_its_readers(tmp_path, registry,
                                                                   server):
    p = new_partition(tmp_path, subs=1)
    registry.register(p)
    local = connect(registry, server, p.partition_id, [0], local=True)
    remote = connect(registry, server, p.partition_id, [0], local=False)
    p.release()
    assert not os.path.exists(p.directory)
    for gate in (local, remote):
        item = gate.queue.get(timeout=10)
        assert isinstance(item, ChannelEvent) and isinstance(item.event, ChannelError)
        gate.close()


def test_release_partitions_deletes_files_and_forgets_partitions(tmp_path, registry):
    config = {"taskmanager.tmp.dirs": f"{tmp_path / 'a'},{tmp_path / 'b'}"}
    parts = []
    for k in range(6):
        pid = f"attempt{k}-0"
        p = BlockingResultPartition(pid, JOB, 1, partition_dir(config, RESOURCE, JOB, pid),
                                    threading.Event())
        p.subpartitions[0].send_event(END_OF_PARTITION)
        p.finish()
        registry.register(p)
        parts.append(p)
    dirs = job_partition_dirs(config, RESOURCE, JOB)
    assert {os.path.dirname(p.directory) for p in parts} == set(dirs)  # spread over both
    assert release_partitions(registry, JOB, dirs, partition_ids=["attempt0-0"]) == 1
    assert not os.path.exists(parts[0].directory)
    assert registry.lookup("attempt0-0") is None
    assert release_partitions(registry, JOB, dirs, keep=["attempt1-0"]) == 4
    assert [os.path.exists(p.directory) for p in parts] == [False, True] + [False] * 4
    assert registry.lookup("attempt1-0") is parts[1]
    assert release_partitions(registry, JOB, dirs) == 1
    assert registry.partitions() == []
    assert os.listdir(tmp_path / "a") == os.listdir(tmp_path / "b") == []


def test_release_partitions_travels_as_a_control_message():
    msg = ReleasePartitions(job_id=JOB, keep=["x-0"])
    decoded = msgspec.msgpack.Decoder(AnyMessage).decode(msgspec.msgpack.encode(msg))
    assert decoded == msg and decoded.partition_ids == []


def test_is_blocking_follows_the_batch_shuffle_mode():
    hash_edge = JobEdge("a", "b", ShipStrategy.HASH)
    forward = JobEdge("a", "b", ShipStrategy.FORWARD)
    blocking = {"execution.batch-shuffle-mode": "ALL_EXCHANGES_BLOCKING"}
    assert is_blocking(hash_edge, blocking) and not is_blocking(forward, blocking)
    assert not is_blocking(hash_edge, {})
    assert not is_blocking(hash_edge, {"execution.batch-shuffle-mode": "ALL_EXCHANGES_PIPELINED"})


# -- producer tasks ------------------------------------------------------------------------


def fail_at_500(x: int) -> int:
    if x == 500:
        raise ValueError("boom")
    return x


def slow(x: int) -> int:
    time.sleep(0.01)
    return x


def source_task(tmp_path: Path, registry: PartitionRegistry, mapper: Any, n: int
                ) -> tuple[Task, list[str]]:
    """A source -> map task whose one output partition is BLOCKING (2 subpartitions)."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_sequence(1, n).map(mapper).key_by(lambda x: x % 2).map(str)
    vertex = env.get_job_graph().vertices[0]
    edge = vertex.outputs[0]
    tdd = TaskDeploymentDescriptor(
        job_id=JOB, job_name="t", vertex_id=vertex.vertex_id, vertex_name=vertex.name,
        subtask_index=0, parallelism=1, max_parallelism=128, attempt_number=0,
        attempt_id="attempt", slot_index=0,
        operators=[OperatorBlob(o.operator_id, o.name, o.uid, cloudpickle.dumps(o.operator))
                   for o in vertex.operators],
        inputs=[], outputs=[PartitionDescriptor(
            partition_id="attempt-0", ship_strategy="HASH", num_subpartitions=2,
            consumer_parallelism=2, consumer_max_parallelism=128,
            key_selector=cloudpickle.dumps(edge.key_selector), blocking=True)],
        configuration={"taskmanager.tmp.dirs": str(tmp_path)})
    states: list[str] = []

    def on_state(task: Task, state: str, failure: str | None = None) -> None:
        states.append(state if failure is None else f"{state}: {failure}")

    task = Task(tdd, registry, "127.0.0.1", RESOURCE, on_state)
    return task, states


def test_a_finished_producer_leaves_a_finished_partition(tmp_path, registry, server):
    task, states = source_task(tmp_path, registry, lambda x: x, 1000)
    task.start()
    task.join(60)
    assert states[-1] == "FINISHED", states[-1]
    partition = registry.lookup("attempt-0")
    assert isinstance(partition, BlockingResultPartition) and partition.finished
    assert task.io_figures().write_bytes > 0
    gate = connect(registry, server, "attempt-0", [0, 1], local=False)
    out = drain(gate)
    gate.close()
    per_channel = [[v for e in ch if e[0] == "data" for v in e[1]] for ch in out]
    assert sorted(per_channel[0] + per_channel[1]) == list(range(1, 1001))
    keys = [{v % 2 for v in vs} for vs in per_channel]
    assert not keys[0] & keys[1]  # keyed by parity: a key goes to one channel only


def test_a_failed_producer_leaves_no_files(tmp_path, registry):
    task, states = source_task(tmp_path, registry, fail_at_500, 1000)
    task.start()
    task.join(60)
    assert states[-1].startswith("FAILED") and "boom" in states[-1]
    assert registry.lookup("attempt-0") is None
    assert [f for _, _, fs in os.walk(tmp_path) for f in fs] == []


def test_a_cancelled_producer_leaves_no_files(tmp_path, registry):
    task, states = source_task(tmp_path, registry, slow, 100_000)
    task.start()
    wait_for(lambda: "RUNNING" in states, timeout=30)
    files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs]
    assert len(files) == 2
    time.sleep(0.2)
    task.cancel()
    task.join(60)
    assert states[-1] == "CANCELED", states[-1]
    assert registry.lookup("attempt-0") is None
    assert not any(os.path.exists(f) for f in files)


def finished_partition(config: dict, pid: str, job: str = JOB) -> BlockingResultPartition:
    p = BlockingResultPartition(pid, job, 1, partition_dir(config, RESOURCE, job, pid),
                                threading.Event())
    p.subpartitions[0].send_batch([pid], None)
    p.subpartitions[0].send_event(END_OF_PARTITION)
    p.finish()
    return p


def test_the_task_executor_releases_partitions_on_request_and_at_shutdown(tmp_path):
    executor = TaskExecutor(("127.0.0.1", 1), "127.0.0.1", slots=1, resource_id=RESOURCE)
    try:
        config = {"taskmanager.tmp.dirs": str(tmp_path)}
        other_job = "1" * 32
        parts = {pid: finished_partition(config, pid) for pid in ("a-0", "b-0", "c-0")}
        parts["d-0"] = finished_partition(config, "d-0", other_job)
        for p in parts.values():
            executor.registry.register(p)
        for job in (JOB, other_job):
            executor.partition_dirs[job] = set(job_partition_dirs(config, RESOURCE, job))

        async def release(msg: ReleasePartitions) -> int:
            return await executor._release_partitions(msg)

        assert asyncio.run(release(ReleasePartitions(job_id=JOB, partition_ids=["a-0"]))) == 1
        assert asyncio.run(release(ReleasePartitions(job_id=JOB, keep=["b-0"]))) == 1
        assert [pid for pid, p in parts.items() if os.path.exists(p.directory)] == ["b-0", "d-0"]
        executor._release_all_partitions()  # the TaskManager stops
        assert executor.registry.partitions() == []
        assert os.listdir(tmp_path) == []
    finally:
        executor.data_server.close()
