"""Starting offsets of the Kafka source against a real broker: earliest, latest, a
timestamp, the group's committed offsets (and a clear failure when there are none)."""

from __future__ import annotations

import itertools

import pytest

from tests.integration.conftest import start_cluster, stop_cluster
from tests.integration.kafka_support import ck, read_all

JOB = '''
import sys
from headwater.api import RestartStrategies, StreamExecutionEnvironment
from headwater.connectors.kafka import (DeliveryGuarantee, KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema, KafkaSink, KafkaSource, SimpleStringSchema)

bootstrap, source_topic, sink_topic, start = sys.argv[1:5]
starts = {"earliest": KafkaOffsetsInitializer.earliest(),
          "latest": KafkaOffsetsInitializer.latest(),
          "committed": KafkaOffsetsInitializer.committed_offsets(),
          "committed-or-earliest": KafkaOffsetsInitializer.committed_offsets("earliest")}
initializer = starts.get(start) or KafkaOffsetsInitializer.timestamp(int(start))
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.set_restart_strategy(RestartStrategies.no_restart())
source = (KafkaSource.builder().set_bootstrap_servers(bootstrap).set_topics(source_topic)
          .set_group_id(sys.argv[5] if len(sys.argv) > 5 else "offsets")
          .set_starting_offsets(initializer).set_bounded(KafkaOffsetsInitializer.latest())
          .set_value_only_deserializer(SimpleStringSchema()).build())
sink = (KafkaSink.builder().set_bootstrap_servers(bootstrap)
        .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(sink_topic)
                               .set_value_serialization_schema(SimpleStringSchema()).build())
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build())
env.from_source(source, None, "kafka").sink_to(sink)
env.execute("kafka-offsets")
'''

SINKS = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("kafka-offsets"), taskmanagers=2, slots=1)
    yield c
    stop_cluster(c)


@pytest.fixture(scope="module")
def topic(kafka_broker):
    """Partition 0: r0..r9 at times 1000..10000; partition 1: s0..s9 at 1500..10500
    (each record its own batch, so timestamp lookups are exact on any broker)."""
    kafka_broker.create_topic("offsets-in", 2)
    producer = ck.Producer({"bootstrap.servers": kafka_broker.bootstrap})
    for i in range(10):
        producer.produce("offsets-in", f"r{i}".encode(), partition=0, timestamp=1000 * (i + 1))
        producer.produce("offsets-in", f"s{i}".encode(), partition=1,
                         timestamp=1000 * (i + 1) + 500)
        assert producer.flush(30) == 0
    return "offsets-in"


def run(cluster, tmp_path, kafka_broker, topic: str, start: str, *extra: str):
    sink = f"offsets-out-{next(SINKS)}"
    kafka_broker.create_topic(sink, 1)
    script = tmp_path / "job.py"
    script.write_text(JOB)
    proc = cluster.run(str(script), kafka_broker.bootstrap, topic, sink, start, *extra,
                       check=False, timeout=240)
    return proc, sink


@pytest.mark.parametrize("start, expected", [
    ("earliest", [f"r{i}" for i in range(10)] + [f"s{i}" for i in range(10)]),
    ("latest", []),
    ("6000", [f"r{i}" for i in range(5, 10)] + [f"s{i}" for i in range(5, 10)]),
    ("6200", [f"r{i}" for i in range(6, 10)] + [f"s{i}" for i in range(5, 10)]),
    ("99000", []),
])
def test_starting_offsets(cluster, kafka_broker, topic, tmp_path, start, expected):
    proc, sink = run(cluster, tmp_path, kafka_broker, topic, start)
    assert proc.returncode == 0, proc.stderr
    assert sorted(read_all(kafka_broker, sink)) == sorted(expected)


def test_committed_offsets(cluster, kafka_broker, topic, tmp_path):
    consumer = ck.Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": "mine"})
    consumer.commit(offsets=[ck.TopicPartition(topic, 0, 7), ck.TopicPartition(topic, 1, 2)],
                    asynchronous=False)
    consumer.close()
    proc, sink = run(cluster, tmp_path, kafka_broker, topic, "committed", "mine")
    assert proc.returncode == 0, proc.stderr
    assert sorted(read_all(kafka_broker, sink)) == sorted(
        [f"r{i}" for i in range(7, 10)] + [f"s{i}" for i in range(2, 10)])
    # a group without committed offsets: fail clearly, or start as the reset says
    proc, _ = run(cluster, tmp_path, kafka_broker, topic, "committed", "nobody")
    assert proc.returncode != 0
    assert "no committed offset for offsets-in-" in proc.stderr
    proc, sink = run(cluster, tmp_path, kafka_broker, topic, "committed-or-earliest", "nobody")
    assert proc.returncode == 0, proc.stderr
    assert len(read_all(kafka_broker, sink)) == 20
