"""``KafkaSink`` with Flink's builder and delivery guarantees::

    sink = (KafkaSink.builder()
            .set_bootstrap_servers("127.0.0.1:9092")
            .set_record_serializer(KafkaRecordSerializationSchema.builder()
                                   .set_topic("counts")
                                   .set_value_serialization_schema(SimpleStringSchema())
                                   .build())
            .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
            .build())
    stream.sink_to(sink)

See :mod:`headwater.connectors.kafka.sink_operator` for the protocol of each guarantee.
"""

from __future__ import annotations

from typing import Any

from headwater.connectors.base import DeliveryGuarantee, Sink
from headwater.connectors.kafka.record_serializer import KafkaRecordSerializationSchema

__all__ = ["DeliveryGuarantee", "KafkaSink", "KafkaSinkBuilder"]


class KafkaSink(Sink):
    """A Kafka sink (build it with :meth:`builder`)."""

    def __init__(self, builder: KafkaSinkBuilder) -> None:
        self.bootstrap_servers = builder.bootstrap_servers
        self.serializer = builder.serializer
        self.delivery_guarantee = builder.delivery_guarantee
        self.transactional_id_prefix = builder.transactional_id_prefix
        self.properties = dict(builder.properties)

    @staticmethod
    def builder() -> KafkaSinkBuilder:
        """A builder (``set_bootstrap_servers``, ``set_record_serializer``... ``build``)."""
        return KafkaSinkBuilder()

    def create_operator(self) -> Any:
        """The sink operator the stream adds to the job."""
        from headwater.connectors.kafka.sink_operator import KafkaSinkOperator

        return KafkaSinkOperator(self)


class KafkaSinkBuilder:
    """Flink's ``KafkaSinkBuilder`` (snake_case names)."""

    def __init__(self) -> None:
        self.bootstrap_servers: str | None = None
        self.serializer: KafkaRecordSerializationSchema | None = None
        self.delivery_guarantee = DeliveryGuarantee.NONE
        self.transactional_id_prefix: str | None = None
        self.properties: dict[str, str] = {}

    def set_bootstrap_servers(self, bootstrap_servers: str) -> KafkaSinkBuilder:
        """``host:port[,host:port...]`` of the brokers."""
        self.bootstrap_servers = str(bootstrap_servers)
        return self

    def set_record_serializer(self, serializer: KafkaRecordSerializationSchema
                              ) -> KafkaSinkBuilder:
        """How records become Kafka records."""
        if not isinstance(serializer, KafkaRecordSerializationSchema):
            raise TypeError("expected a KafkaRecordSerializationSchema (use its builder)")
        self.serializer = serializer
        return self

    def set_delivery_guarantee(self, guarantee: DeliveryGuarantee) -> KafkaSinkBuilder:
        """NONE (default, as Flink), AT_LEAST_ONCE or EXACTLY_ONCE."""
        self.delivery_guarantee = DeliveryGuarantee(guarantee)
        return self

    def set_transactional_id_prefix(self, prefix: str) -> KafkaSinkBuilder:
        """Prefix of the transactional ids ``<prefix>-<subtask>-<n>`` (EXACTLY_ONCE; must
        be unique per sink among the jobs writing to the cluster)."""
        self.transactional_id_prefix = str(prefix)
        return self

    def set_property(self, key: str, value: Any) -> KafkaSinkBuilder:
        """A librdkafka producer property (e.g. ``linger.ms``, ``transaction.timeout.ms``),
        or ``client.timeout.ms``: how long connecting and transaction calls may take."""
        self.properties[str(key)] = str(value)
        return self

    def set_kafka_producer_config(self, properties: dict[str, Any]) -> KafkaSinkBuilder:
        """Several producer properties at once."""
        for k, v in properties.items():
            self.set_property(k, v)
        return self

    def build(self) -> KafkaSink:
        """The sink (checks the required settings)."""
        if not self.bootstrap_servers:
            raise ValueError("KafkaSink needs bootstrap servers (set_bootstrap_servers)")
        if self.serializer is None:
            raise ValueError("KafkaSink needs a record serializer (set_record_serializer)")
        if self.delivery_guarantee is DeliveryGuarantee.EXACTLY_ONCE \
                and not self.transactional_id_prefix:
            raise ValueError("EXACTLY_ONCE needs a transactional id prefix "
                             "(set_transactional_id_prefix)")
        return KafkaSink(self)
