"""Kafka source and sink with Flink's builders (``pip install 'headwater[kafka]'``)::

    from headwater.connectors.kafka import (DeliveryGuarantee, KafkaOffsetsInitializer,
        KafkaRecordSerializationSchema, KafkaSink, KafkaSource, SimpleStringSchema)

Importing this package does not import confluent-kafka; building and running a job
does.
"""

from headwater.connectors.kafka.client import KafkaConnectorError
from headwater.connectors.kafka.offsets import KafkaOffsetsInitializer
from headwater.connectors.kafka.record_serializer import (
    KafkaRecordSerializationSchema,
    KafkaRecordSerializationSchemaBuilder,
)
from headwater.connectors.kafka.serialization import (
    JsonRowDeserializationSchema,
    JsonRowSerializationSchema,
    SimpleStringSchema,
)
from headwater.connectors.kafka.sink import DeliveryGuarantee, KafkaSink, KafkaSinkBuilder
from headwater.connectors.kafka.source import KafkaSource, KafkaSourceBuilder

__all__ = [
    "DeliveryGuarantee",
    "JsonRowDeserializationSchema",
    "JsonRowSerializationSchema",
    "KafkaConnectorError",
    "KafkaOffsetsInitializer",
    "KafkaRecordSerializationSchema",
    "KafkaRecordSerializationSchemaBuilder",
    "KafkaSink",
    "KafkaSinkBuilder",
    "KafkaSource",
    "KafkaSourceBuilder",
    "SimpleStringSchema",
]
