"""``execution.batch-shuffle-mode: ALL_EXCHANGES_BLOCKING`` on a real cluster: the keyed
exchange of a wordcount goes through BLOCKING partition files under
``taskmanager.tmp.dirs`` (local and, with two TaskManagers, remote), counts match the
pipelined run, and the files are gone once the job finished (or was cancelled)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from headwater.api import KeyedProcessFunction, MapFunction, SourceFunction, ValueStateDescriptor
from headwater.cluster.minicluster import JobExecutionException
from headwater.testing import CollectSink, wait_for
from tests.integration.helpers import new_env

WORDS = [f"w{i % 37}" for i in range(4000)] + ["rare"]
TERMINAL = {"FINISHED", "FAILED", "CANCELED"}


class Count(KeyedProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))

    def process_element(self, value, ctx):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        yield (value, n)


class SlowStart(MapFunction):
    """Sleeps on its first record: the consumers outlast the producers for a while, so
    the test sees the finished partitions' files."""

    def open(self, runtime_context):
        self.first = True

    def map(self, value):
        if self.first:
            self.first = False
            time.sleep(1.5)
        return value


def partition_files(tmp: Path) -> dict[Path, int]:
    return {f: f.stat().st_size for f in tmp.glob("headwater-partitions-*/*/*/*.bin")}


def wordcount(tmp: Path, parallelism: int, blocking: bool) -> tuple[dict, dict[Path, int]]:
    """Run a keyed wordcount; the final count per word and the partition files seen while
    it ran."""
    env = new_env(parallelism)
    mode = "ALL_EXCHANGES_BLOCKING" if blocking else "ALL_EXCHANGES_PIPELINED"
    env.configure({"execution.batch-shuffle-mode": mode, "taskmanager.tmp.dirs": str(tmp)})
    sink = CollectSink()
    (env.from_collection([" ".join(WORDS[i:i + 7]) for i in range(0, len(WORDS), 7)])
        .flat_map(str.split).key_by(lambda w: w).process(Count()).map(SlowStart())
        .add_sink(sink))
    client = env.execute_async("blocking wordcount" if blocking else "wordcount")
    seen: dict[Path, int] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and client.get_job_status() not in TERMINAL:
        seen.update(partition_files(tmp))
        time.sleep(0.05)
    result = client.get_job_execution_result(timeout=120)
    final: dict[str, int] = {}
    for word, n in sink.records(result):
        final[word] = max(final.get(word, 0), n)
    return final, seen


@pytest.mark.parametrize("parallelism", [1, 2])
def test_blocking_wordcount_counts_as_pipelined_and_cleans_up(mini_cluster, tmp_path,
                                                              parallelism):
    expected = dict(Counter(WORDS))
    pipelined, none = wordcount(tmp_path / "pipelined", parallelism, blocking=False)
    assert pipelined == expected
    assert none == {}

    tmp = tmp_path / "blocking"
    counts, seen = wordcount(tmp, parallelism, blocking=True)
    assert counts == expected
    # one file per (producer, consumer) of the keyed edge; the source -> flat_map chain
    # and the FORWARD edges write none
    assert len(seen) == parallelism * parallelism, seen
    assert sum(seen.values()) > len(" ".join(WORDS))
    taskmanagers = {f.relative_to(tmp).parts[0] for f in seen}
    assert len(taskmanagers) == parallelism  # with 2: every producer feeds a remote consumer
    # the JobMaster released them when the job finished
    wait_for(lambda: not any(tmp.iterdir()), timeout=20,
             message=lambda: f"partition files left: {list(tmp.rglob('*'))}")


class Endless(SourceFunction):
    def __init__(self):
        self.running = True

    def run(self, ctx):
        i = 0
        while self.running:
            ctx.collect(f"w{i % 11}")
            i += 1
            if i % 100 == 0:
                time.sleep(0.01)

    def cancel(self):
        self.running = False


def test_a_cancelled_blocking_job_leaves_no_files(mini_cluster, tmp_path):
    env = new_env(2)
    env.configure({"execution.batch-shuffle-mode": "ALL_EXCHANGES_BLOCKING",
                   "taskmanager.tmp.dirs": str(tmp_path)})
    env.add_source(Endless(), "endless").key_by(lambda w: w).process(Count()) \
        .add_sink(lambda x: None)
    client = env.execute_async("endless blocking")
    # 2 producers x 2 consumers (maybe still empty on disk: writes are buffered)
    wait_for(lambda: len(partition_files(tmp_path)) == 4 and client.get_job_status() == "RUNNING",
             timeout=30, message=lambda: f"partition files: {partition_files(tmp_path)}")
    time.sleep(0.5)
    client.cancel()
    with pytest.raises(JobExecutionException) as err:
        client.get_job_execution_result(timeout=30)
    assert err.value.status == "CANCELED"
    wait_for(lambda: not any(tmp_path.iterdir()), timeout=20,
             message=lambda: f"partition files left: {list(tmp_path.rglob('*'))}")


def slow_split(line):
    time.sleep(0.003)
    return line.split()


def test_consumers_wait_for_slow_producers_longer_than_the_request_timeout(mini_cluster,
                                                                            tmp_path):
    """Eager scheduling deploys consumers with their producers: they attach at once and
    wait for the files however long the producers run."""
    env = new_env(2)
    env.configure({"execution.batch-shuffle-mode": "ALL_EXCHANGES_BLOCKING",
                   "taskmanager.tmp.dirs": str(tmp_path),
                   "taskmanager.network.request-timeout": "1000"})
    sink = CollectSink()
    lines = [" ".join(WORDS[i:i + 3]) for i in range(0, len(WORDS), 3)]  # ~2 s per subtask
    (env.from_collection(lines).flat_map(slow_split).key_by(lambda w: w).process(Count())
        .add_sink(sink))
    result = env.execute("slow producers")
    final: dict[str, int] = {}
    for word, n in sink.records(result):
        final[word] = max(final.get(word, 0), n)
    assert final == dict(Counter(WORDS))
