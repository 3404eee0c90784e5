"""``KafkaRecordSerializationSchema``: how a record becomes a Kafka record (topic, key,
value, partition), with Flink's builder::

    (KafkaRecordSerializationSchema.builder()
     .set_topic("counts")
     .set_key_serialization_schema(lambda r: r[0].encode())
     .set_value_serialization_schema(SimpleStringSchema())
     .build())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headwater.connectors.kafka.serialization import serializer_function


class KafkaRecordSerializationSchema:
    """Topic (fixed or chosen per record), optional key, value and partitioner."""

    def __init__(self, topic: str | None, topic_selector: Callable[[Any], str] | None,
                 key_schema: Any, value_schema: Any,
                 partitioner: Callable[[Any, bytes | None, int], int] | None) -> None:
        self.topic = topic
        self.topic_selector = topic_selector
        self.key_schema = key_schema
        self.value_schema = value_schema
        self.partitioner = partitioner

    @staticmethod
    def builder() -> KafkaRecordSerializationSchemaBuilder:
        """A builder (``set_topic``, ``set_value_serialization_schema``... ``build``)."""
        return KafkaRecordSerializationSchemaBuilder()


class KafkaRecordSerializationSchemaBuilder:
    """Flink's ``KafkaRecordSerializationSchemaBuilder`` (snake_case names)."""

    def __init__(self) -> None:
        self.topic: str | None = None
        self.topic_selector: Callable[[Any], str] | None = None
        self.key_schema: Any = None
        self.value_schema: Any = None
        self.partitioner: Any = None

    def set_topic(self, topic: str) -> KafkaRecordSerializationSchemaBuilder:
        """Write every record to ``topic``."""
        self.topic, self.topic_selector = str(topic), None
        return self

    def set_topic_selector(self, selector: Callable[[Any], str]
                           ) -> KafkaRecordSerializationSchemaBuilder:
        """Choose the topic per record: ``selector(record) -> topic``."""
        self.topic_selector, self.topic = selector, None
        return self

    def set_key_serialization_schema(self, schema: Any) -> KafkaRecordSerializationSchemaBuilder:
        """Record keys: ``schema.serialize(record)`` (or a callable record -> bytes)."""
        serializer_function(schema)
        self.key_schema = schema
        return self

    def set_value_serialization_schema(self, schema: Any
                                       ) -> KafkaRecordSerializationSchemaBuilder:
        """Record values: ``schema.serialize(record)`` (or a callable record -> bytes)."""
        serializer_function(schema)
        self.value_schema = schema
        return self

    def set_partitioner(self, partitioner: Callable[[Any, bytes | None, int], int]
                        ) -> KafkaRecordSerializationSchemaBuilder:
        """Choose the partition: ``partitioner(record, key, partition_count) -> int``
        (default: the producer's, by key hash, or sticky without a key)."""
        self.partitioner = partitioner
        return self

    def build(self) -> KafkaRecordSerializationSchema:
        """The schema (a topic and a value schema are required)."""
        if self.topic is None and self.topic_selector is None:
            raise ValueError("KafkaRecordSerializationSchema needs a topic (set_topic or "
                             "set_topic_selector)")
        if self.value_schema is None:
            raise ValueError("KafkaRecordSerializationSchema needs a value serialization "
                             "schema (set_value_serialization_schema)")
        return KafkaRecordSerializationSchema(self.topic, self.topic_selector, self.key_schema,
                                              self.value_schema, self.partitioner)
