"""PyFlink-style file programs through ``headwater.pyflink`` imports: FileSource builder
methods (static file set, continuous monitoring with a checkpointed seen-file set) and
FileSink with rolling policies and output file names."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from headwater.pyflink.common import Duration, Encoder, Types, WatermarkStrategy
from headwater.pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment
from headwater.pyflink.datastream.connectors.file_system import (
    FileSink,
    FileSource,
    OutputFileConfig,
    RollingPolicy,
    StreamFormat,
)
from headwater.testing import OneInputStreamOperatorTestHarness, wait_for


def committed(directory: Path, prefix: str = "part") -> dict[str, list[str]]:
    return {p.name: p.read_text().splitlines() for p in sorted(directory.iterdir())
            if p.name.startswith(prefix)}


def test_static_file_set_to_file_sink_with_rolling_policy(mini_cluster, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "one.txt").write_text("to be or\nnot to be\n")
    (src / "two.txt").write_text("that is\n")
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    source = (FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(src))
              .process_static_file_set().build())
    lines = env.from_source(source, WatermarkStrategy.no_watermarks(), "lines")
    sink = (FileSink.for_row_format(str(out), Encoder.simple_string_encoder())
            .with_output_file_config(OutputFileConfig.builder().with_part_prefix("words")
                                     .with_part_suffix(".txt").build())
            .with_rolling_policy(RollingPolicy.default_rolling_policy(
                part_size=12, rollover_interval=60_000, inactivity_interval=60_000))
            .build())
    (lines.flat_map(lambda line: line.split(), output_type=Types.STRING())
        .map(lambda w: w.upper(), output_type=Types.STRING())
        .sink_to(sink))
    env.execute("files")
    # parts roll once they reach 12 bytes; the rest is committed at the end of input
    assert committed(out, "words") == {"words-0-0.txt": ["TO", "BE", "OR", "NOT"],
                                       "words-0-1.txt": ["TO", "BE", "THAT", "IS"]}


def test_monitor_continuously_reads_new_files_once(mini_cluster, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "first.txt").write_text("a\nb\n")
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(100, CheckpointingMode.EXACTLY_ONCE)
    source = (FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(src))
              .monitor_continuously(Duration.of_millis(50)).build())
    assert not source.is_bounded()
    (env.from_source(source, WatermarkStrategy.for_monotonous_timestamps(), "watched")
        .map(lambda line: f"seen {line}")
        .sink_to(FileSink.for_row_format(str(out), Encoder.simple_string_encoder())
                 .with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy()).build()))
    client = env.execute_async("monitor")

    def lines() -> list[str]:
        return sorted(x for part in committed(out).values() for x in part) \
            if out.exists() else []

    try:
        wait_for(lambda: lines() == ["seen a", "seen b"], timeout=60,
                 message="the first file is read")
        (src / ".second.txt.tmp").write_text("c\n")           # hidden while written
        os.replace(src / ".second.txt.tmp", src / "second.txt")
        (src / "sub").mkdir()
        (src / "sub" / "third.txt").write_text("d\ne\n")
        wait_for(lambda: lines() == ["seen a", "seen b", "seen c", "seen d", "seen e"],
                 timeout=60, message="new files are read once")
        assert client.get_job_status() == "RUNNING"
    finally:
        client.cancel()


def test_seen_file_set_is_checkpointed_and_restored(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (src / name).write_text(f"{name}\n")
    template = FileSource.for_path(str(src)).monitor_continuously(1000).create_operator()
    ops = [OneInputStreamOperatorTestHarness(template, subtask_index=i, parallelism=2)
           .operator for i in range(2)]
    splits = [sorted(p for p, _ in op._positions()) for op in ops]
    assert sorted(splits[0] + splits[1]) == [str(src / n) for n in ("a.txt", "b.txt", "c.txt")]
    snapshots = [op.snapshot_state(1) for op in ops]
    assert sorted(snapshots[0]["file-source-seen"][1] + snapshots[1]["file-source-seen"][1]) \
        == sorted(splits[0] + splits[1])
    # restored at parallelism 1: the union of seen files; a new file is the only new split
    seen = ("union", snapshots[0]["file-source-seen"][1] + snapshots[1]["file-source-seen"][1])
    restored = OneInputStreamOperatorTestHarness(
        template, operator_state={"file-source-splits": ("split", []),
                                  "file-source-seen": seen}).operator
    assert restored._positions() == []
    (src / "d.txt").write_text("d\n")
    restored._discover(threading.RLock())
    assert restored._positions() == [[str(src / "d.txt"), 0]]
    restored._discover(threading.RLock())
    assert restored._positions() == [[str(src / "d.txt"), 0]]


def test_rolling_policy_intervals(tmp_path, monkeypatch):
    import headwater.connectors.file as file_connector

    now = [1000.0]
    monkeypatch.setattr(file_connector.time, "monotonic", lambda: now[0])
    sink = FileSink.for_row_format(str(tmp_path), str).with_rolling_policy(
        RollingPolicy.default_rolling_policy(part_size=1 << 20, rollover_interval=5000,
                                             inactivity_interval=2000))
    op = OneInputStreamOperatorTestHarness(sink.create_operator()).operator
    op.process_batch(["a"], None)
    now[0] += 1.0
    op.process_batch(["b"], None)              # same part: 1 s old, active
    now[0] += 2.5
    op.process_batch(["c"], None)              # 2.5 s inactive: a new part
    for _ in range(5):
        now[0] += 1.5
        op.process_batch(["d"], None)          # active, but the part gets older than 5 s
    op.end_input()
    assert committed(tmp_path) == {"part-0-0": ["a", "b"], "part-0-1": ["c", "d", "d", "d"],
                                   "part-0-2": ["d", "d"]}
    assert repr(RollingPolicy.on_checkpoint_rolling_policy()) == "OnCheckpointRollingPolicy()"
