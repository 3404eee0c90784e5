"""Broadcast state through a TaskManager crash and a savepoint restored at another
parallelism, on real clusters.

The job (PyFlink style) counts words of text files per key and multiplies each count by
the factor of its key's rule. The rules come from a broadcast stream: a source that emits
them once (its progress is checkpointed) and then waits for a stop file, so the job keeps
running until the test lets it finish. A word whose rule has not arrived waits in keyed
list state; the rule releases it (``apply_to_keyed_state``). After a restore nothing
emits the rules again: only a restored broadcast state lets the remaining words through.
The committed output is exact: for each key k with rule factor f, "k n x<n*f>" for n in
1..count(k).
"""

from __future__ import annotations

import collections
import re
import signal
from pathlib import Path

import pytest

from headwater.testing import wait_for
from tests.integration.conftest import headwater, start_cluster, stop_cluster
from tests.integration.helpers import checkpoint_stats, job_id_of, wait_for_checkpoints

JOB = '''
import os, sys, time
from headwater.api import (CheckpointedFunction, KeyedBroadcastProcessFunction,
                           ListStateDescriptor, MapStateDescriptor, RestartStrategies,
                           SourceFunction, StreamExecutionEnvironment, ValueStateDescriptor)
from headwater.connectors.file import FileSink, FileSource

source_dir, out_dir, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
delay, parallelism, keys = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
RULES = MapStateDescriptor("rules")


class Rules(SourceFunction, CheckpointedFunction):
    """Emits the rule (key, factor) of every key once, then waits for the stop file."""

    def __init__(self):
        self.running = True

    def initialize_state(self, context):
        self.state = context.get_operator_state_store().get_list_state(
            ListStateDescriptor("emitted"))
        self.emitted = sum(self.state.get())

    def snapshot_state(self, context):
        self.state.update([self.emitted])

    def run(self, ctx):
        while self.emitted < keys and self.running:
            with ctx.get_checkpoint_lock():
                ctx.collect((f"k{self.emitted}", self.emitted + 2))
                self.emitted += 1
        while self.running and not os.path.exists(stop_file):
            time.sleep(0.05)

    def cancel(self):
        self.running = False


class ApplyRules(KeyedBroadcastProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))
        self.pending = runtime_context.get_list_state(ListStateDescriptor("pending"))

    def emit(self, word, factor):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        return f"{word} {n} x{n * factor}"

    def process_element(self, word, ctx):
        factor = ctx.get_broadcast_state(RULES).get(word)
        if factor is None:
            self.pending.add(word)
        else:
            yield self.emit(word, factor)

    def process_broadcast_element(self, rule, ctx):
        key, factor = rule
        ctx.get_broadcast_state(RULES).put(key, factor)
        released = []

        def release(word, pending):
            if word == key:
                released.extend(self.emit(w, factor) for w in pending.get())
                pending.clear()

        ctx.apply_to_keyed_state(ListStateDescriptor("pending"), release)
        yield from released


def slow(line):
    time.sleep(delay)  # paces the job so that the test acts while it runs
    return line.strip()


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(parallelism)
env.enable_checkpointing(300)
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 200))
words = env.from_source(FileSource.for_path(source_dir), None, "words").uid("words") \\
    .map(slow).uid("slow")
rules = env.add_source(Rules()).uid("rules").set_parallelism(1)
(words.key_by(lambda w: w)
    .connect(rules.broadcast(RULES))
    .process(ApplyRules()).uid("apply")
    .sink_to(FileSink.for_row_format(out_dir).build()).uid("sink"))
env.execute("broadcast rules")
'''

FILES, LINES, KEYS = 4, 500, 11


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("bc"), taskmanagers=2, slots=1,
                      extra=("-D", "heartbeat.timeout=3000"))
    yield c
    stop_cluster(c)


@pytest.fixture
def job(tmp_path) -> tuple[Path, Path]:
    source = tmp_path / "in"
    source.mkdir()
    for f in range(FILES):
        (source / f"input-{f}.txt").write_text(
            "".join(f"k{(f * LINES + i) % KEYS}\n" for i in range(LINES)))
    script = tmp_path / "job.py"
    script.write_text(JOB)
    return script, source


def expected_lines() -> collections.Counter:
    totals = collections.Counter(f"k{i % KEYS}" for i in range(FILES * LINES))
    return collections.Counter(f"{k} {n} x{n * (int(k[1:]) + 2)}"
                               for k, total in totals.items() for n in range(1, total + 1))


def committed(out: Path) -> collections.Counter:
    lines: collections.Counter = collections.Counter()
    for part in out.glob("part-*"):
        lines.update(part.read_text().splitlines())
    return lines


def submit(cluster, script, source, out, stop, parallelism="2", *options) -> str:
    return job_id_of(cluster.run("-d", *options, str(script), str(source), str(out),
                                 str(stop), "0.004", parallelism, str(KEYS)).stdout)


def test_broadcast_and_keyed_state_survive_a_killed_taskmanager(cluster, job, tmp_path):
    script, source = job
    out, stop = tmp_path / "out", tmp_path / "stop"
    job_id = submit(cluster, script, source, out, stop)
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 2)
    victim = [p for p in cluster.processes() if "task_executor" in " ".join(p.cmdline())][0]
    victim.send_signal(signal.SIGKILL)
    wait_for(lambda: checkpoint_stats(cluster, job_id)["counts"]["restored"] >= 1, 60, 0.1,
             lambda: f"a restore: {checkpoint_stats(cluster, job_id)}")
    stop.touch()
    state = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=120)
    assert state["state"] == "FINISHED"
    assert committed(out) == expected_lines()
    restored = checkpoint_stats(cluster, job_id)["latest"]["restored"]
    assert restored["is_savepoint"] is False


def test_broadcast_state_restores_from_a_savepoint_at_another_parallelism(
        cluster, job, tmp_path):
    script, source = job
    out, stop = tmp_path / "out", tmp_path / "stop"
    job_id = submit(cluster, script, source, out, stop, "2")
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 2)
    proc = headwater("cancel", "-m", f"127.0.0.1:{cluster.port}", "-s",
                     str(tmp_path / "savepoints"), job_id)
    match = re.search(r"(file:\S+savepoint-\S+)", proc.stdout)
    assert match, proc.stdout
    location = match.group(1).rstrip(".")
    cluster.wait_for_state(job_id, {"CANCELED"})
    before = committed(out)
    assert sum(before.values()) < sum(expected_lines().values())  # really interrupted
    stop.touch()  # the restored job may finish
    resumed = submit(cluster, script, source, out, stop, "1", "-s", location)
    state = cluster.wait_for_state(resumed, {"FINISHED", "FAILED"}, timeout=120)
    assert state["state"] == "FINISHED", cluster.client.request(
        "GET", f"/jobs/{resumed}/exceptions")["root-exception"]
    assert committed(out) == expected_lines()
    restored = checkpoint_stats(cluster, resumed)["latest"]["restored"]
    assert restored["is_savepoint"] is True
