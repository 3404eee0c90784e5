"""DataGeneratorSource: index splits, exact resume (also rescaled), the global rate."""

from __future__ import annotations

import pickle
import sys
import threading
import time
from collections import Counter

import pytest

from headwater.api.environment import StreamExecutionEnvironment
from headwater.api.watermarks import WatermarkStrategy
from headwater.connectors.datagen import (
    DataGeneratorSource,
    GeneratorFunction,
    RateLimiterStrategy,
)
from headwater.runtime.checkpoint.redistribution import redistribute_operator_state
from headwater.testing import OneInputStreamOperatorTestHarness


def start(source, subtask=0, parallelism=1, state=None):
    return OneInputStreamOperatorTestHarness(source.create_operator(), subtask_index=subtask,
                                             parallelism=parallelism,
                                             operator_state=state).operator


class Crash(Exception):
    pass


class Output:
    """Collects batches; snapshots the source before batch ``snapshot_at`` and crashes
    before ``crash_at`` (like a task that fails after a checkpoint)."""

    def __init__(self, source, snapshot_at=None, crash_at=None, stop_after=None):
        self.lock = threading.RLock()
        self.source = source
        self.values: list = []
        self.batches = 0
        self.snapshot_at, self.crash_at, self.stop_after = snapshot_at, crash_at, stop_after
        self.snapshot = None
        self.at_snapshot = 0

    @property
    def cancelled(self):
        return self.stop_after is not None and len(self.values) >= self.stop_after

    def collect_batch(self, values, timestamps=None):
        with self.lock:
            self.batches += 1
            if self.batches == self.snapshot_at:
                self.snapshot = pickle.loads(pickle.dumps(self.source.snapshot_state(1)))
                self.at_snapshot = len(self.values)
            if self.batches == self.crash_at:
                raise Crash()
            self.values.extend(values)


def run(op, **kw):
    out = Output(op, **kw)
    try:
        op.run(out)
    except Crash:
        pass
    return out


def test_every_index_once_over_the_subtasks():
    source = DataGeneratorSource(lambda i: i * 10, 1001)
    got = Counter()
    for i in range(3):
        got.update(run(start(source, i, 3)).values)
    assert got == Counter(i * 10 for i in range(1001))


def test_generator_function_with_life_cycle():
    class Gen(GeneratorFunction):
        def open(self, runtime_context):
            self.prefix = f"s{runtime_context.get_index_of_this_subtask()}"

        def map(self, index):
            return f"{self.prefix}-{index}"

    assert run(start(DataGeneratorSource(Gen(), 3))).values == ["s0-0", "s0-1", "s0-2"]


@pytest.mark.parametrize("new_parallelism", [1, 2, 3, 5])
def test_resume_from_a_snapshot_at_another_parallelism(new_parallelism):
    source = DataGeneratorSource(lambda i: i, 5000)
    emitted = Counter()
    old = []
    for i in range(2):
        out = run(start(source, i, 2), snapshot_at=5 + i, crash_at=9 + i)
        emitted.update(out.values[:out.at_snapshot])
        old.append(out.snapshot)
    for j in range(new_parallelism):
        state = redistribute_operator_state(old, new_parallelism, j)
        emitted.update(run(start(source, j, new_parallelism, state)).values)
    assert emitted == Counter(range(5000))


def test_unbounded_count_runs_until_cancelled():
    for count in (None, sys.maxsize):
        out = run(start(DataGeneratorSource(lambda i: i, count)), stop_after=5000)
        assert out.values[:5000] == list(range(5000))


def test_the_rate_is_divided_among_the_subtasks():
    source = DataGeneratorSource(lambda i: i, 60, RateLimiterStrategy.per_second(200))
    op = start(source, 0, 2)  # 100 records a second for this subtask
    assert op._limiter.rate == 100
    t0 = time.monotonic()
    out = run(op)
    assert out.values == list(range(30))
    assert time.monotonic() - t0 >= 0.2  # 30 records at 100/s, the first chunk at once


def test_rate_limited_source_sleeps_outside_the_lock():
    op = start(DataGeneratorSource(lambda i: i, 10_000, rows_per_second=20))
    out = Output(op)
    thread = threading.Thread(target=op.run, args=(out,))
    thread.start()
    try:
        time.sleep(0.3)
        for _ in range(5):  # a checkpoint gets the lock promptly while the source sleeps
            assert out.lock.acquire(timeout=1)
            op.snapshot_state(1)
            out.lock.release()
            time.sleep(0.05)
    finally:
        op.cancel()
        thread.join(5)
    assert not thread.is_alive()
    assert 0 < len(out.values) < 10_000


def test_constructor_forms():
    assert DataGeneratorSource(str, 5, 100).rate_limiter_strategy.records_per_second == 100
    flink_style = DataGeneratorSource(str, 5, "Types.STRING()")
    assert flink_style.get_produced_type() == "Types.STRING()"
    assert flink_style.rate_limiter_strategy.records_per_second is None
    with pytest.raises(ValueError):
        DataGeneratorSource(str, -1)
    with pytest.raises(TypeError):
        DataGeneratorSource(42, 1)


def test_from_source_names_the_vertex():
    env = StreamExecutionEnvironment()
    env.from_source(DataGeneratorSource(str, 10), WatermarkStrategy.no_watermarks(),
                    "gen").print()
    names = [v.name for v in env.get_job_graph().vertices]
    assert any(n.startswith("Source: gen") for n in names), names


def test_per_checkpoint_limit_opens_with_each_completed_checkpoint():
    source = DataGeneratorSource(lambda i: i, 100, RateLimiterStrategy.per_checkpoint(20))
    op = start(source, 1, 2)                        # 10 records per checkpoint each
    out = Output(op)
    thread = threading.Thread(target=op.run, args=(out,))
    thread.start()
    try:
        for expected in (10, 20, 30):
            deadline = time.monotonic() + 5
            while len(out.values) < expected and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.1)                          # the gate holds: no more than that
            assert len(out.values) == expected
            with out.lock:
                op.notify_checkpoint_complete(expected // 10)
    finally:
        op.cancel()
        thread.join(5)
    assert out.values[:30] == list(range(50, 80))
    with pytest.raises(ValueError, match="at least the parallelism"):
        start(DataGeneratorSource(str, 5, RateLimiterStrategy.per_checkpoint(1)), 0, 2)
