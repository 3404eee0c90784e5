"""The Kafka connector's pieces that need no broker: builders, schemas, the partition
assignment rule and the per-partition watermark multiplexer."""

from __future__ import annotations

import pytest

from headwater.api import Duration, WatermarkStrategy
from headwater.connectors.kafka import (
    DeliveryGuarantee,
    JsonRowDeserializationSchema,
    JsonRowSerializationSchema,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    SimpleStringSchema,
)
from headwater.connectors.kafka.source_operator import owner
from headwater.connectors.kafka.watermarks import PartitionWatermarks


class Output:
    """Records what the multiplexer sends to the task."""

    def __init__(self) -> None:
        self.events: list = []

    def emit_watermark(self, watermark: int) -> None:
        self.events.append(watermark)

    def mark_idle(self) -> None:
        self.events.append("idle")

    def mark_active(self) -> None:
        self.events.append("active")


def test_schemas_round_trip():
    assert SimpleStringSchema().deserialize("héllo".encode()) == "héllo"
    assert SimpleStringSchema().serialize(42) == b"42"
    assert SimpleStringSchema().deserialize(None) is None
    data = JsonRowSerializationSchema.builder().build().serialize({"a": [1, 2]})
    assert data == b'{"a":[1,2]}'
    assert JsonRowDeserializationSchema.builder().build().deserialize(data) == {"a": [1, 2]}
    with pytest.raises(ValueError):
        JsonRowDeserializationSchema().deserialize(b"{nope")
    assert JsonRowDeserializationSchema().ignore_parse_errors().deserialize(b"{nope") is None


def test_builders_check_required_settings():
    with pytest.raises(ValueError, match="bootstrap"):
        KafkaSource.builder().set_topics("t").build()
    with pytest.raises(ValueError, match="topics"):
        KafkaSource.builder().set_bootstrap_servers("h:1").build()
    with pytest.raises(ValueError, match="deserializer"):
        KafkaSource.builder().set_bootstrap_servers("h:1").set_topics("t").build()
    record = (KafkaRecordSerializationSchema.builder().set_topic("out")
              .set_value_serialization_schema(SimpleStringSchema()).build())
    with pytest.raises(ValueError, match="transactional id prefix"):
        (KafkaSink.builder().set_bootstrap_servers("h:1").set_record_serializer(record)
         .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE).build())
    with pytest.raises(ValueError, match="value serialization"):
        KafkaRecordSerializationSchema.builder().set_topic("out").build()
    with pytest.raises(ValueError, match="reset strategy"):
        KafkaOffsetsInitializer.committed_offsets("sideways")
    source = (KafkaSource.builder().set_bootstrap_servers("h:1").set_topics("a", "b")
              .set_value_only_deserializer(SimpleStringSchema())
              .set_bounded(KafkaOffsetsInitializer.latest()).build())
    assert source.topics == ["a", "b"] and source.stopping_offsets.kind == "latest"
    with_wm = source.with_watermark_strategy(WatermarkStrategy.for_monotonous_timestamps())
    assert with_wm.watermark_strategy is not None and source.watermark_strategy is None


def test_partitions_are_spread_evenly_and_deterministically():
    for parallelism in (1, 2, 3, 5):
        owners = [owner("clicks", p, parallelism) for p in range(10 * parallelism)]
        assert sorted(set(owners)) == list(range(parallelism))
        assert all(owners.count(i) == 10 for i in range(parallelism))
        assert owners == [owner("clicks", p, parallelism) for p in range(10 * parallelism)]


def test_the_watermark_is_the_minimum_over_partitions():
    wm = PartitionWatermarks(WatermarkStrategy.for_monotonous_timestamps())
    out = Output()
    wm.add(("t", 0))
    wm.add(("t", 1))
    wm.on_events(("t", 0), ["a", "b"], [100, 500])
    wm.on_periodic_emit(out)
    assert out.events == []  # partition 1 has no watermark yet
    wm.on_events(("t", 1), ["c"], [300])
    wm.on_periodic_emit(out)
    assert out.events == [299]
    wm.remove(("t", 1))  # a finished partition no longer holds it back
    wm.on_periodic_emit(out)
    assert out.events == [299, 499]


def test_idle_partitions_are_left_out_and_all_idle_marks_the_subtask_idle():
    now = [0.0]
    strategy = WatermarkStrategy.for_monotonous_timestamps().with_idleness(
        Duration.of_millis(1000))
    wm = PartitionWatermarks(strategy)
    for generator, _ in (wm._of(("t", 0)), wm._of(("t", 1))):
        generator.timer.clock = lambda: now[0]
    out = Output()
    wm.on_events(("t", 0), ["a"], [1000])
    wm.on_events(("t", 1), ["b"], [200])
    wm.on_periodic_emit(out)
    assert out.events == [199]
    for step in (0.5, 2.0):  # partition 1 stays quiet; partition 0 gets records
        now[0] += step
        wm.on_events(("t", 0), ["a"], [2000])
        wm.on_periodic_emit(out)
    assert out.events == [199, 1999]
    for _ in range(3):  # now partition 0 is quiet too
        now[0] += 2.0
        wm.on_periodic_emit(out)
    assert out.events == [199, 1999, "idle"]
    wm.on_events(("t", 1), ["b"], [3000])
    wm.on_periodic_emit(out)
    assert out.events == [199, 1999, "idle", "active", 2999]
