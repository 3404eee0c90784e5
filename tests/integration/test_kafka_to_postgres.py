"""examples/kafka_to_postgres.py end to end against a real broker (tansu) and a real
PostgreSQL server: clicks from Kafka, per-user minute windows, exactly-once upserts. A
TaskManager killed with kill -9 mid-job changes nothing in the table, and no prepared
transaction is left behind."""

from __future__ import annotations

import collections
import json

import pytest

from headwater.testing.fixtures import postgres  # noqa: F401 - the fixture
from tests.integration.conftest import EXAMPLES, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of, kill_a_taskmanager, wait_for_checkpoints
from tests.integration.kafka_support import produce

CLICKS, USERS, PARTITIONS, STEP_MS = 2400, 7, 4, 250


def clicks() -> list[str]:
    return [json.dumps({"user": f"u{i % USERS}", "ts": 1_700_000_000_000 + i * STEP_MS})
            for i in range(CLICKS)]


def expected() -> dict[tuple[str, int], int]:
    """(user, window start in s) -> clicks, computed directly from the input."""
    counts: collections.Counter = collections.Counter()
    for text in clicks():
        click = json.loads(text)
        counts[(click["user"], click["ts"] // 60_000 * 60)] += 1
    return dict(counts)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("k2pg"), taskmanagers=2, slots=1,
                      extra=("-D", "heartbeat.timeout=3000"))
    yield c
    stop_cluster(c)


def run_example(cluster, kafka_broker, postgres, topic: str, kill: bool):  # noqa: F811
    kafka_broker.create_topic(topic, PARTITIONS)
    produce(kafka_broker, topic, clicks(), PARTITIONS)
    postgres.query("DROP TABLE IF EXISTS clicks_per_minute")
    job_id = job_id_of(cluster.run(
        "-d", str(EXAMPLES / "kafka_to_postgres.py"), "--bootstrap", kafka_broker.bootstrap,
        "--topic", topic, "--url", postgres.jdbc_url, "--bounded", "--pace-ms", "4",
        "--checkpoint-interval", "300").stdout)
    if kill:
        cluster.wait_until_running(job_id)
        wait_for_checkpoints(cluster, job_id, 2)
        kill_a_taskmanager(cluster, job_id)
    job = cluster.wait_for_state(job_id, {"FINISHED", "FAILED"}, timeout=240)
    assert job["state"] == "FINISHED"
    table = {(user, int(minute)): clicks for user, minute, clicks in postgres.query(
        "SELECT user_id, extract(epoch FROM minute)::bigint, clicks FROM clicks_per_minute")}
    assert postgres.query("SELECT gid FROM pg_prepared_xacts") == []
    return job_id, table


def test_clicks_from_kafka_land_in_postgres_exactly_once_through_a_kill(
        cluster, kafka_broker, postgres):  # noqa: F811
    clean_job, clean = run_example(cluster, kafka_broker, postgres, "clicks-clean", False)
    assert clean == expected()
    killed_job, after_kill = run_example(cluster, kafka_broker, postgres, "clicks-kill", True)
    assert after_kill == clean
    restored = cluster.client.request("GET", f"/jobs/{killed_job}/checkpoints")["counts"]
    assert restored["restored"] >= 1
