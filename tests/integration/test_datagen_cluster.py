"""DataGeneratorSource on a real cluster: cancelled with a savepoint at parallelism 2 and
resumed from it at parallelism 3, every index comes out exactly once (written through the
exactly-once file sink)."""

from __future__ import annotations

import collections
import re

import pytest

from headwater.testing import wait_for
from tests.integration.conftest import headwater, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of

JOB = '''
import sys
from headwater.api import StreamExecutionEnvironment, WatermarkStrategy
from headwater.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from headwater.connectors.file import FileSink

out, parallelism, count, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(parallelism)
env.enable_checkpointing(300)
source = DataGeneratorSource(lambda i: f"record-{i}", count, RateLimiterStrategy.per_second(rate))
(env.from_source(source, WatermarkStrategy.no_watermarks(), "gen").uid("gen")
    .sink_to(FileSink.for_row_format(out).build()).uid("sink"))
env.execute("datagen")
'''

COUNT = 4000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("datagen"), taskmanagers=2, slots=2)
    yield c
    stop_cluster(c)


def committed(out) -> collections.Counter:
    lines: collections.Counter = collections.Counter()
    for part in out.glob("part-*"):
        lines.update(part.read_text().splitlines())
    return lines


def test_savepoint_and_resume_at_another_parallelism_emits_every_index_once(cluster,
                                                                             tmp_path):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    out = tmp_path / "out"
    job_id = job_id_of(cluster.run("-d", str(script), str(out), "2", str(COUNT), "800").stdout)
    cluster.wait_until_running(job_id)
    wait_for(lambda: cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")
             ["counts"]["completed"] >= 2, 60, 0.1, "two completed checkpoints")
    proc = headwater("cancel", "-m", f"127.0.0.1:{cluster.port}", "-s",
                     str(tmp_path / "savepoints"), job_id)
    match = re.search(r"(file:\S+savepoint-\S+)", proc.stdout)
    assert match, proc.stdout
    cluster.wait_for_state(job_id, {"CANCELED"})
    before = committed(out)
    assert 0 < sum(before.values()) < COUNT  # really interrupted mid-stream

    resumed = job_id_of(cluster.run("-d", "-s", match.group(1).rstrip("."), str(script),
                                    str(out), "3", str(COUNT), "4000").stdout)
    job = cluster.wait_for_state(resumed, {"FINISHED", "FAILED"}, timeout=180)
    assert job["state"] == "FINISHED"
    assert {v["parallelism"] for v in job["vertices"]} == {3}
    assert committed(out) == collections.Counter(f"record-{i}" for i in range(COUNT))
