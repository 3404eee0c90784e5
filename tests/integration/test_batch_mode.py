"""BATCH execution mode on real clusters: blocking exchanges written to files, scheduling
by pipelined region on fewer slots than the parallelism, one final result per key,
spilling past the managed memory, and region failover after kill -9 of a TaskManager."""

from __future__ import annotations

import collections
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.client.rest_client import RestError
from headwater.testing import wait_for
from tests.integration.conftest import start_cluster, stop_cluster
from tests.integration.helpers import job_id_of, kill_a_taskmanager

JOB = '''
import sys, time
from headwater.api import (RestartStrategies, RuntimeExecutionMode, StreamExecutionEnvironment,
                           Time, TumblingEventTimeWindows, WatermarkStrategy)
from headwater.connectors.file import FileSink, FileSource

mode, source_dir, out_dir, parallelism, kind = sys.argv[1:6]
delay = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
source_parallelism = int(sys.argv[7]) if len(sys.argv) > 7 else int(parallelism)

env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(int(parallelism))
env.set_runtime_mode(RuntimeExecutionMode[mode])
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(5, 200))
lines = env.from_source(FileSource.for_path(source_dir), None, "lines") \
    .set_parallelism(source_parallelism)


def slow(line):
    time.sleep(delay)
    return line


if kind == "windows":
    events = lines.map(lambda line: (line.split()[0], int(line.split()[1])))
    events = events.assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(
            lambda e, ts: e[1]))
    out = (events.map(lambda e: (e[0], 1)).key_by(lambda e: e[0])
           .window(TumblingEventTimeWindows.of(Time.seconds(10)))
           .reduce(lambda a, b: (a[0], a[1] + b[1]),
                   window_function=None)
           .map(lambda e: f"{e[0]} {e[1]}"))
else:
    words = lines.flat_map(lambda line: [(w, 1) for w in line.split()]) \
        .set_parallelism(source_parallelism)
    out = words.key_by(lambda p: p[0]).sum(1).map(lambda p: f"{p[0]} {p[1]}").map(slow)
out.sink_to(FileSink.for_row_format(out_dir).build())
env.execute(f"{kind} {mode}")
'''


def write_words(directory: Path, files: int, lines: int, vocabulary: int,
                seed: int = 7) -> collections.Counter:
    """Text files of random words; their word counts."""
    rng = random.Random(seed)
    counts: collections.Counter = collections.Counter()
    directory.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        with open(directory / f"part-{f}.txt", "w") as out:
            for _ in range(lines):
                words = [f"w{rng.randrange(vocabulary)}" for _ in range(8)]
                counts.update(words)
                out.write(" ".join(words) + "\n")
    return counts


def committed_lines(out_dir: Path) -> list[str]:
    """The lines of the sink's committed (visible) part files."""
    lines: list[str] = []
    for path in sorted(out_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            lines.extend(path.read_text().splitlines())
    return lines


def run(cluster, script: Path, *args: str) -> str:
    """Submit the job and wait for its end; its id."""
    return job_id_of(cluster.run(str(script), *args, timeout=300).stdout)


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("batch-job") / "job.py"
    path.write_text(JOB)
    return path


@pytest.fixture(scope="module")
def two_slots(tmp_path_factory):
    """Two TaskManagers with one slot each, their partitions and spills in a known place."""
    tmp = tmp_path_factory.mktemp("batch-cluster")
    c = start_cluster(tmp, taskmanagers=2, slots=1,
                      extra=("-D", f"taskmanager.tmp.dirs={tmp / 'tm-tmp'}",
                             "-D", "heartbeat.timeout=3000"))
    c.tmp_dirs = tmp / "tm-tmp"
    yield c
    stop_cluster(c)


def vertex_attempts(cluster, job_id: str) -> dict[str, list[int]]:
    """Each vertex's subtasks' current attempt numbers."""
    result = {}
    for v in cluster.client.job(job_id)["vertices"]:
        detail = cluster.client.request("GET", f"/jobs/{job_id}/vertices/{v['id']}")
        result[v["name"]] = [s["attempt"] for s in detail["subtasks"]]
    return result


def test_batch_wordcount_on_fewer_slots_than_its_parallelism(two_slots, script, tmp_path):
    counts = write_words(tmp_path / "in", files=4, lines=500, vocabulary=300)
    batch_out, streaming_out = tmp_path / "batch", tmp_path / "streaming"
    job = run(two_slots, script, "BATCH", str(tmp_path / "in"), str(batch_out), "4", "sum")
    detail = two_slots.client.job(job)
    assert detail["state"] == "FINISHED"
    assert all(v["parallelism"] == 4 for v in detail["vertices"])
    # One row per word, with its final count.
    rows = [line.split() for line in committed_lines(batch_out)]
    assert len(rows) == len(counts)
    assert {w: int(n) for w, n in rows} == dict(counts)
    # The same program in STREAMING (it needs its parallelism in slots: 2) emits a running
    # count per word; its final counts agree.
    run(two_slots, script, "STREAMING", str(tmp_path / "in"), str(streaming_out), "2", "sum")
    final: dict[str, int] = {}
    streamed = committed_lines(streaming_out)
    assert len(streamed) == sum(counts.values())
    for w, n in (line.split() for line in streamed):
        final[w] = max(final.get(w, 0), int(n))
    assert final == dict(counts)
    # Each producer folded its words before the exchange (a combiner): it sent at most one
    # partial count per word, not one record per word.
    producer = detail["vertices"][0]
    assert producer["name"].endswith("Combine (Keyed Aggregation)")
    assert producer["metrics"]["write-records"] <= 4 * len(counts)
    assert detail["vertices"][1]["metrics"]["read-records"] == \
        producer["metrics"]["write-records"]
    # The plan shows the blocking exchange, and the partition files are gone.
    plan = two_slots.client.request("GET", f"/jobs/{job}/plan")["plan"]
    exchanges = [i["exchange"] for n in plan["nodes"] for i in n.get("inputs", [])]
    assert "blocking" in exchanges
    assert not [p for p in two_slots.tmp_dirs.rglob("*") if p.is_file()]


def test_batch_job_has_no_checkpoints(two_slots, script, tmp_path):
    write_words(tmp_path / "in", files=1, lines=20, vocabulary=10)
    job = run(two_slots, script, "BATCH", str(tmp_path / "in"), str(tmp_path / "out"), "2",
              "sum")
    # As for Flink's batch jobs: there is no checkpoint coordinator to report on.
    with pytest.raises(RestError, match="Checkpointing is not enabled for this job") as error:
        two_slots.client.request("GET", f"/jobs/{job}/checkpoints/config")
    assert error.value.status == 404
    with pytest.raises(RestError, match="Checkpointing has not been enabled") as error:
        two_slots.client.request("GET", f"/jobs/{job}/checkpoints")
    assert error.value.status == 404


def test_event_time_windows_fire_once_per_key_at_the_end(two_slots, script, tmp_path):
    rng = random.Random(3)
    expected: collections.Counter = collections.Counter()
    source = tmp_path / "in"
    source.mkdir()
    for f in range(2):
        with open(source / f"events-{f}.txt", "w") as out:
            t = 0
            for _ in range(3000):
                t += rng.randrange(0, 40)
                user = f"u{rng.randrange(20)}"
                expected[(user, t // 10_000)] += 1
                out.write(f"{user} {t}\n")
    job = run(two_slots, script, "BATCH", str(source), str(tmp_path / "out"), "2", "windows")
    assert two_slots.client.job(job)["state"] == "FINISHED"
    rows = collections.Counter(committed_lines(tmp_path / "out"))
    # One row per user and window; the sum of a user's windows is its number of events.
    per_user_expected: collections.Counter = collections.Counter()
    for (user, _), n in expected.items():
        per_user_expected[user] += n
    assert sum(rows.values()) == len(expected)
    assert sorted(int(r.split()[1]) for r in rows.elements()) == sorted(expected.values())
    per_user: collections.Counter = collections.Counter()
    for r in rows.elements():
        user, n = r.split()
        per_user[user] += int(n)
    assert per_user == per_user_expected


@pytest.fixture
def small_memory(tmp_path):
    """A cluster whose keyed operators may hold 1 MiB."""
    c = start_cluster(tmp_path, taskmanagers=1, slots=2,
                      extra=("-D", f"taskmanager.tmp.dirs={tmp_path / 'tm-tmp'}",
                             "-D", "taskmanager.memory.managed.size=2m"))
    c.tmp_dirs = tmp_path / "tm-tmp"
    yield c
    stop_cluster(c)


def test_keyed_aggregation_spills_past_managed_memory(small_memory, script, tmp_path):
    # 60,000 distinct words: far more than 1 MiB of running values per subtask.
    counts = write_words(tmp_path / "in", files=2, lines=10_000, vocabulary=60_000)
    job = run(small_memory, script, "BATCH", str(tmp_path / "in"), str(tmp_path / "out"),
              "2", "sum")
    assert small_memory.client.job(job)["state"] == "FINISHED"
    rows = [line.split() for line in committed_lines(tmp_path / "out")]
    assert len(rows) == len(counts)
    assert {w: int(n) for w, n in rows} == dict(counts)
    # The budget is what the TaskManagers report as their managed memory.
    assert {tm["hardware"]["managedMemory"]
            for tm in small_memory.client.taskmanagers()["taskmanagers"]} == {2 * 2**20}
    logs = "".join(p.read_text(errors="replace")
                   for p in small_memory.workdir.rglob("*taskmanager*.log"))
    assert "spilling keyed input to" in logs
    assert not [p for p in small_memory.tmp_dirs.rglob("*") if p.is_file()]


def start_slow_job(cluster, script: Path, tmp_path: Path):
    """Submit the slow keyed sum (source at parallelism 1, the rest at 2) over 300 lines
    and wait until its downstream region runs: (process, job id, source and keyed vertex
    details, the word counts)."""
    counts = write_words(tmp_path / "in", files=1, lines=300, vocabulary=120)
    proc = subprocess.Popen([sys.executable, "-m", "headwater.cli", "run", "-m",
                             f"127.0.0.1:{cluster.port}", str(script), "BATCH",
                             str(tmp_path / "in"), str(tmp_path / "out"), "2", "sum", "0.05",
                             "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job = wait_for(lambda: (jobs := cluster.client.request("GET", "/jobs")["jobs"]) and
                   jobs[0]["id"], 60, 0.1, "the job to appear")
    wait_for(lambda: cluster.client.job(job)["vertices"][1]["status"] == "RUNNING", 120, 0.1,
             "the downstream region to run")
    source, keyed = (cluster.client.request("GET", f"/jobs/{job}/vertices/{v['id']}")
                     for v in cluster.client.job(job)["vertices"])
    return proc, job, source, keyed, counts


def finished_exactly(cluster, proc, job: str, out_dir: Path, counts) -> dict[str, list[int]]:
    """Wait for the program; assert the job FINISHED with exact counts; the attempts."""
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert cluster.client.job(job)["state"] == "FINISHED"
    rows = [line.split() for line in committed_lines(out_dir)]
    assert {w: int(n) for w, n in rows} == dict(counts) and len(rows) == len(counts)
    return vertex_attempts(cluster, job)


@pytest.fixture
def three_taskmanagers(tmp_path):
    c = start_cluster(tmp_path, taskmanagers=3, slots=1,
                      extra=("-D", "heartbeat.timeout=3000",
                             "-D", f"taskmanager.tmp.dirs={tmp_path / 'tm-tmp'}"))
    yield c
    stop_cluster(c)


def test_kill_of_a_downstream_taskmanager_restarts_only_its_region(three_taskmanagers, script,
                                                                   tmp_path):
    cluster = three_taskmanagers
    proc, job, source, keyed, counts = start_slow_job(cluster, script, tmp_path)
    source_tms = {s["taskmanager-id"] for s in source["subtasks"]}
    victim = next(i for i, s in enumerate(keyed["subtasks"])
                  if s["taskmanager-id"] not in source_tms)
    kill_a_taskmanager(cluster, job, vertex=1, subtask=victim)
    after = finished_exactly(cluster, proc, job, tmp_path / "out", counts)
    # Only the killed subtask's region ran again: the source and the other subtask keep
    # their first attempt.
    assert after[source["name"]] == [0]
    assert after[keyed["name"]][victim] >= 1
    assert after[keyed["name"]][1 - victim] == 0
    assert cluster.client.request("GET", f"/jobs/{job}/exceptions")["all-exceptions"]


CACHE_JOB = '''
import sys
from headwater.api import RuntimeExecutionMode, StreamExecutionEnvironment
from headwater.connectors.file import FileSink, FileSource

source_dir, out_dir = sys.argv[1:3]
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.set_runtime_mode(RuntimeExecutionMode.BATCH)
counts = (env.from_source(FileSource.for_path(source_dir), None, "lines")
          .flat_map(lambda line: [(w, 1) for w in line.split()])
          .key_by(lambda p: p[0]).sum(1)
          .cache())
print("DATASET", counts.dataset_id, flush=True)


def write(stream, name):
    stream.map(lambda p: f"{p[0]} {p[1]}").sink_to(
        FileSink.for_row_format(f"{out_dir}/{name}").build())
    env.execute(name)


write(counts, "first")                           # computes and caches the counts
write(counts.filter(lambda p: p[1] > 5), "second")  # reads the cache
counts.invalidate()
write(counts, "third")                           # computes (and caches) them again
'''


def test_cache_keeps_a_data_set_for_later_jobs_until_released(two_slots, tmp_path):
    cluster = two_slots
    counts = write_words(tmp_path / "in", files=2, lines=300, vocabulary=200)
    script = tmp_path / "cache_job.py"
    script.write_text(CACHE_JOB)
    out = cluster.run(str(script), str(tmp_path / "in"), str(tmp_path / "out"),
                      timeout=300).stdout
    dataset_id = re.search(r"DATASET ([0-9a-f]{32})", out).group(1)
    jobs = {j["name"]: j["jid"] for j in cluster.client.jobs_overview()["jobs"]}
    first, second, third = jobs["first"], jobs["second"], jobs["third"]
    for name in ("first", "third"):
        rows = [line.split() for line in committed_lines(tmp_path / "out" / name)]
        assert {w: int(n) for w, n in rows} == dict(counts) and len(rows) == len(counts)
    rows = [line.split() for line in committed_lines(tmp_path / "out" / "second")]
    assert {w: int(n) for w, n in rows} == {w: n for w, n in counts.items() if n > 5}

    def vertices(job_id):
        return cluster.client.job(job_id)["vertices"]
    # The first job read the text; the second did not run the source or the sum again:
    # its first vertex reads the cached data set, one record per word.
    assert vertices(first)[0]["name"].startswith("Source: lines")
    assert 0 < vertices(first)[0]["metrics"]["write-records"] <= 2 * len(counts)  # combined
    reader = vertices(second)[0]
    assert reader["name"].startswith("Source: Cached")
    assert not any("lines" in v["name"] for v in vertices(second))
    assert reader["metrics"]["read-records"] == len(counts)
    # After invalidate() the third job computed it again.
    assert vertices(third)[0]["name"].startswith("Source: lines")
    # The third job's data set is kept until it is deleted.
    listing = cluster.client.datasets()["dataSets"]
    assert listing == [{"id": dataset_id, "isComplete": True}]

    def cache_files():
        return [p for p in cluster.tmp_dirs.rglob("*")
                if p.is_file() and p.parent.name.endswith("-cache")]
    assert cache_files()
    trigger = cluster.client.trigger_dataset_deletion(dataset_id)
    cluster.client.wait_for_operation(f"/datasets/delete/{trigger}", timeout=30)
    assert cluster.client.datasets()["dataSets"] == []
    wait_for(lambda: not cache_files(), 10, 0.1, "the data set's files to be deleted")
    with pytest.raises(RestError) as error:
        cluster.client.trigger_dataset_deletion(dataset_id)
    assert error.value.status == 404


@pytest.fixture
def two_taskmanagers(tmp_path):
    c = start_cluster(tmp_path, taskmanagers=2, slots=1,
                      extra=("-D", "heartbeat.timeout=3000",
                             "-D", f"taskmanager.tmp.dirs={tmp_path / 'tm-tmp'}"))
    yield c
    stop_cluster(c)


def test_losing_the_taskmanager_of_finished_producers_runs_them_again(two_taskmanagers,
                                                                      script, tmp_path):
    cluster = two_taskmanagers
    proc, job, source, keyed, counts = start_slow_job(cluster, script, tmp_path)
    # Two TaskManagers, one slot each: one keyed subtask runs where the source ran, and
    # the source's partition lives there.
    source_tm = source["subtasks"][0]["taskmanager-id"]
    victim = next(i for i, s in enumerate(keyed["subtasks"])
                  if s["taskmanager-id"] == source_tm)
    kill_a_taskmanager(cluster, job, vertex=1, subtask=victim)
    after = finished_exactly(cluster, proc, job, tmp_path / "out", counts)
    # The killed subtask ran again, and so did the source, whose output it needs.
    assert after[keyed["name"]][victim] >= 1
    assert after[source["name"]][0] >= 1


def test_columnar_running_aggregation_emits_one_row_per_key_in_batch(mini_cluster):
    """A columnar keyed sum that emits running rows in STREAMING emits each key's final
    row once in BATCH."""
    pa = pytest.importorskip("pyarrow")
    from headwater.api import RuntimeExecutionMode
    from headwater.testing import CollectSink
    from tests.integration.helpers import new_env

    table = pa.table({"k": [f"k{i % 7}" for i in range(7000)], "v": [1] * 7000})
    results = {}
    for mode in (RuntimeExecutionMode.STREAMING, RuntimeExecutionMode.BATCH):
        env = new_env(2)
        env.set_runtime_mode(mode)
        sink = CollectSink()
        (env.from_arrow(table, batch_size=500).key_by("k").sum("v")
            .to_records(as_dicts=True).add_sink(sink))
        results[mode] = sink.records(env.execute(f"columnar {mode.name}"))
    streaming, batch = results[RuntimeExecutionMode.STREAMING], results[RuntimeExecutionMode.BATCH]
    assert len(streaming) > 7  # running rows, one per key and batch
    assert sorted((r["k"], r["v"]) for r in batch) == [(f"k{i}", 1000) for i in range(7)]
