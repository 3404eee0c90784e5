"""Operator state: CheckpointedFunction in UDF operators, split/union redistribution,
checkpoint notifications, and resumable built-in sources."""

from __future__ import annotations

import pickle
import threading
import time
from collections import Counter

import pytest

from headwater.api.checkpoint_config import CheckpointingMode, ExternalizedCheckpointCleanup
from headwater.api.checkpointing import CheckpointedFunction, CheckpointListener
from headwater.api.environment import StreamExecutionEnvironment
from headwater.api.functions import MapFunction, SinkFunction, SourceFunction
from headwater.api.restart_strategy import RestartStrategies
from headwater.api.state import ListStateDescriptor
from headwater.api.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend
from headwater.runtime.checkpoint.config import CheckpointCoordinatorConfiguration
from headwater.runtime.checkpoint.redistribution import redistribute_operator_state
from headwater.runtime.operators import sources
from headwater.runtime.operators.simple import MapOperator, SinkOperator
from headwater.runtime.operators.sources import CollectionSource, SequenceSource, UserSource
from headwater.runtime.state.operator_state import HeapOperatorStateStore
from headwater.testing import OneInputStreamOperatorTestHarness


def start(template, subtask=0, parallelism=1, state=None):
    """A fresh copy of an operator template, set up, initialized and opened as a task
    does (state None: fresh start)."""
    return OneInputStreamOperatorTestHarness(template, subtask_index=subtask,
                                             parallelism=parallelism,
                                             operator_state=state).operator


def roundtrip(snapshot):
    return pickle.loads(pickle.dumps(snapshot, protocol=5))


# -- CheckpointedFunction in UDF operators ------------------------------------------------


class CountingMap(MapFunction, CheckpointedFunction, CheckpointListener):
    """Counts records; keeps the count in split state and the seen subtasks in union
    state; records completed checkpoints."""

    def __init__(self):
        self.completed = []
        self.aborted = []

    def initialize_state(self, context):
        store = context.get_operator_state_store()
        self.count_state = store.get_list_state(ListStateDescriptor("count"))
        self.union_state = store.get_union_list_state(ListStateDescriptor("subtasks"))
        self.restored = context.is_restored()
        self.count = sum(self.count_state.get())
        self.union_seen = list(self.union_state.get())

    def open(self, runtime_context):
        self.subtask = runtime_context.get_index_of_this_subtask()

    def snapshot_state(self, context):
        self.last_checkpoint = context.get_checkpoint_id()
        self.count_state.update([self.count])
        self.union_state.update([self.subtask])

    def map(self, value):
        self.count += 1
        return value

    def notify_checkpoint_complete(self, checkpoint_id):
        self.completed.append(checkpoint_id)

    def notify_checkpoint_aborted(self, checkpoint_id):
        self.aborted.append(checkpoint_id)


def test_checkpointed_map_snapshot_restore_and_notifications():
    op = start(MapOperator(CountingMap()))
    assert op.function.restored is False
    op.process_batch([1, 2, 3], None)
    snap = roundtrip(op.snapshot_state(7))
    assert op.function.last_checkpoint == 7
    assert snap == {"count": ("split", [3]), "subtasks": ("union", [0])}
    op.notify_checkpoint_complete(7)
    op.notify_checkpoint_aborted(8)
    assert op.function.completed == [7] and op.function.aborted == [8]
    again = start(MapOperator(CountingMap()), state=snap)
    assert again.function.restored is True and again.function.count == 3
    again.process_batch([4], None)
    assert again.snapshot_state(8)["count"] == ("split", [4])


def test_open_without_initialize_state_starts_fresh():
    context = OneInputStreamOperatorTestHarness(MapOperator(CountingMap()), open=False).context
    op = MapOperator(CountingMap())
    op.setup(context)
    op.open()  # the task may skip initialize_state(None)
    assert op.function.restored is False
    assert op.snapshot_state(1) == {"count": ("split", [0]), "subtasks": ("union", [0])}


def test_plain_functions_have_no_operator_state():
    op = start(MapOperator(lambda x: x))
    assert op.snapshot_state(1) is None
    op.notify_checkpoint_complete(1)  # nothing to forward to: no error


def test_split_and_union_redistribution_at_other_parallelism():
    old = []
    for i, n in enumerate([3, 5, 7, 11]):
        op = start(MapOperator(CountingMap()), i, 4)
        op.process_batch(list(range(n)), None)
        old.append(roundtrip(op.snapshot_state(1)))
    counts, unions = [], []
    for j in range(2):
        state = redistribute_operator_state(old, 2, j)
        op = start(MapOperator(CountingMap()), j, 2, state)
        counts.append(op.function.count)
        unions.append(sorted(op.function.union_seen))
    assert sum(counts) == 3 + 5 + 7 + 11 and counts == [8, 18]  # split: dealt out evenly
    assert unions == [[0, 1, 2, 3], [0, 1, 2, 3]]  # union: everyone gets all


def test_operator_state_store_rules():
    store = HeapOperatorStateStore({"a": ("split", [1, 2]), "keep": ("union", [3])})
    a = store.get_list_state(ListStateDescriptor("a"))
    assert a.get() == [1, 2]
    with pytest.raises(ValueError):
        store.get_union_list_state(ListStateDescriptor("a"))
    with pytest.raises(ValueError):
        a.add(None)
    a.add(3)
    # states restored but not asked for survive the next snapshot
    assert store.snapshot() == {"a": ("split", [1, 2, 3]), "keep": ("union", [3])}
    assert store.get_registered_state_names() == {"a"}
    other = HeapOperatorStateStore({"u": ("union", [1])})
    with pytest.raises(ValueError, match="checkpointed as 'union'"):
        other.get_list_state(ListStateDescriptor("u"))


class BufferingSink(SinkFunction, CheckpointedFunction):
    def __init__(self, out):
        self.out = out

    def initialize_state(self, context):
        self.saved = context.get_operator_state_store().get_list_state(
            ListStateDescriptor("buffered"))
        self.buffer = list(self.saved.get())

    def snapshot_state(self, context):
        self.saved.update(self.buffer)

    def invoke(self, value, context):
        self.buffer.append(value)
        if len(self.buffer) == 3:
            self.out.extend(self.buffer)
            self.buffer = []


def test_checkpointed_sink():
    out: list = []
    op = start(SinkOperator(BufferingSink(out)))
    op.function.out = out  # the copy made by start() has its own list
    op.process_batch([1, 2, 3, 4, 5], None)
    snap = roundtrip(op.snapshot_state(1))
    assert snap == {"buffered": ("split", [4, 5])}
    again = start(SinkOperator(BufferingSink(out)), state=snap)
    again.function.out = out
    again.process_batch([6], None)
    assert out == [1, 2, 3, 4, 5, 6]


# -- resumable sources --------------------------------------------------------------------


class Crash(Exception):
    pass


class Output:
    """A SourceOutput that snapshots the source before the ``snapshot_at``-th batch (as
    the task does, under the checkpoint lock between collect calls) and crashes before
    the ``crash_at``-th."""

    def __init__(self, source=None, snapshot_at=None, crash_at=None):
        self.lock = threading.RLock()
        self.values: list = []
        self.batches = 0
        self.source = source
        self.snapshot_at = snapshot_at
        self.crash_at = crash_at
        self.snapshot = None
        self.at_snapshot = None
        self.cancelled = False

    def _before_batch(self):
        self.batches += 1
        if self.batches == self.snapshot_at:
            self.snapshot = roundtrip(self.source.snapshot_state(1))
            self.at_snapshot = len(self.values)
        if self.batches == self.crash_at:
            raise Crash()

    def collect(self, value):
        with self.lock:
            self._before_batch()
            self.values.append(value)

    def collect_with_timestamp(self, value, timestamp):
        self.collect(value)

    def emit_watermark(self, timestamp):
        pass

    def mark_idle(self):
        pass

    def collect_batch(self, values, timestamps=None):
        with self.lock:
            self._before_batch()
            self.values.extend(values)


def run_source(op, **kw):
    out = Output(op, **kw)
    try:
        op.run(out)
    except Crash:
        pass
    return out


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(sources, "CHUNK", 3)


@pytest.mark.parametrize("new_parallelism", [1, 2, 3, 5])
@pytest.mark.parametrize("kind", ["sequence", "collection"])
def test_builtin_sources_resume_exactly_once(small_chunks, kind, new_parallelism):
    template = SequenceSource(1, 100) if kind == "sequence" else \
        CollectionSource([f"e{i}" for i in range(100)])
    expected = Counter(range(1, 101)) if kind == "sequence" else \
        Counter(f"e{i}" for i in range(100))
    emitted: Counter = Counter()
    old = []
    for i in range(3):
        op = start(template, i, 3)
        out = run_source(op, snapshot_at=3 + i, crash_at=6 + i)  # crash after the snapshot
        emitted.update(out.values[:out.at_snapshot])  # what the checkpoint covers
        old.append(out.snapshot)
    for j in range(new_parallelism):
        op = start(template, j, new_parallelism,
                   redistribute_operator_state(old, new_parallelism, j))
        emitted.update(run_source(op).values)
    assert emitted == expected


def test_exhausted_source_snapshots_empty_list_and_emits_nothing_after_restore():
    op = start(SequenceSource(1, 10))
    out = run_source(op)
    assert out.values == list(range(1, 11))
    snap = roundtrip(op.snapshot_state(5))
    assert snap == {"sequence-source-ranges": ("split", [])}
    again = start(SequenceSource(1, 10), state=snap)
    assert run_source(again).values == []


def test_snapshot_from_another_thread_is_consistent(small_chunks):
    """The task snapshots from its own thread under the checkpoint lock: the position
    must match what was collected at that moment."""
    op = start(SequenceSource(1, 3000))
    out = Output(op)
    results = []
    t = threading.Thread(target=op.run, args=(out,))
    t.start()
    while t.is_alive():
        with out.lock:
            results.append((len(out.values), roundtrip(op.snapshot_state(1))))
        time.sleep(0.0005)  # snapshots spread over the run, as a task's checkpoints are
    t.join()
    assert len(results) > 1
    for collected, snap in results:
        rest = [x for lo, hi, step in snap["sequence-source-ranges"][1]
                for x in range(lo, hi, step)]
        assert out.values[:collected] + rest == list(range(1, 3001))


def test_generator_source_resumes_by_skipping():
    def gen():
        yield from range(50)

    op = start(UserSource(gen))
    out = run_source(op, snapshot_at=11, crash_at=21)
    assert out.snapshot == {"user-source-emitted": ("union", [(0, 10)])}
    again = start(UserSource(gen), state=out.snapshot)
    assert out.values[:out.at_snapshot] + run_source(again).values == list(range(50))
    # rescaled: a new subtask without a count starts its copy from the beginning
    state = redistribute_operator_state([out.snapshot], 2, 1)
    assert run_source(start(UserSource(gen), 1, 2, state)).values == list(range(50))


class CountingSource(SourceFunction, CheckpointedFunction):
    def __init__(self, n):
        self.n = n
        self.running = True

    def initialize_state(self, context):
        self.state = context.get_operator_state_store().get_list_state(
            ListStateDescriptor("offset"))
        self.offset = sum(self.state.get())

    def snapshot_state(self, context):
        self.state.update([self.offset])

    def run(self, ctx):
        while self.running and self.offset < self.n:
            with ctx.get_checkpoint_lock():
                ctx.collect(self.offset)
                self.offset += 1

    def cancel(self):
        self.running = False


def test_checkpointed_source_function():
    op = start(UserSource(CountingSource(20)))
    out = run_source(op, snapshot_at=6, crash_at=9)
    again = start(UserSource(CountingSource(20)), state=out.snapshot)
    assert out.values[:out.at_snapshot] + run_source(again).values == list(range(20))


# -- environment configuration ------------------------------------------------------------


def _graph(env):
    env.from_sequence(1, 3).print()
    return env.get_job_graph("cfg")


def test_checkpointing_settings_become_flink_keys():
    env = StreamExecutionEnvironment()
    env.enable_checkpointing(5000, CheckpointingMode.AT_LEAST_ONCE)
    cc = env.get_checkpoint_config()
    cc.set_checkpoint_timeout(30_000)
    cc.set_min_pause_between_checkpoints(1000)
    cc.set_max_concurrent_checkpoints(2)
    cc.set_tolerable_checkpoint_failure_number(3)
    cc.enable_externalized_checkpoints(ExternalizedCheckpointCleanup.RETAIN_ON_CANCELLATION)
    cc.set_checkpoint_storage_dir("file:///tmp/cp")
    env.set_state_backend(EmbeddedRocksDBStateBackend())
    assert env.get_checkpoint_interval() == 5000
    assert env.get_checkpointing_mode() is CheckpointingMode.AT_LEAST_ONCE
    conf = _graph(env).configuration
    assert conf == {
        "execution.checkpointing.interval": 5000,
        "execution.checkpointing.mode": "AT_LEAST_ONCE",
        "execution.checkpointing.timeout": 30_000,
        "execution.checkpointing.min-pause": 1000,
        "execution.checkpointing.max-concurrent-checkpoints": 2,
        "execution.checkpointing.tolerable-failed-checkpoints": 3,
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "state.checkpoints.dir": "file:///tmp/cp",
        "state.backend": "rocksdb",
    }
    rt = CheckpointCoordinatorConfiguration.from_config(conf)
    assert (rt.interval, rt.mode, rt.timeout, rt.min_pause, rt.max_concurrent) == \
        (5000, "AT_LEAST_ONCE", 30_000, 1000, 2)
    assert rt.tolerable_failed_checkpoints == 3 and rt.externalized == "RETAIN_ON_CANCELLATION"
    assert rt.checkpoints_dir == "file:///tmp/cp" and rt.state_backend == "rocksdb"


def test_checkpoint_config_validation_and_defaults():
    env = StreamExecutionEnvironment()
    assert _graph(env).configuration == {}
    cc = env.get_checkpoint_config()
    assert not cc.is_checkpointing_enabled() and cc.get_checkpoint_timeout() == 600_000
    with pytest.raises(ValueError):
        env.enable_checkpointing(5)
    with pytest.raises(ValueError):
        cc.set_max_concurrent_checkpoints(0)
    env.set_state_backend(HashMapStateBackend())
    env.enable_checkpointing(100)
    assert _graph(env).configuration["state.backend"] == "hashmap"
    with pytest.raises(TypeError):
        env.set_state_backend("rocksdb")


@pytest.mark.parametrize("strategy, keys, text", [
    (RestartStrategies.no_restart(), {"restart-strategy": "none"}, "Restart deactivated."),
    (RestartStrategies.fixed_delay_restart(3, 1000),
     {"restart-strategy": "fixed-delay", "restart-strategy.fixed-delay.attempts": 3,
      "restart-strategy.fixed-delay.delay": 1000},
     "Restart with fixed delay (1000 ms). #3 restart attempts."),
    (RestartStrategies.failure_rate_restart(2, 60_000, 500),
     {"restart-strategy": "failure-rate",
      "restart-strategy.failure-rate.max-failures-per-interval": 2,
      "restart-strategy.failure-rate.failure-rate-interval": 60_000,
      "restart-strategy.failure-rate.delay": 500},
     "Failure rate restart with maximum of 2 failures within interval 60000 ms and fixed "
     "delay 500 ms."),
    (RestartStrategies.exponential_delay_restart(100, 10_000, 2.0, 60_000, 0.1),
     {"restart-strategy": "exponential-delay",
      "restart-strategy.exponential-delay.initial-backoff": 100,
      "restart-strategy.exponential-delay.max-backoff": 10_000,
      "restart-strategy.exponential-delay.backoff-multiplier": 2.0,
      "restart-strategy.exponential-delay.reset-backoff-threshold": 60_000,
      "restart-strategy.exponential-delay.jitter-factor": 0.1},
     "Restart with exponential delay: starting at 100 ms, increasing by 2.000000, with "
     "maximum 10000 ms. Delay resets after 60000 ms with jitter 0.100000"),
    (RestartStrategies.fall_back_restart(), {}, "Cluster level default restart strategy"),
])
def test_restart_strategies(strategy, keys, text):
    env = StreamExecutionEnvironment()
    env.set_restart_strategy(strategy)
    graph = _graph(env)
    assert graph.configuration == keys
    assert graph.execution_config["restart-strategy"] == text


def test_restart_strategy_durations_accept_time():
    from headwater.api.time import Time

    s = RestartStrategies.fixed_delay_restart(1, Time.seconds(2))
    assert s.to_configuration()["restart-strategy.fixed-delay.delay"] == 2000
    with pytest.raises(ValueError):
        RestartStrategies.exponential_delay_restart(100, 1000, 0.5, 1000, 0.1)


def test_chunk_sizer_adapts_to_the_chain_speed():
    sizer = sources.ChunkSizer(1024, target=0.01)
    assert sizer.size == 8
    for _ in range(10):
        sizer.observe(sizer.size, 0.0001)  # fast chain: grows (doubling) to the maximum
    assert sizer.size == 1024
    sizer.observe(1024, 1024 * 0.004)  # 4 ms a record: ~2 records per 10 ms
    assert sizer.size == 2
    sizer.observe(2, 1.0)
    assert sizer.size == 1
