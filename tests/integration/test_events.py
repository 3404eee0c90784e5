"""``GET /events`` on a real cluster: job status changes, checkpoints, exceptions,
TaskManager losses and subscribed metric values arrive as server-sent events while they
happen."""

from __future__ import annotations

import json
import signal
import threading
import urllib.request

import pytest

from headwater.testing import wait_for
from tests.integration.conftest import EXAMPLES, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of


class EventReader:
    """Reads an event stream in a background thread into ``events`` [(type, data)]."""

    def __init__(self, url: str) -> None:
        self.events: list[tuple[str, dict]] = []
        self._response = urllib.request.urlopen(url, timeout=60)
        self.content_type = self._response.headers["Content-Type"]
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind = None
        try:
            for raw in self._response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.events.append((kind, json.loads(line[6:])))
        except (OSError, ValueError, AttributeError):  # closed under the reader
            pass

    def of(self, kind: str, **match) -> list[dict]:
        """The events of ``kind`` whose fields equal ``match``."""
        return [d for k, d in list(self.events)
                if k == kind and all(d.get(f) == v for f, v in match.items())]

    def wait(self, kind: str, timeout: float = 60, **match) -> dict:
        """The first event of ``kind`` matching ``match``, waiting for it."""
        return wait_for(lambda: (found := self.of(kind, **match)) and found[0], timeout, 0.05,
                        lambda: f"a {kind} event {match}; got {self.events[-10:]}")

    def close(self) -> None:
        self._response.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("events")
    c = start_cluster(tmp, taskmanagers=2, extra=(
        "-D", "execution.checkpointing.interval=300",
        "-D", f"state.checkpoints.dir={tmp / 'checkpoints'}",
        "-D", "restart-strategy=fixed-delay",
        "-D", "restart-strategy.fixed-delay.delay=200"))
    yield c
    stop_cluster(c)


def test_a_job_s_life_arrives_as_events(cluster):
    everything = EventReader(f"{cluster.url}/events")
    assert everything.content_type.startswith("text/event-stream")
    everything.wait("hello")
    job_id = job_id_of(cluster.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "100").stdout)
    jid_only = EventReader(f"{cluster.url}/events?topics=job-status,checkpoint&jobs={job_id}")
    try:
        created = everything.wait("job-status", jid=job_id, status="CREATED")
        assert created["name"] == "sensor averages"
        everything.wait("job-status", jid=job_id, status="RUNNING")
        cluster.wait_until_running(job_id)
        checkpoint = jid_only.wait("checkpoint", jid=job_id, status="COMPLETED")
        assert checkpoint["id"] >= 1 and checkpoint["is_savepoint"] is False
        # The same checkpoint is in the REST history.
        history = cluster.client.request("GET", f"/jobs/{job_id}/checkpoints")["history"]
        assert checkpoint["id"] in {c["id"] for c in history} or \
            history[-1]["id"] > checkpoint["id"]

        # kill -9 a TaskManager running the job: its loss, the failure and the restart.
        tms = cluster.client.request("GET", "/taskmanagers")["taskmanagers"]
        victim_pid = next(p for p in cluster.processes()
                          if "task_executor" in " ".join(p.cmdline()))
        victim_pid.send_signal(signal.SIGKILL)
        lost = everything.wait("taskmanager", change="lost")
        assert lost["id"] in {t["id"] for t in tms} and "jid" not in lost
        failure = everything.wait("exception", jid=job_id)
        assert lost["id"] in failure["exception"] or "TaskManager" in failure["exception"]
        everything.wait("job-status", jid=job_id, status="RESTARTING")
        everything.wait("taskmanager", change="registered")  # the replacement
        wait_for(lambda: len(everything.of("job-status", jid=job_id, status="RUNNING")) >= 2,
                 60, 0.1, "RUNNING again after the restart")
        # The filtered stream saw none of that but the status changes of its job.
        assert not [k for k, _ in jid_only.events if k in ("taskmanager", "exception")]
        assert jid_only.of("job-status", jid=job_id, status="RESTARTING")

        cluster.client.request("PATCH", f"/jobs/{job_id}")  # cancel
        cancelled = everything.wait("job-status", jid=job_id, status="CANCELED")
        assert cancelled["previous"] == "CANCELLING"
    finally:
        everything.close()
        jid_only.close()


def test_subscribed_metrics_arrive_with_the_values_rest_reports(cluster):
    job_id = job_id_of(cluster.run("-d", str(EXAMPLES / "streaming.py"), "--rate", "200").stdout)
    try:
        job = cluster.wait_until_running(job_id)
        source = job["vertices"][0]["id"]
        metric = "0.numRecordsOut"
        tm = cluster.client.request("GET", "/taskmanagers")["taskmanagers"][0]["id"]
        reader = EventReader(f"{cluster.url}/events?topics=job-status&metrics="
                             f"jobs/{job_id}/vertices/{source}/{metric},"
                             f"taskmanagers/{tm}/Status.JVM.Threads.Count,"
                             f"jobmanager/Status.JVM.CPU.Load,jobs/{job_id}/uptime")
        try:
            def counts():
                return [int(v["value"]) for m in reader.of("metrics") for v in m["values"]
                        if v["id"] == metric]
            wait_for(lambda: len(counts()) >= 3 and counts()[-1] > counts()[0], 30, 0.1,
                     lambda: f"growing {metric} values: {reader.events[-3:]}")
            latest = reader.of("metrics")[-1]
            resources = {v["resource"] for v in latest["values"]}
            assert {f"jobs/{job_id}/vertices/{source}", f"taskmanagers/{tm}",
                    "jobmanager", f"jobs/{job_id}"} <= resources
            rest = cluster.client.request("GET", f"/jobs/{job_id}/vertices/{source}/metrics",
                                          params={"get": metric})
            assert int(rest[0]["value"]) >= counts()[-1]
        finally:
            reader.close()
    finally:
        cluster.client.request("PATCH", f"/jobs/{job_id}")
