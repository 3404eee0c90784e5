"""Kafka source offsets through a savepoint: stop with a savepoint at parallelism 2,
resume at 3, and every input record is read exactly once (counted by key); partitions
of topics created while the job runs are found by discovery (a topic pattern) and read
from their start. (tansu cannot add partitions to a topic: CreatePartitions is not
supported.)"""

from __future__ import annotations

import collections
import re

import pytest

from tests.integration.conftest import headwater, start_cluster, stop_cluster
from tests.integration.helpers import job_id_of
from tests.integration.kafka_support import produce, read_all

JOB = '''
import sys, time
from headwater.api import StreamExecutionEnvironment
from headwater.connectors.kafka import (DeliveryGuarantee, KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema, KafkaSink, KafkaSource, SimpleStringSchema)

bootstrap, source_topic, sink_topic, parallelism = sys.argv[1:5]
builder = KafkaSource.builder()
if source_topic.endswith("*"):  # a pattern: topics created later are discovered
    builder.set_topic_pattern(source_topic)
else:
    builder.set_topics(source_topic)


def slow(record):
    time.sleep(0.003)  # paces the job so that the savepoint comes mid-stream
    return record


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(int(parallelism))
env.enable_checkpointing(500)
source = (builder.set_bootstrap_servers(bootstrap)
          .set_group_id("rescale").set_starting_offsets(KafkaOffsetsInitializer.earliest())
          .set_property("partition.discovery.interval.ms", "500")
          .set_value_only_deserializer(SimpleStringSchema()).build())
sink = (KafkaSink.builder().set_bootstrap_servers(bootstrap)
        .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(sink_topic)
                               .set_value_serialization_schema(SimpleStringSchema()).build())
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build())
env.from_source(source, None, "kafka").uid("kafka").map(slow).uid("slow").sink_to(sink).uid("sink")
env.execute("kafka-rescale")
'''

KEYS = 7


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("kafka-rescale"), taskmanagers=3, slots=1)
    yield c
    stop_cluster(c)


def records(start: int, stop: int) -> list[str]:
    return [f"k{i % KEYS}:{i}" for i in range(start, stop)]


def test_savepoint_stop_and_resume_at_higher_parallelism(cluster, kafka_broker, tmp_path):
    source, sink = "rescale-in", "rescale-out"
    kafka_broker.create_topic(source, 5)
    kafka_broker.create_topic(sink, 3)
    first = records(0, 3000)
    produce(kafka_broker, source, first, 5)
    script = tmp_path / "job.py"
    script.write_text(JOB)
    job_id = job_id_of(cluster.run("-d", str(script), kafka_broker.bootstrap, source, sink,
                                   "2").stdout)
    cluster.wait_until_running(job_id)
    # let it read part of the input, then stop with a savepoint
    before = read_all(kafka_broker, sink, expect=600, timeout=60, settle=0)
    assert len(before) >= 600
    proc = headwater("stop", "-m", f"127.0.0.1:{cluster.port}", "--savepoint-path",
                     str(tmp_path / "sp"), job_id)
    location = re.search(r"(file:\S+savepoint-[0-9a-f-]+)", proc.stdout).group(1)
    assert cluster.wait_for_state(job_id, {"FINISHED", "FAILED", "CANCELED"},
                                  timeout=60)["state"] == "FINISHED"
    stopped_at = len(read_all(kafka_broker, sink))
    assert stopped_at < len(first), "the savepoint came mid-stream"

    resumed = job_id_of(cluster.run("-d", "-s", location, str(script), kafka_broker.bootstrap,
                                    source, sink, "3").stdout)
    cluster.wait_until_running(resumed)
    assert cluster.client.job(resumed)["vertices"][0]["parallelism"] == 3
    second = records(3000, 4000)
    produce(kafka_broker, source, second, 5)
    total = first + second
    got = read_all(kafka_broker, sink, expect=len(total), timeout=120, settle=3)
    cluster.client.request("PATCH", f"/jobs/{resumed}")
    by_key = collections.Counter(v.split(":")[0] for v in got)
    assert by_key == collections.Counter(v.split(":")[0] for v in total)
    assert collections.Counter(got) == collections.Counter(total)


def test_partition_discovery_of_new_topics_matching_the_pattern(cluster, kafka_broker, tmp_path):
    kafka_broker.create_topic("disc-a", 2)
    kafka_broker.create_topic("discovered-out", 2)
    first = records(0, 500)
    produce(kafka_broker, "disc-a", first, 2)
    script = tmp_path / "job.py"
    script.write_text(JOB)
    job_id = job_id_of(cluster.run("-d", str(script), kafka_broker.bootstrap, "disc-.*",
                                   "discovered-out", "2").stdout)
    try:
        cluster.wait_until_running(job_id)
        assert len(read_all(kafka_broker, "discovered-out", expect=len(first), timeout=60)) == len(first)
        kafka_broker.create_topic("disc-b", 3)
        second = records(500, 1100)
        produce(kafka_broker, "disc-b", second, 3)
        got = read_all(kafka_broker, "discovered-out", expect=len(first) + len(second), timeout=60,
                       settle=2)
        assert collections.Counter(got) == collections.Counter(first + second)
    finally:
        cluster.client.request("PATCH", f"/jobs/{job_id}")
