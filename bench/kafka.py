"""Benchmark: Kafka -> map -> Kafka on headwater at P=2 against a plain confluent-kafka
consume -> map -> produce loop in one process.

All of it runs in the same invocation against one tansu broker it starts itself (in
memory, on a free port): the input topic (4 partitions) is written once; each run reads
all of it and writes the mapped records to its own output topic.

* baseline: one process, one consumer (all partitions) and one producer, decoding,
  mapping and encoding each record, until everything is read and delivered;
* headwater P=2, AT_LEAST_ONCE and EXACTLY_ONCE sinks, checkpoints every second, a
  bounded source (``set_bounded(latest())``), on a mini cluster of 2 TaskManagers.

Throughput is records divided by the job's duration as the JobManager measured it (from
submission to FINISHED: scheduling, deployment and connecting count against headwater).
Target: AT_LEAST_ONCE at P=2 >= 1.0x the loop. Timings are printed, never asserted.

    python bench/kafka.py            # full size
    python bench/kafka.py --quick    # short mode for CI
"""

from __future__ import annotations

import argparse
import logging
import time

from _common import wait_finished
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from headwater.api import StreamExecutionEnvironment
from headwater.cluster.minicluster import MiniCluster
from headwater.config import Configuration
from headwater.connectors.kafka import (
    DeliveryGuarantee,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    SimpleStringSchema,
)
from headwater.testing.kafka_broker import TansuBroker

PARTITIONS = 4


def transform(value: str) -> str:
    """The map of both sides."""
    return value.upper()


def fill(broker: TansuBroker, topic: str, records: int) -> None:
    """Write the input topic once."""
    broker.create_topic(topic, PARTITIONS)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    for i in range(records):
        while True:
            try:
                producer.produce(topic, f"record-{i:09d}-payload".encode(),
                                 partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def baseline(broker: TansuBroker, source: str, sink: str, records: int) -> float:
    """Records per second of the plain consume -> map -> produce loop."""
    broker.create_topic(sink, PARTITIONS)
    start = time.perf_counter()
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench-loop",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(source, p, 0) for p in range(PARTITIONS)])
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    seen = 0
    eof: set[int] = set()
    while seen < records and len(eof) < PARTITIONS:
        for m in consumer.consume(2048, 0.1):
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                continue
            out = transform(m.value().decode()).encode()
            while True:
                try:
                    producer.produce(sink, out)
                    break
                except BufferError:
                    producer.poll(0.05)
            seen += 1
        producer.poll(0)
    assert producer.flush(60) == 0
    elapsed = time.perf_counter() - start
    consumer.close()
    assert seen == records, (seen, records)
    return records / elapsed


def run_headwater(cluster: MiniCluster, broker: TansuBroker, source: str, sink: str,
                  records: int, guarantee: DeliveryGuarantee) -> float:
    """Records per second of the job, by the JobManager's duration."""
    broker.create_topic(sink, PARTITIONS)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(1000)
    kafka_source = (KafkaSource.builder().set_bootstrap_servers(broker.bootstrap)
                    .set_topics(source).set_bounded(KafkaOffsetsInitializer.latest())
                    .set_value_only_deserializer(SimpleStringSchema()).build())
    kafka_sink = (KafkaSink.builder().set_bootstrap_servers(broker.bootstrap)
                  .set_record_serializer(KafkaRecordSerializationSchema.builder()
                                         .set_topic(sink)
                                         .set_value_serialization_schema(SimpleStringSchema())
                                         .build())
                  .set_delivery_guarantee(guarantee)
                  .set_transactional_id_prefix(f"bench-{sink}").build())
    env.from_source(kafka_source, None, "kafka").map(transform).sink_to(kafka_sink)
    job_id = cluster.submit(env.get_job_graph(f"kafka-{guarantee.name.lower()}"))
    graph = wait_finished(cluster, job_id)
    return records / (graph.duration() / 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000, help="input records")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()
    records = 200_000 if args.quick else args.records
    logging.getLogger("headwater").setLevel(logging.WARNING)
    with TansuBroker() as broker:
        fill(broker, "bench-in", records)
        base = max(baseline(broker, "bench-in", f"loop-out-{i}", records)
                   for i in range(args.repeat))
        with MiniCluster(Configuration(), taskmanagers=2) as cluster:
            alo = max(run_headwater(cluster, broker, "bench-in", f"alo-out-{i}", records,
                                    DeliveryGuarantee.AT_LEAST_ONCE)
                      for i in range(args.repeat))
            eo = max(run_headwater(cluster, broker, "bench-in", f"eo-out-{i}", records,
                                   DeliveryGuarantee.EXACTLY_ONCE)
                     for i in range(args.repeat))
    print(f"records: {records} ({PARTITIONS} partitions, tansu in memory)")
    print(f"plain consume->map->produce loop  : {base:12,.0f} records/s")
    print(f"headwater P=2 AT_LEAST_ONCE       : {alo:12,.0f} records/s   ratio to loop "
          f"{alo / base:5.2f}x (target 1.0x)")
    print(f"headwater P=2 EXACTLY_ONCE        : {eo:12,.0f} records/s   ratio to loop "
          f"{eo / base:5.2f}x")


if __name__ == "__main__":
    main()
