"""Bad input to the Kafka connector fails the job with a clear message (or, for
unreadable records when configured, skips them); the cluster stays healthy and the next
job runs."""

from __future__ import annotations

import json

import pytest

from headwater.testing import wait_for
from tests.integration.conftest import free_port, start_cluster, stop_cluster
from tests.integration.kafka_support import produce, read_all

JOB = '''
import sys
from headwater.api import RestartStrategies, StreamExecutionEnvironment
from headwater.connectors.kafka import (DeliveryGuarantee, JsonRowDeserializationSchema,
    KafkaOffsetsInitializer, KafkaRecordSerializationSchema, KafkaSink, KafkaSource,
    SimpleStringSchema)

bootstrap, source_topic, sink_topic, sink_bootstrap = sys.argv[1:5]
options = sys.argv[5:]
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.set_restart_strategy(RestartStrategies.no_restart())
builder = (KafkaSource.builder().set_bootstrap_servers(bootstrap).set_topics(source_topic)
           .set_bounded(KafkaOffsetsInitializer.latest())
           .set_property("client.timeout.ms", "3000")
           .set_value_only_deserializer(JsonRowDeserializationSchema.builder().build()))
if "skip" in options:
    builder.set_property("deserialization.skip-errors", "true")
sink = (KafkaSink.builder().set_bootstrap_servers(sink_bootstrap)
        .set_property("client.timeout.ms", "3000")
        .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(sink_topic)
                               .set_value_serialization_schema(SimpleStringSchema()).build())
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build())
env.from_source(builder.build(), None, "kafka").map(lambda d: d["n"]).sink_to(sink)
env.execute("kafka-bad-input")
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("kafka-bad"), taskmanagers=2, slots=1)
    yield c
    stop_cluster(c)


@pytest.fixture(scope="module")
def topics(kafka_broker):
    """A topic of JSON records with one that is not JSON (partition 1, offset 2)."""
    kafka_broker.create_topic("bad-in", 2)
    kafka_broker.create_topic("bad-out", 1)
    values = [json.dumps({"n": i}) for i in range(20)]
    values[5] = "{not json"  # 5 % 2 == 1: partition 1, its third record (offset 2)
    produce(kafka_broker, "bad-in", values, 2)
    return "bad-in", "bad-out"


def run(cluster, tmp_path, *args: str):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    return cluster.run(str(script), *args, check=False, timeout=240)


def assert_healthy(cluster) -> None:
    def healthy():
        overview = cluster.client.request("GET", "/overview")
        return overview["taskmanagers"] == 2 and overview["slots-available"] == 2
    wait_for(healthy, 30, 0.1, lambda: f"a healthy cluster: {cluster.client.request('GET', '/overview')}")


def test_unreadable_record_fails_the_job_naming_its_position(cluster, kafka_broker, topics,
                                                            tmp_path):
    proc = run(cluster, tmp_path, kafka_broker.bootstrap, *topics, kafka_broker.bootstrap)
    assert proc.returncode != 0
    assert "cannot deserialize the record at topic bad-in partition 1 offset 2" in proc.stderr
    assert_healthy(cluster)


def test_unreadable_record_is_skipped_when_configured(cluster, kafka_broker, topics, tmp_path):
    kafka_broker.create_topic("skipped-out", 1)  # its own: a failed job wrote to bad-out
    proc = run(cluster, tmp_path, kafka_broker.bootstrap, topics[0], "skipped-out",
               kafka_broker.bootstrap, "skip")
    assert proc.returncode == 0, proc.stderr
    got = sorted(int(v) for v in read_all(kafka_broker, "skipped-out", expect=19, timeout=30))
    assert got == [i for i in range(20) if i != 5]


def test_missing_topic_fails_naming_it(cluster, kafka_broker, topics, tmp_path):
    proc = run(cluster, tmp_path, kafka_broker.bootstrap, "no-such-topic", "bad-out",
               kafka_broker.bootstrap)
    assert proc.returncode != 0
    assert "Kafka topic 'no-such-topic' does not exist" in proc.stderr
    names = kafka_broker.admin().list_topics(timeout=10).topics
    assert "no-such-topic" not in names  # checking did not create it
    proc = run(cluster, tmp_path, kafka_broker.bootstrap, topics[0], "no-such-sink-topic",
               kafka_broker.bootstrap)
    assert proc.returncode != 0
    assert "Kafka topic 'no-such-sink-topic' does not exist" in proc.stderr
    assert_healthy(cluster)


def test_unreachable_broker_fails_after_the_timeout(cluster, kafka_broker, topics, tmp_path):
    nowhere = f"127.0.0.1:{free_port()}"
    proc = run(cluster, tmp_path, nowhere, *topics, kafka_broker.bootstrap)
    assert proc.returncode != 0
    assert f"Kafka broker {nowhere} unreachable" in proc.stderr
    proc = run(cluster, tmp_path, kafka_broker.bootstrap, *topics, nowhere, "skip")
    assert proc.returncode != 0
    assert f"Kafka broker {nowhere} unreachable" in proc.stderr
    assert_healthy(cluster)
    # and the next job runs
    proc = run(cluster, tmp_path, kafka_broker.bootstrap, *topics, kafka_broker.bootstrap, "skip")
    assert proc.returncode == 0, proc.stderr
