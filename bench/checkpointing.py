"""Benchmark: the cost of checkpoints.

1. Wordcount throughput (examples/wordcount.py, P=2 on 2 TaskManagers) with a checkpoint
   every second against the same job without checkpoints, in the same run. Target: at
   least 0.9x.
2. Checkpoint duration for ~100 MB of keyed state in each state backend (hashmap and,
   when rocksdict is installed, rocksdb): a keyed job fills the state, then a savepoint
   is taken and its measured figures (end-to-end, sync and async parts, size) are read
   from the checkpoint statistics.

    python bench/checkpointing.py           # full size
    python bench/checkpointing.py --quick   # small sizes (CI)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from _common import load_wordcount_example, wait_finished

from headwater.api import KeyedProcessFunction, SourceFunction, StreamExecutionEnvironment
from headwater.api.state import ValueStateDescriptor
from headwater.cluster.minicluster import MiniCluster
from headwater.config import Configuration


def wordcount_rate(cluster: MiniCluster, wc, lines: int, interval_ms: int | None) -> float:
    env = StreamExecutionEnvironment.get_execution_environment()
    wc.build(env, lines, 2)
    job_graph = env.get_job_graph("wordcount")
    if interval_ms:
        job_graph.configuration["execution.checkpointing.interval"] = interval_ms
    job_id = cluster.submit(job_graph)
    graph = wait_finished(cluster, job_id)
    if interval_ms:
        stats = cluster.runner.dispatcher.job_master(job_id).checkpoint_stats
        print(f"    ({stats.completed} checkpoints completed during the run)")
    return lines * 10 * 2 / (graph.duration() / 1000)


class Keys(SourceFunction):
    """Emits ``count`` keys once, then idles until cancelled (the job keeps its state)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.running = True

    def run(self, ctx) -> None:
        for i in range(self.count):
            ctx.collect(i)
        while self.running:
            time.sleep(0.05)

    def cancel(self) -> None:
        self.running = False


class Remember(KeyedProcessFunction):
    """Keeps ~100 bytes of value state per key."""

    def open(self, runtime_context) -> None:
        self.state = runtime_context.get_state(ValueStateDescriptor("payload"))
        self.seen = 0

    def process_element(self, value, ctx):
        self.state.update(b"x" * 96 + value.to_bytes(4, "little"))
        self.seen += 1
        return ()


def state_checkpoint(cluster: MiniCluster, keys: int, backend: str, target: str) -> dict:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.add_source(Keys(keys), "keys").key_by(lambda k: k).process(Remember()) \
        .add_sink(lambda x: None)
    job_graph = env.get_job_graph(f"state-{backend}")
    job_graph.configuration["state.backend"] = backend
    job_id = cluster.submit(job_graph)
    jm = cluster.runner.dispatcher.job_master(job_id)
    # Wait until every key went through the keyed operator.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        ex = [e for v, _, e in jm.graph.all_executions() if not v.job_vertex.is_source]
        if sum(e.io.read_records for e in ex) >= keys:
            break
        time.sleep(0.2)
    time.sleep(1.5)  # let the last heartbeat's figures settle
    future = asyncio.run_coroutine_threadsafe(jm.trigger_savepoint(target, True), cluster.loop)
    future.result(600)
    stats = jm.checkpoint_stats.latest_savepoint
    subtasks = [s for v in stats.subtasks.values() for s in v.values()]
    cluster.wait(job_id, timeout=60)
    return {
        "size": stats.state_size,
        "end_to_end": stats.end_to_end_duration,
        "sync": max(s.sync_duration for s in subtasks),
        "async": max(s.async_duration for s in subtasks),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="best of N alternating runs of each wordcount variant")
    args = parser.parse_args()
    lines = 100_000 if args.quick else 300_000
    keys = 20_000 if args.quick else 1_000_000
    wc = load_wordcount_example()
    with MiniCluster(Configuration({"rest.port": 0}), taskmanagers=2) as cluster:
        plain = checkpointed = 0.0
        # The short run lasts about a second: checkpoint more often so that some happen.
        interval = 200 if args.quick else 1000
        for _ in range(args.repeat):  # alternating, so drift affects both alike
            plain = max(plain, wordcount_rate(cluster, wc, lines, None))
            checkpointed = max(checkpointed, wordcount_rate(cluster, wc, lines, interval))
        print(f"wordcount P=2 without checkpoints  : {plain:12,.0f} words/s")
        print(f"wordcount P=2 checkpoint / {interval:4d} ms: {checkpointed:12,.0f} words/s   "
              f"ratio {checkpointed / plain:4.2f}x (target 0.9x)")
        target = tempfile.mkdtemp(prefix="headwater-bench-savepoints-")
        backends = ["hashmap"]
        try:
            import rocksdict  # noqa: F401

            backends.append("rocksdb")
        except ImportError:
            print("rocksdb: rocksdict is not installed (pip install 'headwater[rocksdb]')")
        for backend in backends:
            r = state_checkpoint(cluster, keys, backend, target)
            print(f"{backend:8} state {r['size'] / 1e6:7.1f} MB: checkpoint end-to-end "
                  f"{r['end_to_end']:6d} ms (sync {r['sync']} ms, async {r['async']} ms)")


if __name__ == "__main__":
    main()
