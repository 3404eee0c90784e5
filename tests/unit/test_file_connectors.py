"""FileSource (resume at exact byte offsets) and FileSink (the two-phase commit)."""

from __future__ import annotations

import os
import pickle
import threading
from collections import Counter

import pytest

from headwater.api.environment import StreamExecutionEnvironment
from headwater.connectors import file as file_connector
from headwater.connectors.file import FileSink, FileSource, OutputFileConfig, StreamFormat
from headwater.runtime.checkpoint.redistribution import redistribute_operator_state
from headwater.testing import OneInputStreamOperatorTestHarness


def start(template, subtask=0, parallelism=1, state=None):
    return OneInputStreamOperatorTestHarness(template, subtask_index=subtask,
                                             parallelism=parallelism,
                                             operator_state=state).operator


def roundtrip(x):
    return pickle.loads(pickle.dumps(x, protocol=5))


class Crash(Exception):
    pass


class Output:
    """Snapshots the source before batch ``snapshot_at`` and crashes before ``crash_at``."""

    def __init__(self, source, snapshot_at=None, crash_at=None):
        self.lock = threading.RLock()
        self.source = source
        self.values: list = []
        self.batches = 0
        self.snapshot_at, self.crash_at = snapshot_at, crash_at
        self.snapshot = self.at_snapshot = None
        self.cancelled = False

    def collect_batch(self, values, timestamps=None):
        with self.lock:
            self.batches += 1
            if self.batches == self.snapshot_at:
                self.snapshot = roundtrip(self.source.snapshot_state(3))
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


# -- source -------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("".join(f"a{i}\n" for i in range(40)))
    (d / "b.txt").write_bytes("".join(f"b{i}\r\n" for i in range(30)).encode() + b"b-last")
    (d / "sub" / "c.txt").write_text("ü\n\nc2\n")
    (d / ".hidden").write_text("no\n")
    (d / "_SUCCESS").write_text("")
    return d


ALL_LINES = Counter([f"a{i}" for i in range(40)] + [f"b{i}" for i in range(30)]
                    + ["b-last", "ü", "", "c2"])


def test_file_source_reads_every_line(data_dir):
    files = file_connector.list_files([str(data_dir)])
    assert [os.path.relpath(f, data_dir) for f in files] == ["a.txt", "b.txt", "sub/c.txt"]
    src = FileSource.for_path(data_dir).build()
    got: Counter = Counter()
    for i in range(2):
        got.update(run(start(src.create_operator(), i, 2)).values)
    assert got == ALL_LINES


def test_file_source_missing_path(tmp_path):
    op = OneInputStreamOperatorTestHarness(FileSource.for_path(tmp_path / "nope").create_operator(),
                                           open=False).operator
    with pytest.raises(FileNotFoundError):
        op.snapshot_state(1)


@pytest.mark.parametrize("new_parallelism", [1, 2, 4])
def test_file_source_resumes_at_exact_offsets(monkeypatch, data_dir, new_parallelism):
    monkeypatch.setattr(file_connector, "READ_BLOCK", 16)
    template = FileSource.for_record_stream_format(StreamFormat.text_line_format(),
                                                   str(data_dir)).create_operator()
    emitted: Counter = Counter()
    old = []
    for i in range(2):
        op = start(template, i, 2)
        out = run(op, snapshot_at=4 + i, crash_at=7 + i)
        covered = out.values[:out.at_snapshot]
        emitted.update(covered)
        splits = out.snapshot["file-source-splits"]
        assert splits[0] == "split"
        # the offset of the current file is exactly after the lines collected from it
        path, offset = splits[1][0]
        with open(path, "rb") as f:
            head = f.read(offset).decode().replace("\r\n", "\n")
        assert head.endswith("\n")
        lines_before = head[:-1].split("\n")
        assert covered[-len(lines_before):] == lines_before
        old.append(out.snapshot)
    for j in range(new_parallelism):
        state = redistribute_operator_state(old, new_parallelism, j)
        emitted.update(run(start(template, j, new_parallelism, state)).values)
    assert emitted == ALL_LINES


def test_exhausted_file_source_snapshots_nothing(data_dir):
    op = start(FileSource.for_path(data_dir / "a.txt").create_operator())
    assert len(run(op).values) == 40
    assert op.snapshot_state(9) == {"file-source-splits": ("split", [])}


def test_read_text_file_and_from_source(data_dir):
    env = StreamExecutionEnvironment()
    env.read_text_file(str(data_dir / "a.txt")).print()
    env.from_source(FileSource.for_path(data_dir), None, "lines").print()
    names = [v.name for v in env.get_job_graph().vertices]
    assert "Source: Custom File Source -> Sink: Print to Std. Out" in names
    assert "Source: lines -> Sink: Print to Std. Out" in names
    with pytest.raises(TypeError):
        env.from_source(object())


# -- sink ---------------------------------------------------------------------------------


def visible(d):
    return sorted(n for n in os.listdir(d) if not n.startswith("."))


def hidden(d):
    return sorted(n for n in os.listdir(d) if n.startswith("."))


def committed_lines(d):
    out: Counter = Counter()
    for n in visible(d):
        with open(os.path.join(d, n)) as f:
            out.update(f.read().splitlines())
    return out


def test_sink_commit_protocol(tmp_path):
    base = tmp_path / "out"
    op = start(FileSink.for_row_format(str(base), encoder=str).build().create_operator())
    op.process_batch([1, 2], None)
    assert visible(base) == [] and hidden(base) == [".part-0-0.inprogress"]
    state1 = roundtrip(op.snapshot_state(1))
    assert hidden(base) == [".part-0-0.pending"] and visible(base) == []
    assert state1["file-sink-pending"] == ("union", [(0, 0, 1)])
    op.process_batch([3], None)
    op.snapshot_state(2)
    op.snapshot_state(3)  # nothing new: no empty part file
    assert hidden(base) == [".part-0-0.pending", ".part-0-1.pending"]
    op.notify_checkpoint_complete(1)
    assert visible(base) == ["part-0-0"]
    op.notify_checkpoint_complete(3)  # covers checkpoint 2 as well
    assert visible(base) == ["part-0-0", "part-0-1"] and hidden(base) == []
    op.process_batch([4], None)
    op.end_input()  # bounded input: commit everything
    op.close()
    assert visible(base) == ["part-0-0", "part-0-1", "part-0-2"] and hidden(base) == []
    assert (base / "part-0-0").read_text() == "1\n2\n"
    assert committed_lines(base) == Counter(["1", "2", "3", "4"])


def test_sink_crash_after_snapshot_before_notify(tmp_path):
    """Checkpoint 2 completes at the JobManager, the sink crashes before hearing of it,
    and writes after checkpoint 3 started must vanish: restore from checkpoint 2 commits
    exactly the pending files of checkpoint 2 (and older) and deletes the rest."""
    base = tmp_path / "out"
    template = FileSink.for_row_format(str(base)).create_operator()
    op = start(template)
    op.process_batch(["a"], None)
    op.snapshot_state(1)
    op.notify_checkpoint_complete(1)
    op.process_batch(["b"], None)
    state2 = roundtrip(op.snapshot_state(2))  # complete, but the notify is lost
    op.process_batch(["c"], None)
    op.snapshot_state(3)  # never completes
    op.process_batch(["d"], None)  # in progress at the crash
    op.close()
    assert visible(base) == ["part-0-0"]
    assert hidden(base) == [".part-0-1.pending", ".part-0-2.pending", ".part-0-3.inprogress"]

    again = start(template, state=state2)
    assert visible(base) == ["part-0-0", "part-0-1"] and hidden(base) == []
    again.process_batch(["c2"], None)  # replayed records get fresh part numbers
    assert hidden(base) == [".part-0-2.inprogress"]
    again.end_input()
    assert committed_lines(base) == Counter(["a", "b", "c2"])


def test_sink_restore_when_notify_already_committed(tmp_path):
    base = tmp_path / "out"
    template = FileSink.for_row_format(str(base)).create_operator()
    op = start(template)
    op.process_batch(["x"], None)
    state = roundtrip(op.snapshot_state(1))
    op.notify_checkpoint_complete(1)  # committed before the crash
    op.close()
    again = start(template, state=state)  # the pending file is already final: fine
    assert visible(base) == ["part-0-0"] and hidden(base) == []
    again.process_batch(["y"], None)
    again.end_input()
    assert visible(base) == ["part-0-0", "part-0-1"]


def _pipeline(base, records, batch, crash_before=None, last_incomplete=False):
    """Feed ``records`` in batches of ``batch`` into a 2-subtask sink (record r goes to
    subtask r % 2), checkpointing after every 3rd batch; odd checkpoints are notified,
    the notifications of even ones are lost. With ``crash_before``, the sinks crash before
    that batch and restart from the latest completed checkpoint (with
    ``last_incomplete``, the last checkpoint before the crash never completed)."""
    template = FileSink.for_row_format(str(base), encoder=lambda r: f"rec-{r}") \
        .create_operator()
    ops = [start(template, i, 2) for i in range(2)]
    batches = [records[i:i + batch] for i in range(0, len(records), batch)]
    states: dict[int, list] = {}
    positions: dict[int, int] = {}
    completed: list[int] = []
    cid = 0
    b = 0
    while b < len(batches):
        if b == crash_before:
            for op in ops:
                op.close()
            restore = completed[-1] if completed else None
            ops = [start(template, i, 2, None if restore is None else
                         redistribute_operator_state(states[restore], 2, i))
                   for i in range(2)]
            b = 0 if restore is None else positions[restore]
            crash_before = None
            continue
        for i, op in enumerate(ops):
            op.process_batch([r for r in batches[b] if r % 2 == i], None)
        b += 1
        if b % 3 == 0:
            cid += 1
            states[cid] = [roundtrip(op.snapshot_state(cid)) for op in ops]
            positions[cid] = b
            if last_incomplete and crash_before is not None and b + 3 > crash_before:
                continue  # this checkpoint never completes
            completed.append(cid)
            if cid % 2 == 1:
                for op in ops:
                    op.notify_checkpoint_complete(cid)
    for op in ops:
        op.end_input()
        op.close()


@pytest.mark.parametrize("crash_before", [2, 5, 7, 9, 11, 13])
@pytest.mark.parametrize("last_incomplete", [False, True])
def test_sink_recovered_output_equals_clean_output(tmp_path, crash_before, last_incomplete):
    records = list(range(200))
    _pipeline(tmp_path / "clean", records, 7)
    _pipeline(tmp_path / "crash", records, 7, crash_before, last_incomplete)
    assert committed_lines(tmp_path / "crash") == committed_lines(tmp_path / "clean")
    assert committed_lines(tmp_path / "clean") == Counter(f"rec-{r}" for r in records)
    assert hidden(tmp_path / "crash") == []


def test_sink_rescale_commits_every_pending_file_once(tmp_path):
    base = tmp_path / "out"
    template = FileSink.for_row_format(str(base)).create_operator()
    old = []
    for i in range(3):
        op = start(template, i, 3)
        op.process_batch([f"s{i}-a"], None)
        op.snapshot_state(1)
        op.process_batch([f"s{i}-b"], None)
        old.append(roundtrip(op.snapshot_state(2)))
        op.process_batch([f"s{i}-late"], None)  # after checkpoint 2: must vanish
        op.close()
    assert visible(base) == []
    new = [start(template, j, 2, redistribute_operator_state(old, 2, j)) for j in range(2)]
    assert hidden(base) == []
    assert committed_lines(base) == Counter(f"s{i}-{x}" for i in range(3) for x in "ab")
    before = set(visible(base))
    for j, op in enumerate(new):
        op.process_batch([f"new{j}"], None)
        op.end_input()
    assert before < set(visible(base))  # new part numbers do not overwrite old parts
    assert committed_lines(base)["new0"] == 1 and committed_lines(base)["new1"] == 1


def test_sink_fresh_start_cleans_own_leftovers_and_continues_numbering(tmp_path):
    base = tmp_path / "out"
    base.mkdir()
    (base / "part-0-4").write_text("old\n")
    (base / ".part-0-5.inprogress").write_text("garbage\n")
    (base / ".part-1-0.inprogress").write_text("other subtask\n")
    (base / "notes.txt").write_text("not ours\n")
    op = start(FileSink.for_row_format(str(base)).create_operator(), 0, 2)
    assert hidden(base) == [".part-1-0.inprogress"]
    op.process_batch(["new"], None)
    op.end_input()
    assert visible(base) == ["notes.txt", "part-0-4", "part-0-5"]


def test_sink_options(tmp_path):
    base = tmp_path / "out"
    sink = (FileSink.for_row_format(str(base), encoder=lambda r: f"{r}".encode())
            .with_output_file_config(OutputFileConfig.builder().with_part_prefix("data")
                                     .with_part_suffix(".txt").build())
            .with_max_part_size(4))
    op = start(sink.create_operator())
    op.process_batch(["abc"], None)  # 4 bytes: rolled to pending right away
    assert hidden(base) == [".data-0-0.txt.pending"]
    op.process_batch(["d"], None)
    op.snapshot_state(1)
    op.notify_checkpoint_complete(1)
    assert visible(base) == ["data-0-0.txt", "data-0-1.txt"]
    with pytest.raises(ValueError):
        FileSink.for_row_format(str(base)).with_max_part_size(0)


def test_sink_to_adds_the_sink(tmp_path):
    env = StreamExecutionEnvironment()
    env.from_sequence(1, 3).sink_to(FileSink.for_row_format(str(tmp_path)))
    assert env.get_job_graph().vertices[0].name == "Source: Sequence Source -> Sink: Unnamed"
