"""``KafkaSource``: Flink's builder, in snake_case::

    source = (KafkaSource.builder()
              .set_bootstrap_servers("127.0.0.1:9092")
              .set_topics("clicks")
              .set_group_id("click-counter")
              .set_starting_offsets(KafkaOffsetsInitializer.earliest())
              .set_value_only_deserializer(SimpleStringSchema())
              .build())
    env.from_source(source, WatermarkStrategy.for_monotonous_timestamps(), "clicks")

See :mod:`headwater.connectors.kafka.source_operator` for what runs.
"""

from __future__ import annotations

import copy
from typing import Any

from headwater.connectors.base import Source
from headwater.connectors.kafka.client import CONNECTOR_PROPERTIES
from headwater.connectors.kafka.offsets import KafkaOffsetsInitializer
from headwater.connectors.kafka.serialization import deserializer_function


class KafkaSource(Source):
    """A Kafka source: partitions of topics (or a topic pattern) read by the subtasks."""

    def __init__(self, builder: KafkaSourceBuilder) -> None:
        self.bootstrap_servers = builder.bootstrap_servers
        self.topics = builder.topics
        self.topic_pattern = builder.topic_pattern
        self.group_id = builder.group_id
        self.starting_offsets = builder.starting_offsets
        self.stopping_offsets = builder.stopping_offsets
        self.deserializer = builder.deserializer
        self.properties = dict(builder.properties)
        self.watermark_strategy: Any = None
        self.execution_config: Any = None

    @staticmethod
    def builder() -> KafkaSourceBuilder:
        """A builder (``set_bootstrap_servers``, ``set_topics``... ``build``)."""
        return KafkaSourceBuilder()

    def with_watermark_strategy(self, strategy: Any, config: Any = None) -> KafkaSource:
        """A copy that assigns timestamps and generates watermarks per partition
        (``env.from_source`` calls this with the strategy it is given)."""
        other = copy.copy(self)
        other.watermark_strategy = strategy
        other.execution_config = config
        return other

    def is_bounded(self) -> bool:
        """Whether stopping offsets were set (``set_bounded``)."""
        return self.stopping_offsets is not None

    def create_operator(self) -> Any:
        """The source operator the environment adds to the job."""
        from headwater.connectors.kafka.source_operator import KafkaSourceOperator

        return KafkaSourceOperator(self)


class KafkaSourceBuilder:
    """Flink's ``KafkaSourceBuilder`` (snake_case names)."""

    def __init__(self) -> None:
        self.bootstrap_servers: str | None = None
        self.topics: list[str] | None = None
        self.topic_pattern: str | None = None
        self.group_id: str | None = None
        self.starting_offsets = KafkaOffsetsInitializer.earliest()
        self.stopping_offsets: KafkaOffsetsInitializer | None = None
        self.deserializer: Any = None
        self.properties: dict[str, str] = {}

    def set_bootstrap_servers(self, bootstrap_servers: str) -> KafkaSourceBuilder:
        """``host:port[,host:port...]`` of the brokers."""
        self.bootstrap_servers = str(bootstrap_servers)
        return self

    def set_topics(self, *topics: str | list[str]) -> KafkaSourceBuilder:
        """Read these topics (names, or one list of names)."""
        names: list[str] = []
        for t in topics:
            names.extend([t] if isinstance(t, str) else list(t))
        if not names:
            raise ValueError("set_topics needs at least one topic")
        self.topics, self.topic_pattern = names, None
        return self

    def set_topic_pattern(self, topic_pattern: str) -> KafkaSourceBuilder:
        """Read every topic whose whole name matches the regular expression (new matching
        topics are found by partition discovery)."""
        self.topic_pattern, self.topics = str(topic_pattern), None
        return self

    def set_group_id(self, group_id: str) -> KafkaSourceBuilder:
        """The consumer group offsets are committed to on checkpoints (monitoring only:
        positions come from checkpoints)."""
        self.group_id = str(group_id)
        return self

    def set_starting_offsets(self, initializer: KafkaOffsetsInitializer) -> KafkaSourceBuilder:
        """Where partitions start on a fresh start (default: earliest). Partitions found
        later by discovery start at their earliest offset, as in Flink."""
        self.starting_offsets = initializer
        return self

    def set_bounded(self, stopping_offsets: KafkaOffsetsInitializer) -> KafkaSourceBuilder:
        """Stop each partition at these offsets (e.g. ``latest()``: the end when the job
        starts) and finish the job then; discovery is off for bounded sources."""
        self.stopping_offsets = stopping_offsets
        return self

    def set_unbounded(self, stopping_offsets: KafkaOffsetsInitializer) -> KafkaSourceBuilder:
        """Flink's ``set_unbounded``: here the same as ``set_bounded``."""
        return self.set_bounded(stopping_offsets)

    def set_value_only_deserializer(self, schema: Any) -> KafkaSourceBuilder:
        """Records are ``schema.deserialize(value_bytes)`` (e.g. ``SimpleStringSchema()``)."""
        deserializer_function(schema)
        self.deserializer = schema
        return self

    def set_deserializer(self, schema: Any) -> KafkaSourceBuilder:
        """Same as ``set_value_only_deserializer``."""
        return self.set_value_only_deserializer(schema)

    def set_client_id_prefix(self, prefix: str) -> KafkaSourceBuilder:
        """Prefix of the consumers' client ids."""
        return self.set_property("client.id.prefix", prefix)

    def set_property(self, key: str, value: Any) -> KafkaSourceBuilder:
        """A librdkafka consumer property, or one of the connector's own:
        ``partition.discovery.interval.ms``, ``deserialization.skip-errors``,
        ``client.timeout.ms``."""
        self.properties[str(key)] = str(value)
        return self

    def set_properties(self, properties: dict[str, Any]) -> KafkaSourceBuilder:
        """Several properties at once."""
        for k, v in properties.items():
            self.set_property(k, v)
        return self

    def build(self) -> KafkaSource:
        """The source (checks that the required settings are there)."""
        if not self.bootstrap_servers:
            raise ValueError("KafkaSource needs bootstrap servers (set_bootstrap_servers)")
        if not self.topics and self.topic_pattern is None:
            raise ValueError("KafkaSource needs topics (set_topics or set_topic_pattern)")
        if self.deserializer is None:
            raise ValueError("KafkaSource needs a deserializer (set_value_only_deserializer)")
        for key in ("partition.discovery.interval.ms", "client.timeout.ms"):
            int(self.properties.get(key, CONNECTOR_PROPERTIES[key]))
        return KafkaSource(self)
