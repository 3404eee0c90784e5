"""The embedded HA store: what it keeps survives a kill of the process that wrote it."""

from __future__ import annotations

import subprocess
import sys

from headwater.runtime.jobmanager.ha_store import EmbeddedHaStore

JOB_A, JOB_B = "a" * 32, "b" * 32


def test_job_graphs_and_checkpoint_pointers_survive_a_kill_9(tmp_path):
    script = f"""
import os, signal
from headwater.runtime.jobmanager.ha_store import EmbeddedHaStore
store = EmbeddedHaStore({str(tmp_path)!r})
store.put_job_graph({JOB_A!r}, "first", b"graph-a", submitted_ms=1)
store.put_job_graph({JOB_B!r}, "second", b"graph-b", submitted_ms=2)
store.put_checkpoint({JOB_A!r}, 7, "file:/chk/7", completed_ms=10)
store.put_checkpoint({JOB_A!r}, 5, "file:/chk/5", completed_ms=11)  # late, older: ignored
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -9
    store = EmbeddedHaStore(tmp_path)
    graphs = store.job_graphs()
    assert [(g.job_id, g.name, g.graph) for g in graphs] == [
        (JOB_A, "first", b"graph-a"), (JOB_B, "second", b"graph-b")]
    pointer = store.latest_checkpoint(JOB_A)
    assert (pointer.checkpoint_id, pointer.location) == (7, "file:/chk/7")
    assert store.latest_checkpoint(JOB_B) is None


def test_archiving_a_job_forgets_its_graph_and_checkpoints(tmp_path):
    store = EmbeddedHaStore(tmp_path)
    store.put_job_graph(JOB_A, "a", b"g")
    store.put_checkpoint(JOB_A, 1, "file:/x")
    store.archive_job(JOB_A, b"archive-a", finished_ms=100)
    assert store.job_graphs() == []
    assert store.latest_checkpoint(JOB_A) is None
    assert store.archives(at_ms=200) == [(JOB_A, 100, b"archive-a")]


def test_archives_are_bounded_by_capacity_and_age(tmp_path):
    store = EmbeddedHaStore(tmp_path, max_archives=3, archive_expiration_ms=1000)
    for i in range(5):
        store.archive_job(f"{i:032x}", f"archive-{i}".encode(), finished_ms=10_000 + i)
    assert [job for job, _, _ in store.archives(at_ms=10_010)] == [
        f"{i:032x}" for i in (2, 3, 4)]
    assert store.archives(at_ms=11_004) == [(f"{4:032x}", 10_004, b"archive-4")]
    store.remove_archive(f"{4:032x}")
    assert store.archives(at_ms=11_004) == []
