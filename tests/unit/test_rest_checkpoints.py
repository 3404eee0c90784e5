"""Checkpoint, savepoint, stop, rescaling and disposal endpoints against a stub RestfulGateway
whose stub JobMasters hold real CheckpointStatsTrackers.

Every answer is validated against the spec schema and compared, key by key, with the
answer real Flink 1.12.5 gave for the same endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
import re
from typing import Any

import pytest

from headwater.config import Configuration
from headwater.rest.async_operations import AsyncOperations
from headwater.rest.gateway import JobMasterGateway
from headwater.runtime.checkpoint.config import CheckpointCoordinatorConfiguration
from headwater.runtime.checkpoint.stats import (
    CheckpointStats,
    CheckpointStatsTracker,
    CheckpointType,
    RestoredCheckpointStats,
    SubtaskCheckpointStats,
)
from headwater.runtime.checkpoint.storage import CheckpointStorageError
from headwater.runtime.jobmanager.execution_graph import ExecutionGraph
from tests.paths import REFERENCE
from tests.spec_check import same_shape
from tests.unit.test_rest_handlers import (
    FINISHED_JOB,
    RUNNING_JOB,
    SINK,
    SRC,
    T0,
    StubCluster,
    all_graphs,
    check_reference,
    check_spec,
    request,
    serve,
)

OTHER_JOB = "0123456789abcdef0123456789abcdef"
UNKNOWN_TRIGGER = "f" * 32


# -- stub runtime -----------------------------------------------------------------------


class CheckpointRefused(Exception):
    """Stands in for the coordinator's CheckpointException."""


class StubJobMaster:
    """A JobMaster with real checkpoint statistics whose operations wait for ``release``."""

    def __init__(self, graph: ExecutionGraph, stats: CheckpointStatsTracker | None,
                 config: CheckpointCoordinatorConfiguration | None) -> None:
        self.graph = graph
        self.checkpoint_stats = stats
        self.checkpoint_config = config
        self.calls: list[tuple[Any, ...]] = []
        self.failure: Exception | None = None
        self._gate: asyncio.Event | None = None
        self.hold = False

    def release(self) -> None:
        self.hold = False
        if self._gate is not None:
            self._gate.set()

    async def _wait(self) -> None:
        if self.hold:
            self._gate = asyncio.Event()
            await self._gate.wait()
        if self.failure is not None:
            raise self.failure

    async def trigger_savepoint(self, target_directory: str, cancel_job: bool) -> str:
        self.calls.append(("savepoint", target_directory, cancel_job))
        await self._wait()
        return f"file:{target_directory}/savepoint-0c1ba5-9e030e317593"

    async def stop_with_savepoint(self, target_directory: str, drain: bool) -> str:
        self.calls.append(("stop", target_directory, drain))
        await self._wait()
        return f"file:{target_directory}/savepoint-0c1ba5-89400829ea60"

    async def rescale(self, parallelism: int) -> None:
        self.calls.append(("rescale", parallelism))
        await self._wait()

    def task_accumulators(self, attempt_id: str) -> dict[str, str] | None:
        return None


class CheckpointCluster(StubCluster):
    """StubCluster plus JobMasters and savepoint disposal."""

    def __init__(self, configuration: Configuration | None = None,
                 stats: CheckpointStatsTracker | None = None,
                 config: CheckpointCoordinatorConfiguration | None = None) -> None:
        super().__init__(all_graphs(), configuration=configuration)
        config = config or CheckpointCoordinatorConfiguration(interval=2000)
        stats = stats if stats is not None else tracker()
        self.masters = {job_id: StubJobMaster(g, stats if job_id == RUNNING_JOB else
                                              CheckpointStatsTracker(), config)
                        for job_id, g in self.graphs.items()}
        self.disposed: list[str] = []
        self.disposal_gate: asyncio.Event | None = None

    def job_master(self, job_id: str) -> JobMasterGateway | None:
        return self.masters.get(job_id)

    async def dispose_savepoint(self, path: str) -> None:
        if self.disposal_gate is not None:
            await self.disposal_gate.wait()
        if "not-a-savepoint" in path:
            raise CheckpointStorageError(f"{path} is not a savepoint (no _metadata)")
        self.disposed.append(path)


def subtask(index: int, ack: int, size: int = 100, processed: int = 0) -> SubtaskCheckpointStats:
    return SubtaskCheckpointStats(subtask_index=index, ack_timestamp=ack, state_size=size,
                                  sync_duration=1 + index, async_duration=2 + index,
                                  alignment_duration=index, alignment_buffered=0,
                                  processed_data=processed, start_delay=2)


def checkpoint(checkpoint_id: int, trigger: int,
               kind: CheckpointType = CheckpointType.CHECKPOINT) -> CheckpointStats:
    return CheckpointStats(checkpoint_id, kind, trigger, {SRC: 2, SINK: 2})


def ack_all(stats: CheckpointStats, trigger: int, duration: int, sink_size: int) -> None:
    for i in range(2):
        stats.acknowledge(SRC, subtask(i, trigger + duration - 1, size=0))
        stats.acknowledge(SINK, subtask(i, trigger + duration, size=sink_size,
                                        processed=1000 * (i + 1)))


def tracker(failed: bool = False, in_progress: bool = False,
            restored: bool = False) -> CheckpointStatsTracker:
    """Checkpoints 1-3 completed (1 and 2 subsumed), savepoint 4, then optionally a failed
    checkpoint 5 and an in-progress checkpoint 6 (subtask 0 of each vertex acknowledged)."""
    t = CheckpointStatsTracker()
    durations = {1: 8, 2: 12, 3: 10}
    for cid, duration in durations.items():
        trigger = T0 + 2000 * cid
        c = checkpoint(cid, trigger)
        t.report_pending(c)
        ack_all(c, trigger, duration, sink_size=100 * cid)
        t.report_completed(c)
        c.discarded = cid < 3
    sp = checkpoint(4, T0 + 7000, CheckpointType.SAVEPOINT)
    t.report_pending(sp)
    ack_all(sp, T0 + 7000, 14, sink_size=400)
    sp.external_path = "file:/data/savepoints/savepoint-0c1ba5-9e030e317593"
    t.report_completed(sp)
    if failed:
        f = checkpoint(5, T0 + 10_000)
        t.report_pending(f)
        f.acknowledge(SRC, subtask(0, T0 + 10_005))
        t.report_failed(f, T0 + 10_050, "Checkpoint expired before completing.")
    if in_progress:
        p = checkpoint(6, T0 + 12_000)
        t.report_pending(p)
        p.acknowledge(SRC, subtask(0, T0 + 12_003, size=7))
        p.acknowledge(SINK, subtask(0, T0 + 12_009, size=9))
    if restored:
        t.report_restored(RestoredCheckpointStats(
            3, T0 + 11_000, False, "file:/data/checkpoints/chk-3"))
    return t


def reference_body(prefix: str) -> Any:
    """The body of reference answer ``<prefix>_*.json``."""
    path = next(REFERENCE.glob(f"{prefix}_*.json"), None)
    if path is None:
        pytest.fail(f"reference answer {prefix}_*.json missing in {REFERENCE}")
    return json.loads(path.read_text())["body"]


def run(cluster: Any, steps) -> Any:
    """Run ``steps(call)`` against one server (trigger ids live as long as the server)."""
    async def go():
        async with serve(cluster) as call:
            return await steps(call)
    return asyncio.run(go())


async def poll_until_done(call, path: str) -> Any:
    for _ in range(200):
        a = await call("GET", path)
        if a.status != 200 or a.body["status"]["id"] == "COMPLETED":
            return a
        await asyncio.sleep(0.005)
    raise AssertionError(f"{path} stayed IN_PROGRESS")


# -- GET /jobs/:jobid/checkpoints -------------------------------------------------------


def test_checkpointing_statistics_like_flink():
    a = request(CheckpointCluster(), "GET", f"/jobs/{RUNNING_JOB}/checkpoints")
    check_spec("GET", "/jobs/:jobid/checkpoints", a)
    assert same_shape(a.body, reference_body("085")) == []
    b = a.body
    assert b["counts"] == {"restored": 0, "total": 4, "in_progress": 0, "completed": 4,
                           "failed": 0}
    assert [c["id"] for c in b["history"]] == [4, 3, 2, 1]
    assert all(c["tasks"] == {} for c in b["history"])
    # A savepoint is the latest savepoint, not the latest completed checkpoint (Flink).
    assert b["latest"]["completed"]["id"] == 3
    assert b["latest"]["completed"]["discarded"] is False
    sp = b["latest"]["savepoint"]
    assert (sp["id"], sp["is_savepoint"], sp["checkpoint_type"]) == (4, True, "SAVEPOINT")
    assert sp["external_path"] == "file:/data/savepoints/savepoint-0c1ba5-9e030e317593"
    assert b["latest"]["failed"] is None and b["latest"]["restored"] is None
    c3 = b["history"][1]
    assert (c3["state_size"], c3["end_to_end_duration"], c3["processed_data"]) == (
        600, 10, 3000)
    assert (c3["num_subtasks"], c3["num_acknowledged_subtasks"]) == (4, 4)
    assert c3["latest_ack_timestamp"] == T0 + 6000 + 10
    assert b["history"][2]["discarded"] is True


def test_checkpointing_statistics_summary_over_completed_checkpoints():
    b = request(CheckpointCluster(stats=tracker(failed=True, in_progress=True)), "GET",
                f"/jobs/{RUNNING_JOB}/checkpoints").body
    s = b["summary"]
    # completed: sizes 200, 400, 600, 800; durations 8, 12, 10, 14
    mma = ("min", "max", "avg")
    assert {k: s["state_size"][k] for k in mma} == {"min": 200, "max": 800, "avg": 500}
    assert {k: s["end_to_end_duration"][k] for k in mma} == {"min": 8, "max": 14, "avg": 11}
    assert {k: s["processed_data"][k] for k in mma} == {"min": 3000, "max": 3000, "avg": 3000}
    zeros = {"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0,
             "p999": 0.0}
    assert s["alignment_buffered"] == s["persisted_data"] == zeros
    # Flink 1.14's percentiles, over the three completed checkpoints' sizes 200, 500, 800.
    assert s["state_size"]["p50"] == 500.0 and s["state_size"]["p99"] == 800.0


def test_checkpointing_statistics_with_failed_in_progress_and_restored():
    a = request(CheckpointCluster(stats=tracker(failed=True, in_progress=True,
                                                restored=True)),
                "GET", f"/jobs/{RUNNING_JOB}/checkpoints")
    check_spec("GET", "/jobs/:jobid/checkpoints", a)
    b = a.body
    assert b["counts"] == {"restored": 1, "total": 6, "in_progress": 1, "completed": 4,
                           "failed": 1}
    pending, failed = b["history"][0], b["history"][1]
    assert (pending["@class"], pending["status"], pending["id"]) == (
        "in_progress", "IN_PROGRESS", 6)
    assert (pending["num_acknowledged_subtasks"], pending["state_size"]) == (2, 16)
    assert pending["end_to_end_duration"] == 9
    assert "external_path" not in pending and "failure_message" not in pending
    assert (failed["@class"], failed["status"]) == ("failed", "FAILED")
    assert failed["failure_timestamp"] == T0 + 10_050
    assert failed["failure_message"] == "Checkpoint expired before completing."
    assert failed["end_to_end_duration"] == 50
    assert b["latest"]["failed"]["id"] == 5
    assert b["latest"]["restored"] == {"id": 3, "restore_timestamp": T0 + 11_000,
                                       "is_savepoint": False,
                                       "external_path": "file:/data/checkpoints/chk-3"}


def test_checkpointing_statistics_before_any_checkpoint():
    a = request(CheckpointCluster(stats=CheckpointStatsTracker()), "GET",
                f"/jobs/{RUNNING_JOB}/checkpoints")
    check_spec("GET", "/jobs/:jobid/checkpoints", a)
    assert a.body["counts"]["total"] == 0 and a.body["history"] == []
    assert a.body["summary"]["state_size"] == {"min": 0, "max": 0, "avg": 0, "p50": 0.0,
                                               "p90": 0.0, "p95": 0.0, "p99": 0.0,
                                               "p999": 0.0}
    assert a.body["latest"] == {"completed": None, "savepoint": None, "failed": None,
                                "restored": None}


def test_checkpoint_endpoints_without_job_master_or_job():
    cluster = CheckpointCluster()
    cluster.masters.pop(RUNNING_JOB)
    a = request(cluster, "GET", f"/jobs/{RUNNING_JOB}/checkpoints")
    assert (a.status, a.body) == (404, {"errors": ["Checkpointing has not been enabled."]})
    a = request(cluster, "GET", f"/jobs/{RUNNING_JOB}/checkpoints/details/3")
    assert (a.status, a.body) == (404, {"errors": [
        f"Checkpointing was not enabled for job {RUNNING_JOB}."]})
    a = request(cluster, "GET", f"/jobs/{OTHER_JOB}/checkpoints")
    assert (a.status, a.body) == (404, {"errors": [f"Job {OTHER_JOB} not found"]})
    a = request(StubCluster(), "GET", f"/jobs/{RUNNING_JOB}/checkpoints/config")
    assert a.status == 404  # a gateway without job masters at all


# -- GET /jobs/:jobid/checkpoints/config ------------------------------------------------


def test_checkpoint_config_like_flink():
    a = request(CheckpointCluster(), "GET", f"/jobs/{RUNNING_JOB}/checkpoints/config")
    check_spec("GET", "/jobs/:jobid/checkpoints/config", a)
    check_reference("/jobs/:jobid/checkpoints/config", a.body)
    assert a.body == reference_body("027")  # same configuration as the Flink job


def test_checkpoint_config_values():
    config = CheckpointCoordinatorConfiguration.from_config({
        "execution.checkpointing.interval": "10 s",
        "execution.checkpointing.mode": "at_least_once",
        "execution.checkpointing.timeout": "1 min",
        "execution.checkpointing.min-pause": 500,
        "execution.checkpointing.max-concurrent-checkpoints": 2,
        "execution.checkpointing.tolerable-failed-checkpoints": 3,
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "state.checkpoints.dir": "file:/tmp/chk",
        "state.backend": "rocksdb",
    })
    a = request(CheckpointCluster(config=config), "GET",
                f"/jobs/{RUNNING_JOB}/checkpoints/config")
    check_spec("GET", "/jobs/:jobid/checkpoints/config", a)
    assert a.body == {
        "mode": "at_least_once", "interval": 10_000, "timeout": 60_000, "min_pause": 500,
        "max_concurrent": 2,
        "externalization": {"enabled": True, "delete_on_cancellation": False},
        "state_backend": "RocksDBStateBackend", "unaligned_checkpoints": False,
        "tolerable_failed_checkpoints": 3}


def test_checkpoint_config_periodic_checkpoints_disabled():
    a = request(CheckpointCluster(config=CheckpointCoordinatorConfiguration()), "GET",
                f"/jobs/{RUNNING_JOB}/checkpoints/config")
    check_spec("GET", "/jobs/:jobid/checkpoints/config", a)
    assert a.body["interval"] == 2**63 - 1  # Flink: Long.MAX_VALUE, savepoints still work


def test_checkpoint_config_without_coordinator():
    cluster = CheckpointCluster()
    cluster.masters[RUNNING_JOB].checkpoint_config = None
    a = request(cluster, "GET", f"/jobs/{RUNNING_JOB}/checkpoints/config")
    assert (a.status, a.body) == (404, {"errors": [
        f"Checkpointing is not enabled for this job ({RUNNING_JOB})."]})


# -- GET /jobs/:jobid/checkpoints/details/:checkpointid[/subtasks/:vertexid] -------------


def test_checkpoint_details_like_flink():
    a = request(CheckpointCluster(), "GET", f"/jobs/{RUNNING_JOB}/checkpoints/details/3")
    check_spec("GET", "/jobs/:jobid/checkpoints/details/:checkpointid", a)
    check_reference("/jobs/:jobid/checkpoints/details/:checkpointid", a.body)
    b = a.body
    assert set(b["tasks"]) == {SRC, SINK}
    sink = b["tasks"][SINK]
    assert (sink["id"], sink["status"], sink["state_size"], sink["processed_data"]) == (
        3, "COMPLETED", 600, 3000)
    assert (sink["end_to_end_duration"], sink["latest_ack_timestamp"]) == (10, T0 + 6010)
    assert (sink["num_subtasks"], sink["num_acknowledged_subtasks"]) == (2, 2)
    assert b["tasks"][SRC]["end_to_end_duration"] == 9


def test_checkpoint_details_of_in_progress_checkpoint():
    cluster = CheckpointCluster(stats=tracker(in_progress=True))
    a = request(cluster, "GET", f"/jobs/{RUNNING_JOB}/checkpoints/details/6")
    check_spec("GET", "/jobs/:jobid/checkpoints/details/:checkpointid", a)
    assert a.body["@class"] == "in_progress"
    assert a.body["tasks"][SINK]["num_acknowledged_subtasks"] == 1


def test_checkpoint_details_unknown_checkpoint():
    a = request(CheckpointCluster(), "GET", f"/jobs/{RUNNING_JOB}/checkpoints/details/999999")
    assert (a.status, a.body) == (404, {"errors": [
        "Could not find checkpointing statistics for checkpoint 999999."]})
    a = request(CheckpointCluster(), "GET", f"/jobs/{RUNNING_JOB}/checkpoints/details/x1")
    assert a.status == 400


def test_task_checkpoint_details_like_flink():
    a = request(CheckpointCluster(), "GET",
                f"/jobs/{RUNNING_JOB}/checkpoints/details/3/subtasks/{SINK}")
    template = "/jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid"
    check_spec("GET", template, a)
    check_reference(template, a.body)
    b = a.body
    assert (b["id"], b["state_size"], b["num_acknowledged_subtasks"]) == (3, 600, 2)
    first, second = b["subtasks"]
    assert (first["@class"], first["status"], first["index"]) == ("completed", "completed", 0)
    assert (first["ack_timestamp"], first["end_to_end_duration"]) == (T0 + 6010, 10)
    assert first["checkpoint"] == {"sync": 1, "async": 2}
    assert second["alignment"] == {"buffered": 0, "processed": 2000, "persisted": 0,
                                   "duration": 1}
    s = b["summary"]
    assert s["state_size"] == {"min": 300, "max": 300, "avg": 300}
    assert s["end_to_end_duration"] == {"min": 10, "max": 10, "avg": 10}
    assert s["checkpoint_duration"]["async"] == {"min": 2, "max": 3, "avg": 2}
    assert s["alignment"]["processed"] == {"min": 1000, "max": 2000, "avg": 1500}
    assert s["start_delay"] == {"min": 2, "max": 2, "avg": 2}


def test_task_checkpoint_details_lists_pending_subtasks():
    cluster = CheckpointCluster(stats=tracker(in_progress=True))
    template = "/jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid"
    a = request(cluster, "GET", f"/jobs/{RUNNING_JOB}/checkpoints/details/6/subtasks/{SINK}")
    check_spec("GET", template, a)
    assert a.body["status"] == "IN_PROGRESS"
    assert a.body["subtasks"][1] == {"@class": "pending", "index": 1, "status": "pending"}
    assert a.body["subtasks"][0]["@class"] == "completed"
    assert a.body["num_acknowledged_subtasks"] == 1


def test_task_checkpoint_details_unknown_vertex():
    other = "a" * 32
    a = request(CheckpointCluster(), "GET",
                f"/jobs/{RUNNING_JOB}/checkpoints/details/3/subtasks/{other}")
    assert (a.status, a.body) == (404, {"errors": [
        f"There is no checkpoint statistics for task {other}."]})


# -- savepoints and stop ----------------------------------------------------------------


def test_savepoint_trigger_then_status_like_flink():
    cluster = CheckpointCluster(Configuration({"state.savepoints.dir": "/data/savepoints"}))
    master = cluster.masters[RUNNING_JOB]
    master.hold = True

    async def steps(call):
        trigger = await call("POST", f"/jobs/{RUNNING_JOB}/savepoints",
                             json={"target-directory": None, "cancel-job": False})
        path = f"/jobs/{RUNNING_JOB}/savepoints/{trigger.body['request-id']}"
        await asyncio.sleep(0.01)
        running = await call("GET", path)
        master.release()
        return trigger, running, await poll_until_done(call, path)

    trigger, running, done = run(cluster, steps)
    check_spec("POST", "/jobs/:jobid/savepoints", trigger)
    check_reference("/jobs/:jobid/savepoints", trigger.body, "POST")
    assert re.fullmatch(r"[0-9a-f]{32}", trigger.body["request-id"])
    check_spec("GET", "/jobs/:jobid/savepoints/:triggerid", running)
    assert running.body == reference_body("073")
    check_spec("GET", "/jobs/:jobid/savepoints/:triggerid", done)
    assert same_shape(done.body, reference_body("074")) == []
    assert done.body == {"status": {"id": "COMPLETED"}, "operation": {
        "location": "file:/data/savepoints/savepoint-0c1ba5-9e030e317593"}}
    assert master.calls == [("savepoint", "/data/savepoints", False)]


def test_savepoint_with_target_directory_and_cancel():
    cluster = CheckpointCluster()

    async def steps(call):
        trigger = await call("POST", f"/jobs/{RUNNING_JOB}/savepoints",
                             json={"target-directory": "/tmp/sp", "cancel-job": True})
        return await poll_until_done(
            call, f"/jobs/{RUNNING_JOB}/savepoints/{trigger.body['request-id']}")

    done = run(cluster, steps)
    assert done.body["operation"]["location"].startswith("file:/tmp/sp/savepoint-")
    assert cluster.masters[RUNNING_JOB].calls == [("savepoint", "/tmp/sp", True)]


def test_savepoint_without_any_directory_is_rejected():
    a = request(CheckpointCluster(), "POST", f"/jobs/{RUNNING_JOB}/savepoints", json={})
    assert (a.status, a.body) == (400, {"errors": [
        "Config key [state.savepoints.dir] is not set. Property [target-directory] must be "
        "provided."]})
    a = request(CheckpointCluster(), "POST", f"/jobs/{RUNNING_JOB}/stop")
    assert (a.status, a.body) == (400, {"errors": [
        "Config key [state.savepoints.dir] is not set. Property [targetDirectory] must be "
        "provided."]})


@pytest.mark.parametrize("body", ['{"target-directory": 5}', '{"cancel-job": "yes"}', "[1]",
                                  "{not json"])
def test_savepoint_malformed_body(body):
    a = request(CheckpointCluster(), "POST", f"/jobs/{RUNNING_JOB}/savepoints", data=body,
                headers={"Content-Type": "application/json"})
    assert a.status == 400
    assert a.body["errors"][0].startswith(
        "Request did not match expected format SavepointTriggerRequestBody")


def test_savepoint_failure_is_reported_as_failure_cause():
    cluster = CheckpointCluster()
    cluster.masters[RUNNING_JOB].failure = CheckpointRefused(
        "Not all required tasks are currently running.")

    async def steps(call):
        trigger = await call("POST", f"/jobs/{RUNNING_JOB}/savepoints",
                             json={"target-directory": "/tmp/sp"})
        return await poll_until_done(
            call, f"/jobs/{RUNNING_JOB}/savepoints/{trigger.body['request-id']}")

    done = run(cluster, steps)
    check_spec("GET", "/jobs/:jobid/savepoints/:triggerid", done)
    assert done.body["status"] == {"id": "COMPLETED"}
    cause = done.body["operation"]["failure-cause"]
    assert set(done.body["operation"]) == {"failure-cause"}
    assert cause["class"] == f"{__name__}.CheckpointRefused"
    assert cause["stack-trace"].startswith("Traceback (most recent call last):")
    assert cause["stack-trace"].endswith(
        "CheckpointRefused: Not all required tasks are currently running.")
    assert pickle.loads(base64.b64decode(cause["serialized-throwable"])) == cause["stack-trace"]


@pytest.mark.parametrize("job_id", [OTHER_JOB, FINISHED_JOB])
def test_savepoint_of_unknown_or_finished_job_fails_like_flink(job_id):
    cluster = CheckpointCluster()

    async def steps(call):
        trigger = await call("POST", f"/jobs/{job_id}/savepoints",
                             json={"target-directory": "/tmp/sp"})
        return trigger, await poll_until_done(
            call, f"/jobs/{job_id}/savepoints/{trigger.body['request-id']}")

    trigger, done = run(cluster, steps)
    assert trigger.status == 202  # Flink accepts the trigger; the operation fails
    cause = done.body["operation"]["failure-cause"]
    assert cause["class"].endswith(".FlinkJobNotFound")
    assert cause["stack-trace"].endswith(f"Could not find Flink job ({job_id})")
    assert cluster.masters[FINISHED_JOB].calls == []


def test_stop_with_savepoint_status_is_read_at_savepoints():
    cluster = CheckpointCluster(Configuration({"state.savepoints.dir": "/data/savepoints"}))

    async def steps(call):
        trigger = await call("POST", f"/jobs/{RUNNING_JOB}/stop", json={"drain": True})
        tid = trigger.body["request-id"]
        done = await poll_until_done(call, f"/jobs/{RUNNING_JOB}/savepoints/{tid}")
        as_rescaling = await call("GET", f"/jobs/{RUNNING_JOB}/rescaling/{tid}")
        return trigger, done, as_rescaling

    trigger, done, as_rescaling = run(cluster, steps)
    check_spec("POST", "/jobs/:jobid/stop", trigger)
    check_reference("/jobs/:jobid/stop", trigger.body, "POST")
    assert same_shape(done.body, reference_body("081")) == []
    assert done.body["operation"]["location"] == (
        "file:/data/savepoints/savepoint-0c1ba5-89400829ea60")
    assert cluster.masters[RUNNING_JOB].calls == [("stop", "/data/savepoints", True)]
    assert as_rescaling.status == 404  # another family of operations


def test_stop_with_target_directory_no_drain():
    cluster = CheckpointCluster()

    async def steps(call):
        trigger = await call("POST", f"/jobs/{RUNNING_JOB}/stop",
                             json={"targetDirectory": "/tmp/stop"})
        return await poll_until_done(
            call, f"/jobs/{RUNNING_JOB}/savepoints/{trigger.body['request-id']}")

    run(cluster, steps)
    assert cluster.masters[RUNNING_JOB].calls == [("stop", "/tmp/stop", False)]


def test_unknown_trigger_ids():
    cluster = CheckpointCluster()

    async def steps(call):
        trigger = await call("POST", f"/jobs/{RUNNING_JOB}/savepoints",
                             json={"target-directory": "/tmp/sp"})
        tid = trigger.body["request-id"]
        return (await call("GET", f"/jobs/{RUNNING_JOB}/savepoints/{UNKNOWN_TRIGGER}"),
                await call("GET", f"/jobs/{OTHER_JOB}/savepoints/{tid}"),
                await call("GET", f"/savepoint-disposal/{tid}"),
                await call("GET", f"/jobs/{RUNNING_JOB}/savepoints/not-hex"))

    unknown, other_job, disposal, malformed = run(cluster, steps)
    assert unknown.status == 404
    assert unknown.body["errors"][0].startswith("Operation not found under key: ")
    assert UNKNOWN_TRIGGER in unknown.body["errors"][0]
    assert other_job.status == 404 and disposal.status == 404
    assert malformed.status == 400


# -- rescaling --------------------------------------------------------------------------


def test_rescaling_trigger_then_status():
    cluster = CheckpointCluster()
    master = cluster.masters[RUNNING_JOB]
    master.hold = True

    async def steps(call):
        trigger = await call("PATCH", f"/jobs/{RUNNING_JOB}/rescaling?parallelism=3")
        path = f"/jobs/{RUNNING_JOB}/rescaling/{trigger.body['request-id']}"
        running = await call("GET", path)
        master.release()
        return trigger, running, await poll_until_done(call, path)

    trigger, running, done = run(cluster, steps)
    check_spec("PATCH", "/jobs/:jobid/rescaling", trigger)
    assert re.fullmatch(r"[0-9a-f]{32}", trigger.body["request-id"])
    check_spec("GET", "/jobs/:jobid/rescaling/:triggerid", running)
    assert running.body == {"status": {"id": "IN_PROGRESS"}, "operation": None}
    check_spec("GET", "/jobs/:jobid/rescaling/:triggerid", done)
    assert done.body == {"status": {"id": "COMPLETED"}, "operation": {}}
    assert master.calls == [("rescale", 3)]


def test_rescaling_failure():
    cluster = CheckpointCluster()
    cluster.masters[RUNNING_JOB].failure = ValueError("parallelism 300 exceeds 128")

    async def steps(call):
        trigger = await call("PATCH", f"/jobs/{RUNNING_JOB}/rescaling?parallelism=300")
        return await poll_until_done(
            call, f"/jobs/{RUNNING_JOB}/rescaling/{trigger.body['request-id']}")

    done = run(cluster, steps)
    check_spec("GET", "/jobs/:jobid/rescaling/:triggerid", done)
    assert done.body["operation"]["failure-cause"]["class"] == "ValueError"


@pytest.mark.parametrize("query", ["", "?parallelism=0", "?parallelism=-2", "?parallelism=x"])
def test_rescaling_needs_a_positive_parallelism(query):
    a = request(CheckpointCluster(), "PATCH", f"/jobs/{RUNNING_JOB}/rescaling{query}")
    assert a.status == 400 and a.body["errors"]


# -- savepoint disposal -----------------------------------------------------------------


def test_savepoint_disposal_like_flink():
    cluster = CheckpointCluster()

    async def steps(call):
        cluster.disposal_gate = asyncio.Event()
        trigger = await call("POST", "/savepoint-disposal",
                             json={"savepoint-path": "file:/data/savepoints/sp-1"})
        path = f"/savepoint-disposal/{trigger.body['request-id']}"
        running = await call("GET", path)
        cluster.disposal_gate.set()
        return trigger, running, await poll_until_done(call, path)

    trigger, running, done = run(cluster, steps)
    check_spec("POST", "/savepoint-disposal", trigger)
    check_reference("/savepoint-disposal", trigger.body, "POST")
    check_spec("GET", "/savepoint-disposal/:triggerid", running)
    assert running.body == reference_body("077")
    check_spec("GET", "/savepoint-disposal/:triggerid", done)
    assert done.body == reference_body("078")
    assert cluster.disposed == ["file:/data/savepoints/sp-1"]


def test_savepoint_disposal_failure_and_bad_requests():
    cluster = CheckpointCluster()

    async def steps(call):
        trigger = await call("POST", "/savepoint-disposal",
                             json={"savepoint-path": "/tmp/not-a-savepoint"})
        done = await poll_until_done(call, f"/savepoint-disposal/{trigger.body['request-id']}")
        missing = await call("POST", "/savepoint-disposal", json={})
        wrong = await call("POST", "/savepoint-disposal", json={"savepoint-path": 3})
        return done, missing, wrong

    done, missing, wrong = run(cluster, steps)
    check_spec("GET", "/savepoint-disposal/:triggerid", done)
    cause = done.body["operation"]["failure-cause"]
    assert cause["class"] == "headwater.runtime.checkpoint.storage.CheckpointStorageError"
    assert "is not a savepoint" in cause["stack-trace"]
    assert (missing.status, missing.body) == (400, {"errors": [
        "Field savepoint-path must not be omitted or be null."]})
    assert wrong.status == 400


# -- the registry -----------------------------------------------------------------------


def test_completed_operations_expire_running_ones_do_not():
    now = [0.0]
    ops = AsyncOperations(keep_seconds=300, clock=lambda: now[0])

    async def go():
        gate = asyncio.Event()

        async def slow():
            await gate.wait()
            return "slow"

        async def fast():
            return "fast"

        slow_id = ops.trigger(("x",), slow)
        fast_id = ops.trigger(("x",), fast)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert ops.get(("x",), fast_id).result == "fast"
        now[0] = 299
        assert ops.get(("x",), fast_id) is not None
        now[0] = 301
        assert ops.get(("x",), fast_id) is None
        assert ops.get(("x",), slow_id) is not None  # still running
        assert ops.get(("y",), slow_id) is None
        gate.set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert ops.get(("x",), slow_id).result == "slow"
        now[0] = 700
        assert ops.get(("x",), slow_id) is None
        pending_id = ops.trigger(("x",), lambda: asyncio.sleep(60))
        await ops.close()
        assert isinstance(ops.get(("x",), pending_id).error, asyncio.CancelledError)

    asyncio.run(go())
