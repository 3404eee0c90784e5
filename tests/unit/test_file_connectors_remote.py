"""FileSource and FileSink on a file system reached by URL (fsspec's ``memory://``
standing for S3 and friends): same offsets, same two-phase commit, without renames."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from headwater.connectors import file as file_connector
from headwater.connectors.file import FileSink, FileSource
from headwater.runtime import filesystem
from headwater.runtime.checkpoint.redistribution import redistribute_operator_state
from tests.unit.test_file_connectors import ALL_LINES, _pipeline, roundtrip, run, start


@pytest.fixture
def base():
    url = f"memory://file-connector-tests/{uuid.uuid4().hex}"
    yield url
    filesystem.remove_tree(url)


def names(url):
    fs, path = filesystem.resolve(url)
    try:
        return sorted(p.rpartition("/")[2] for p in fs.ls(path, detail=False))
    except FileNotFoundError:
        return []


def visible(url):
    return [n for n in names(url) if not n.startswith(".")]


def hidden(url):
    return [n for n in names(url) if n.startswith(".")]


def committed_lines(url):
    out: Counter = Counter()
    for n in visible(url):
        out.update(filesystem.read_bytes(f"{url}/{n}").decode().splitlines())
    return out


def test_file_source_lists_and_reads_remote_files(base, monkeypatch):
    monkeypatch.setattr(file_connector, "READ_BLOCK", 16)
    filesystem.write_atomic(f"{base}/in/a.txt", "".join(f"a{i}\n" for i in range(40)).encode())
    filesystem.write_atomic(f"{base}/in/b.txt",
                            "".join(f"b{i}\r\n" for i in range(30)).encode() + b"b-last")
    filesystem.write_atomic(f"{base}/in/sub/c.txt", "ü\n\nc2\n".encode())
    filesystem.write_atomic(f"{base}/in/.hidden", b"no\n")
    filesystem.write_atomic(f"{base}/in/_SUCCESS", b"")
    files = file_connector.list_files([f"{base}/in"])
    assert [f.rpartition("/in/")[2] for f in files] == ["a.txt", "b.txt", "sub/c.txt"]
    template = FileSource.for_path(f"{base}/in").create_operator()
    got: Counter = Counter()
    states = []
    for i in range(2):
        out = run(start(template, i, 2), snapshot_at=3, crash_at=5)
        got.update(out.values[:out.at_snapshot])
        states.append(out.snapshot)
    for j in range(3):
        got.update(run(start(template, j, 3, redistribute_operator_state(states, 3, j))).values)
    assert got == ALL_LINES
    with pytest.raises(FileNotFoundError):
        file_connector.list_files([f"{base}/nope"])


def test_sink_stages_parts_remotely_and_commits_by_copy(base):
    out = f"{base}/out"
    op = start(FileSink.for_row_format(out, encoder=str).build().create_operator())
    op.process_batch([1, 2], None)
    assert names(out) == []  # in progress: a local file only
    state1 = roundtrip(op.snapshot_state(1))
    assert hidden(out) == [".part-0-0.pending"] and visible(out) == []
    assert state1["file-sink-pending"] == ("union", [(0, 0, 1)])
    op.process_batch([3], None)
    op.snapshot_state(2)
    op.notify_checkpoint_complete(1)
    assert visible(out) == ["part-0-0"] and hidden(out) == [".part-0-1.pending"]
    again = start(FileSink.for_row_format(out, encoder=str).create_operator(), state=state1)
    # checkpoint 1 is committed already (idempotent); part 1 came after it: deleted
    assert visible(out) == ["part-0-0"] and hidden(out) == []
    again.process_batch([3], None)
    again.end_input()
    again.close()
    op.close()
    assert committed_lines(out) == Counter(["1", "2", "3"])
    assert filesystem.read_bytes(f"{out}/part-0-0") == b"1\n2\n"


@pytest.mark.parametrize("crash_before", [2, 7, 11])
@pytest.mark.parametrize("last_incomplete", [False, True])
def test_sink_recovered_output_equals_clean_output(base, crash_before, last_incomplete):
    records = list(range(200))
    _pipeline(f"{base}/clean", records, 7)
    _pipeline(f"{base}/crash", records, 7, crash_before, last_incomplete)
    assert committed_lines(f"{base}/crash") == committed_lines(f"{base}/clean")
    assert committed_lines(f"{base}/clean") == Counter(f"rec-{r}" for r in records)
    assert hidden(f"{base}/crash") == []
