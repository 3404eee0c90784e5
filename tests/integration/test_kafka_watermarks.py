"""Per-partition watermarks of the Kafka source, with idleness, on a real cluster: one
subtask reads two partitions; its watermark is the minimum of the partitions', so a
partition that is behind holds event-time windows back until it goes idle
(``with_idleness``), as Flink's KafkaSource does per split. And the end of a bounded
source restored with its last records (issue 11)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.integration.conftest import start_cluster, stop_cluster
from tests.integration.kafka_support import read_all

JOB = '''
import sys
from headwater.api import (Duration, ProcessWindowFunction, StreamExecutionEnvironment, Time,
                           TumblingEventTimeWindows, WatermarkStrategy)
from headwater.connectors.kafka import (DeliveryGuarantee, KafkaRecordSerializationSchema,
    KafkaSink, KafkaSource, SimpleStringSchema)

bootstrap, source_topic, sink_topic, idleness = sys.argv[1:5]


class Count(ProcessWindowFunction):
    def process(self, key, context, elements):
        yield f"{context.window().start}:{len(list(elements))}"


strategy = WatermarkStrategy.for_monotonous_timestamps()
if idleness != "0":
    strategy = strategy.with_idleness(Duration.of_millis(int(idleness)))
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
source = (KafkaSource.builder().set_bootstrap_servers(bootstrap).set_topics(source_topic)
          .set_value_only_deserializer(SimpleStringSchema()).build())
sink = (KafkaSink.builder().set_bootstrap_servers(bootstrap)
        .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(sink_topic)
                               .set_value_serialization_schema(SimpleStringSchema()).build())
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build())
(env.from_source(source, strategy, "kafka")
    .key_by(lambda v: 0).window(TumblingEventTimeWindows.of(Time.seconds(1)))
    .process(Count()).sink_to(sink))
env.execute("kafka-watermarks")
'''


def setup(kafka_broker, name: str) -> tuple[str, str]:
    """Both partitions have event times 1000..1990 (Kafka timestamps, 100 records per
    second of event time); partition 0 gets more later (:func:`feed`)."""
    source, sink = f"{name}-in", f"{name}-out"
    kafka_broker.create_topic(source, 2)
    kafka_broker.create_topic(sink, 1)
    for part in (0, 1):
        produce_to(kafka_broker, source, part, [(f"r{t}", t) for t in range(1000, 2000, 10)])
    return source, sink


def feed(kafka_broker, topic: str, stop: threading.Event) -> None:
    """Partition 0 stays active: event times 2000..5990, a tenth of a second of event
    time every 0.15 s."""
    for start in range(2000, 6000, 100):
        if stop.wait(0.15):
            return
        produce_to(kafka_broker, topic, 0, [(f"r{t}", t) for t in range(start, start + 100, 10)])


def produce_to(kafka_broker, topic: str, partition: int, records) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    for value, ts in records:
        producer.produce(topic, value.encode(), partition=partition, timestamp=ts)
    assert producer.flush(30) == 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("kafka-wm"), taskmanagers=1, slots=1)
    yield c
    stop_cluster(c)


def run(cluster, tmp_path, kafka_broker, name: str, idleness: str) -> list[str]:
    source, sink = setup(kafka_broker, name)
    script = tmp_path / "job.py"
    script.write_text(JOB)
    out = cluster.run("-d", str(script), kafka_broker.bootstrap, source, sink, idleness)
    job_id = out.stdout.split("JobID ")[1].split()[0]
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(kafka_broker, source, stop))
    try:
        cluster.wait_until_running(job_id)
        feeder.start()
        if idleness == "0":  # nothing may fire: watch for a while
            return read_all(kafka_broker, sink, expect=1, timeout=10, settle=0)
        return read_all(kafka_broker, sink, expect=4, timeout=60, settle=2)
    finally:
        stop.set()
        if feeder.is_alive():
            feeder.join()
        cluster.client.request("PATCH", f"/jobs/{job_id}")


def test_a_partition_behind_holds_the_watermark(cluster, kafka_broker, tmp_path):
    # watermark = min(partition 0, partition 1) <= 1989: inside the first window, so
    # nothing fires while partition 0 moves on (partition 1 never counts as idle).
    got = run(cluster, tmp_path, kafka_broker, "wm-held", "0")
    assert got == []


def test_an_idle_partition_releases_the_watermark(cluster, kafka_broker, tmp_path):
    # after 500 ms without records partition 1 is idle: the watermark follows partition
    # 0 and the windows up to [4000, 5000) fire while the job runs.
    got = run(cluster, tmp_path, kafka_broker, "wm-idle", "500")
    assert got == ["1000:200", "2000:100", "3000:100", "4000:100"]


def test_a_restored_bounded_source_that_ends_at_once_moves_event_time_to_the_end(
        kafka_broker):
    """Issue 11, the interleaving of the failed kill runs, forced: restored with the last
    records of its partitions, the source reads them, finds no partition left at its
    next periodic watermark emission (every ms here; the chain takes 2 ms a batch),
    announces itself idle and ends. The final MAX watermark must still count
    downstream, or the windows that only the end of input fires never fire."""
    from headwater.api import WatermarkStrategy
    from headwater.connectors.kafka import (
        KafkaOffsetsInitializer,
        KafkaSource,
        SimpleStringSchema,
    )
    from headwater.runtime.network.events import MAX_WATERMARK, WatermarkStatus
    from headwater.runtime.operators.base import OperatorContext, StreamOperator
    from tests.unit.test_source_driver import downstream_watermark, run_source

    class Slow(StreamOperator):
        def process_batch(self, values, timestamps):
            time.sleep(0.002)
            return values, timestamps

    topic = "restored-end"
    kafka_broker.create_topic(topic, 2)
    for part in (0, 1):
        produce_to(kafka_broker, topic, part, [(f"r{t}", t) for t in range(1000, 1200, 10)])
    every_ms = type("Config", (), {"get_auto_watermark_interval": lambda self: 1})()
    source = (KafkaSource.builder().set_bootstrap_servers(kafka_broker.bootstrap)
              .set_topics(topic).set_value_only_deserializer(SimpleStringSchema())
              .set_bounded(KafkaOffsetsInitializer.latest()).build()
              .with_watermark_strategy(WatermarkStrategy.for_monotonous_timestamps(),
                                       every_ms))
    op = source.create_operator()
    op.setup(OperatorContext(job_id="j", vertex_id="v", operator_id="o", task_name="kafka",
                             operator_name="kafka", subtask_index=0, parallelism=1,
                             max_parallelism=128, attempt_number=1))
    op.initialize_state({op.state_name: ("split", [(topic, 0, 17, 20), (topic, 1, 18, 20)]),
                         op.ASSIGNED: ("union", [(topic, 0), (topic, 1)])})
    op.open()
    try:
        sent = run_source(op, Slow())
    finally:
        op.close()
    assert sorted(v for v in sent if isinstance(v, str)) == ["r1170", "r1180", "r1180",
                                                             "r1190", "r1190"]
    assert WatermarkStatus(idle=True) in sent  # the interleaving happened
    assert downstream_watermark(sent) == MAX_WATERMARK
