"""Exactly once through crashes, savepoints, rescaling and stop, on real clusters.

The job reads text files (a replayable source whose offsets are checkpointed), slows
down per record so that the test can act while it runs, counts per key in keyed
ValueState and writes "key count" lines through the transactional file sink. A clean
run's committed output is known in advance: for each key k, the lines "k 1" .. "k n".
Whatever happens to the job, its committed output must be exactly that.
"""

from __future__ import annotations

import collections
import re
import signal
from pathlib import Path

import pytest

from headwater.testing import wait_for
from tests.integration.conftest import headwater, start_cluster, stop_cluster
from tests.integration.helpers import (
    checkpoint_stats,
    job_id_of,
    kill_a_taskmanager,
    rescale_through,
    wait_for_checkpoints,
)

JOB = '''
import sys, time
from headwater.api import (EmbeddedRocksDBStateBackend, KeyedProcessFunction,
                           RestartStrategies, StreamExecutionEnvironment, ValueStateDescriptor)
from headwater.connectors.file import FileSink, FileSource

source_dir, out_dir, delay, parallelism = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
extra = "extra" in sys.argv[5:]


class Count(KeyedProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))

    def process_element(self, value, ctx):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        yield f"{value} {n}"


class Seen(KeyedProcessFunction):
    def open(self, runtime_context):
        self.seen = runtime_context.get_state(ValueStateDescriptor("seen"))

    def process_element(self, value, ctx):
        self.seen.update(True)
        yield value


def slow(line):
    time.sleep(delay)  # paces the job so that failures hit it mid-stream
    return line.strip()


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(parallelism)
env.enable_checkpointing(300)
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 200))
if "rocksdb" in sys.argv[5:]:
    env.set_state_backend(EmbeddedRocksDBStateBackend())
words = env.from_source(FileSource.for_path(source_dir), None, "lines").uid("lines") \\
    .map(slow).uid("slow")
if extra:
    words = words.key_by(lambda w: w).process(Seen()).uid("extra")
(words.key_by(lambda w: w)
    .process(Count()).uid("count")
    .sink_to(FileSink.for_row_format(out_dir).build()).uid("sink"))
env.execute("exactly-once")
'''

FILES, LINES, KEYS = 4, 600, 13


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("ft"), taskmanagers=2, slots=1,
                      extra=("-D", "heartbeat.timeout=3000"))
    yield c
    stop_cluster(c)


@pytest.fixture
def job(tmp_path):
    """The job script and its input files."""
    return write_job(tmp_path)


def write_job(tmp_path: Path) -> tuple[Path, Path]:
    """The exactly-once job script and its input files in ``tmp_path``."""
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
    return collections.Counter(f"{k} {n}" for k, total in totals.items()
                               for n in range(1, total + 1))


def committed(out: Path) -> collections.Counter:
    """Lines of the committed part files (hidden in-progress/pending files excluded)."""
    lines = collections.Counter()
    for part in out.glob("part-*"):
        lines.update(part.read_text().splitlines())
    return lines


def submit(cluster, script, source, out, delay="0.004", parallelism="2", *options):
    return job_id_of(cluster.run("-d", *options, str(script), str(source), str(out), delay,
                                 parallelism).stdout)


def test_killed_taskmanager_restarts_from_checkpoint_exactly_once(cluster, job, tmp_path):
    script, source = job
    out = tmp_path / "out"
    job_id = submit(cluster, script, source, out)
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 2)
    victim = [p for p in cluster.processes() if "task_executor" in " ".join(p.cmdline())][0]
    victim.send_signal(signal.SIGKILL)
    job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=120)
    assert job["state"] == "FINISHED"
    assert committed(out) == expected_lines()
    # The restart is visible: a new attempt of every subtask, the loss in exceptions.
    vertex = job["vertices"][0]["id"]
    subtask = cluster.client.request("GET", f"/jobs/{job_id}/vertices/{vertex}/subtasks/0")
    assert subtask["attempt"] >= 1
    prior = cluster.client.request(
        "GET", f"/jobs/{job_id}/vertices/{vertex}/subtasks/0/attempts/0")
    assert prior["attempt"] == 0 and prior["status"] in ("FAILED", "CANCELED")
    exceptions = cluster.client.request("GET", f"/jobs/{job_id}/exceptions")
    assert any("TaskManager" in e["exception"] or "remote task manager" in e["exception"]
               for e in exceptions["all-exceptions"]), exceptions
    checkpoints = cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")
    assert checkpoints["counts"]["restored"] >= 1
    assert checkpoints["latest"]["restored"]["is_savepoint"] is False
    metrics = cluster.client.request("GET", f"/jobs/{job_id}/metrics",
                                     params={"get": "numRestarts"})
    assert int(metrics[0]["value"]) >= 1


FORWARD_JOB = '''
import sys, time
from headwater.api import RestartStrategies, StreamExecutionEnvironment
from headwater.connectors.file import FileSink, FileSource

source_dir, out_dir = sys.argv[1], sys.argv[2]


def slow(line):
    time.sleep(0.004)
    return line.strip().upper()


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.enable_checkpointing(300)
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 200))
(env.from_source(FileSource.for_path(source_dir), None, "lines").uid("lines")
    .map(slow).uid("slow")
    .sink_to(FileSink.for_row_format(out_dir).build()).uid("sink"))
env.execute("independent regions")
'''


def test_killed_taskmanager_restarts_only_its_region_of_a_forward_only_job(cluster, job,
                                                                          tmp_path):
    """source -> map -> sink over FORWARD edges: each subtask is a pipelined region of its
    own, so the kill restarts only the killed subtask, from the latest checkpoint, while
    the other keeps running; the output is still exactly once."""
    _, source = job
    script = tmp_path / "forward_job.py"
    script.write_text(FORWARD_JOB)
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), str(source), str(out)).stdout)
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 2)
    kill_a_taskmanager(cluster, job_id, vertex=0, subtask=0)
    job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=120)
    assert job["state"] == "FINISHED"
    expected = collections.Counter(f"K{(f * LINES + i) % KEYS}"
                                   for f in range(FILES) for i in range(LINES))
    assert committed(out) == expected
    vertex = job["vertices"][0]["id"]
    attempts = [cluster.client.request("GET", f"/jobs/{job_id}/vertices/{vertex}/subtasks/"
                                              f"{i}")["attempt"] for i in range(2)]
    assert attempts[0] >= 1 and attempts[1] == 0, attempts
    # The job itself never restarted: it stayed RUNNING while the region did.
    assert job["timestamps"]["RESTARTING"] == 0
    checkpoints = cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")
    assert checkpoints["counts"]["restored"] >= 1
    metrics = cluster.client.request("GET", f"/jobs/{job_id}/metrics",
                                     params={"get": "numRestarts"})
    assert int(metrics[0]["value"]) >= 1


@pytest.mark.parametrize("backend", ["hashmap", "rocksdb"])
def test_savepoint_cancel_and_resume_continue_exactly(cluster, job, tmp_path, backend):
    script, source = job
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), str(source), str(out), "0.004", "2",
                                   backend).stdout)
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 1)
    savepoints = tmp_path / "savepoints"
    proc = headwater("cancel", "-m", f"127.0.0.1:{cluster.port}", "-s", str(savepoints), job_id)
    match = re.search(r"(file:\S+savepoint-\S+)", proc.stdout)
    assert match, proc.stdout
    location = match.group(1).rstrip(".")
    cluster.wait_for_state(job_id, {"CANCELED"})
    before = committed(out)
    assert sum(before.values()) < sum(expected_lines().values())  # really interrupted
    resumed = job_id_of(cluster.run("-d", "-s", location, str(script), str(source), str(out),
                                    "0.004", "2", backend).stdout)
    job2 = cluster.wait_for_state(resumed, {"FINISHED", "FAILED"}, timeout=120)
    assert job2["state"] == "FINISHED"
    assert committed(out) == expected_lines()
    restored = cluster.client.request("GET", f"/jobs/{resumed}/checkpoints")["latest"]["restored"]
    assert restored["is_savepoint"] is True and restored["external_path"] == location


def test_rescale_two_one_two_keeps_every_key_once(cluster, job, tmp_path):
    script, source = job
    out = tmp_path / "out"
    job_id = submit(cluster, script, source, out, "0.006")
    cluster.wait_until_running(job_id)
    wait_for_checkpoints(cluster, job_id, 1)
    rescale_through(cluster, job_id)
    job_state = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=120)
    assert job_state["state"] == "FINISHED"
    assert committed(out) == expected_lines()


def test_bad_restore_points_fail_clearly_and_lose_nothing(cluster, job, tmp_path):
    script, source = job
    out = tmp_path / "out"
    # A path that does not exist.
    proc = cluster.run(str(script), str(source), str(out), "0", "2", check=False)
    assert proc.returncode == 0  # (sanity: the plain job works)
    good = committed(out)
    assert good == expected_lines()
    missing = cluster.run("-s", str(tmp_path / "nope"), str(script), str(source),
                          str(tmp_path / "o2"), "0", "2", check=False)
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
    # A corrupt metadata file.
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "_metadata").write_bytes(b"\x00garbage\xff" * 10)
    bad = cluster.run("-s", str(corrupt), str(script), str(source), str(tmp_path / "o3"),
                      "0", "2", check=False)
    assert bad.returncode == 1 and "corrupt" in bad.stderr
    # A savepoint with state for an operator the new program lacks.
    extra_out = tmp_path / "o4"
    job_id = submit(cluster, script, source, extra_out, "0.002", "2")
    del job_id
    extra_id = job_id_of(cluster.run("-d", str(script), str(source), str(tmp_path / "o5"),
                                     "0.002", "2", "extra").stdout)
    cluster.wait_until_running(extra_id)
    wait_for_checkpoints(cluster, extra_id, 1)
    location = cluster.client.savepoint(extra_id, str(tmp_path / "sp"), cancel_job=True,
                                        timeout=60)
    location = location["location"] if isinstance(location, dict) else location
    mismatch = cluster.run("-s", location, str(script), str(source), str(tmp_path / "o6"),
                           "0", "2", check=False)
    assert mismatch.returncode == 1
    assert "Cannot map checkpoint/savepoint state" in mismatch.stderr
    allowed = cluster.run("-s", location, "-n", str(script), str(source),
                          str(tmp_path / "o7"), "0", "2", check=False)
    assert allowed.returncode == 0, allowed.stderr
    # Nothing committed earlier was touched.
    assert committed(out) == good


TIMER_JOB = '''
import sys, time
from headwater.api import (KeyedProcessFunction, SourceFunction, StreamExecutionEnvironment,
                           ValueStateDescriptor, WatermarkStrategy)
from headwater.connectors.file import FileSink

out_dir = sys.argv[1]


class Ticks(SourceFunction):
    """(key, event time) pairs forever; event time advances 1 ms per record."""

    def __init__(self):
        self.running = True

    def run(self, ctx):
        i = 0
        while self.running:
            ctx.collect((f"k{i % 3}", i))
            i += 1
            time.sleep(0.002)  # paces the endless source

    def cancel(self):
        self.running = False


class FarFutureTimer(KeyedProcessFunction):
    """Registers one event-time timer per key, far in the future."""

    def open(self, runtime_context):
        self.armed = runtime_context.get_state(ValueStateDescriptor("armed"))

    def process_element(self, value, ctx):
        if not self.armed.value():
            self.armed.update(True)
            ctx.timer_service().register_event_time_timer(10**12)
        return ()

    def on_timer(self, timestamp, ctx):
        yield f"timer {ctx.get_current_key()} {timestamp}"


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.enable_checkpointing(500)
(env.add_source(Ticks(), "ticks")
    .assign_timestamps_and_watermarks(WatermarkStrategy.for_monotonous_timestamps()
                                      .with_timestamp_assigner(lambda v, ts: v[1]))
    .key_by(lambda v: v[0])
    .process(FarFutureTimer()).uid("timers")
    .sink_to(FileSink.for_row_format(out_dir).build()))
env.execute("timers")
'''


@pytest.mark.parametrize("drain", [True, False])
def test_stop_with_savepoint(cluster, tmp_path, drain):
    script = tmp_path / "timers.py"
    script.write_text(TIMER_JOB)
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), str(out)).stdout)
    cluster.wait_until_running(job_id)
    # Checkpoints start 0.5 s after the sources: by the first one every key has a timer.
    wait_for_checkpoints(cluster, job_id, 1)
    args = ["stop", "-m", f"127.0.0.1:{cluster.port}", "--savepoint-path",
            str(tmp_path / "sp"), job_id]
    proc = headwater(*(args[:1] + (["--drain"] if drain else []) + args[1:]))
    location = re.search(r"file:(\S+savepoint-[0-9a-f-]+)", proc.stdout).group(1)
    assert (Path(location) / "_metadata").is_file()
    job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED", "CANCELED"}, timeout=60)
    assert job["state"] == "FINISHED"
    fired = committed(out)
    if drain:
        # The MAX watermark came before the savepoint: every key's timer fired.
        assert fired == collections.Counter(f"timer k{i} {10**12}" for i in range(3))
    else:
        assert fired == collections.Counter()
    history = cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")["history"]
    assert history[0]["checkpoint_type"] == "SYNC_SAVEPOINT"
    assert history[0]["external_path"] == f"file:{location}"


UNWRITABLE_JOB = '''
import sys, time
from headwater.api import SourceFunction, StreamExecutionEnvironment

class Forever(SourceFunction):
    def __init__(self):
        self.running = True
    def run(self, ctx):
        while self.running:
            ctx.collect(1)
            time.sleep(0.01)  # paces the endless source
    def cancel(self):
        self.running = False

env = StreamExecutionEnvironment.get_execution_environment()
env.enable_checkpointing(1000)  # the test blocks the directory before the first one
env.get_checkpoint_config().set_checkpoint_storage_dir(sys.argv[1])
env.get_checkpoint_config().set_tolerable_checkpoint_failure_number(1000)
env.add_source(Forever(), "forever").key_by(lambda x: x).reduce(lambda a, b: a + b) \\
    .add_sink(lambda x: None)
env.execute("unwritable")
'''


def test_unwritable_checkpoint_directory_records_failed_checkpoints(cluster, tmp_path):
    script = tmp_path / "unwritable.py"
    script.write_text(UNWRITABLE_JOB)
    # Unwritable at submission: the job is refused.
    refused_blocker = tmp_path / "a-file"
    refused_blocker.write_text("a file where the checkpoint directory should be")
    refused = cluster.run("-d", str(script), str(refused_blocker / "checkpoints"), check=False)
    assert refused.returncode == 1
    assert "state.checkpoints.dir" in refused.stderr and "not writable" in refused.stderr
    # Unwritable after submission: checkpoints fail, the job goes on.
    base = tmp_path / "checkpoints"
    job_id = job_id_of(cluster.run("-d", str(script), str(base)).stdout)
    blocker = base / job_id
    blocker.write_text("a file where the checkpoint directory should be")
    cluster.wait_until_running(job_id)
    stats = wait_for(lambda: (s := checkpoint_stats(cluster, job_id))["counts"]["failed"] >= 2
                     and s, 30, 0.1, "two failed checkpoints")
    assert stats["counts"]["failed"] >= 2 and stats["counts"]["completed"] == 0
    assert "could not write checkpoint state" in stats["latest"]["failed"]["failure_message"]
    assert cluster.client.job(job_id)["state"] == "RUNNING"  # tolerated: the job goes on
    assert blocker.read_text().startswith("a file")  # nothing overwritten
    cluster.client.cancel_job(job_id)
    cluster.wait_for_state(job_id, {"CANCELED"})
