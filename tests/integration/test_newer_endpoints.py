"""Endpoints of newer Flink versions that operators ask for, on a real cluster: the job
status (1.15), the exception history (1.13), manual checkpoints (1.17), checkpoint summary
percentiles (1.14) and resource requirements (1.18, backed by the real rescaling)."""

from __future__ import annotations

import pytest

from headwater.testing import wait_for
from tests.integration.conftest import start_cluster, stop_cluster
from tests.integration.helpers import job_id_of

JOB = '''
import time
from headwater.api import KeyedProcessFunction, SourceFunction, StreamExecutionEnvironment
from headwater.api import ValueStateDescriptor

class Numbers(SourceFunction):
    def run(self, ctx):
        n = 0
        while True:
            with ctx.get_checkpoint_lock():
                ctx.collect(n)
            n += 1
            time.sleep(0.002)  # wall time on purpose: an endless, paced stream

class Count(KeyedProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))
    def process_element(self, value, ctx):
        self.count.update((self.count.value() or 0) + 1)

env = StreamExecutionEnvironment.get_execution_environment()
env.enable_checkpointing(60_000)  # periodic ones rarely: the manual ones are counted
env.add_source(Numbers(), "numbers").key_by(lambda n: n % 7).process(Count()) \\
    .add_sink(lambda x: None)
env.execute("newer endpoints")
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("newer"), taskmanagers=3)
    yield c
    stop_cluster(c)


@pytest.fixture(scope="module")
def job(cluster, tmp_path_factory):
    script = tmp_path_factory.mktemp("job") / "job.py"
    script.write_text(JOB)
    job_id = job_id_of(cluster.run("-d", "-p", "1", str(script)).stdout)
    cluster.wait_until_running(job_id)
    yield job_id
    cluster.client.cancel_job(job_id)


def test_status(cluster, job):
    assert cluster.client.job_status(job) == "RUNNING"


def test_manual_checkpoints_and_summary_percentiles(cluster, job):
    first = cluster.client.checkpoint(job, timeout=60)["checkpointId"]
    second = cluster.client.checkpoint(job, timeout=60)["checkpointId"]
    assert second > first >= 1
    stats = cluster.client.request("GET", f"/jobs/{job}/checkpoints")
    assert stats["counts"]["completed"] >= 2
    assert stats["latest"]["completed"]["id"] == second
    size = stats["summary"]["state_size"]
    assert size["min"] <= size["p50"] <= size["p99"] <= size["max"]
    assert size["max"] > 0


def test_resource_requirements_rescale_the_job(cluster, job):
    requirements = cluster.client.resource_requirements(job)
    vertices = cluster.client.job(job)["vertices"]
    assert set(requirements) == {v["id"] for v in vertices}
    assert all(r["parallelism"]["upperBound"] == 1 for r in requirements.values())
    wanted = {vid: {"parallelism": {"lowerBound": 1, "upperBound": 2}} for vid in requirements}
    cluster.client.set_resource_requirements(job, wanted)

    def rescaled():
        answer = cluster.client.job(job)
        return answer["state"] == "RUNNING" and all(
            v["parallelism"] == 2 and v["status"] == "RUNNING" for v in answer["vertices"])

    wait_for(rescaled, timeout=60, message="the job was not rescaled to 2")
    assert all(r["parallelism"] == {"lowerBound": 2, "upperBound": 2}
               for r in cluster.client.resource_requirements(job).values())


FAILING = '''
import os, sys
from headwater.api import StreamExecutionEnvironment
from headwater.api.restart_strategy import RestartStrategies

marker = sys.argv[1]

def explode_once(n):
    if n == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        raise ValueError("boom-once")
    return n

env = StreamExecutionEnvironment.get_execution_environment()
env.set_restart_strategy(RestartStrategies.fixed_delay_restart(2, 100))
env.from_collection(list(range(10))).map(explode_once).add_sink(lambda x: None)
env.execute("fails once")
'''


def test_exception_history_lists_every_failure(cluster, tmp_path):
    script = tmp_path / "fails.py"
    script.write_text(FAILING)
    job_id = job_id_of(cluster.run("-d", "-p", "1", str(script), str(tmp_path / "m")).stdout)
    assert cluster.wait_for_state(job_id, {"FINISHED", "FAILED"})["state"] == "FINISHED"
    exceptions = cluster.client.request("GET", f"/jobs/{job_id}/exceptions")
    (entry,) = exceptions["exceptionHistory"]["entries"]
    assert entry["exceptionName"] == "ValueError"
    assert "boom-once" in entry["stacktrace"] and entry["taskName"]
    assert entry["timestamp"] > 0 and exceptions["exceptionHistory"]["truncated"] is False
