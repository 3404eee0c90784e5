"""The confluent-kafka client as the connector uses it: configuration, metadata
(partitions of topics or a pattern, with clear errors for an unreachable broker or a
missing topic) and offset resolution."""

from __future__ import annotations

import re
import time
from typing import Any

from headwater.connectors.kafka.offsets import KafkaOffsetsInitializer

#: Properties of ours (not librdkafka's), with their defaults.
CONNECTOR_PROPERTIES = {
    # Flink's: how often the source looks for new partitions (ms; <= 0: never;
    # Flink's default: 5 minutes; always off for bounded sources).
    "partition.discovery.interval.ms": "300000",
    # Skip records the deserializer cannot read instead of failing the job.
    "deserialization.skip-errors": "false",
    # How long a metadata or offset request may take before the job fails (ms).
    "client.timeout.ms": "30000",
}

#: Flink's OffsetSpec sentinels of librdkafka.
OFFSET_BEGINNING, OFFSET_END = -2, -1


class KafkaConnectorError(RuntimeError):
    """A Kafka connector failure with a message meant for the user."""


def confluent() -> Any:
    """The confluent_kafka module, or a clear error if the extra is not installed."""
    try:
        import confluent_kafka
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("the Kafka connector needs confluent-kafka: "
                          "pip install 'headwater[kafka]'") from exc
    return confluent_kafka


def split_properties(props: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(librdkafka properties, connector properties with defaults)."""
    client = {k: v for k, v in props.items() if k not in CONNECTOR_PROPERTIES}
    ours = {k: str(props.get(k, d)) for k, d in CONNECTOR_PROPERTIES.items()}
    return client, ours


def timeout_s(ours: dict[str, str]) -> float:
    """The metadata/offset request timeout in seconds."""
    return max(0.1, int(ours["client.timeout.ms"]) / 1000.0)


def list_topics(client: Any, bootstrap: str, timeout: float) -> dict[str, int]:
    """topic -> partition count of every topic (never creates one: brokers that
    auto-create topics do so only for metadata requests that name them)."""
    ck = confluent()
    try:
        md = client.list_topics(timeout=timeout)
    except ck.KafkaException as exc:
        raise KafkaConnectorError(
            f"Kafka broker {bootstrap} unreachable: no metadata within {timeout:g} s "
            f"(client.timeout.ms) ({exc.args[0] if exc.args else exc})") from None
    return {name: len(t.partitions) for name, t in md.topics.items()
            if t.error is None and not name.startswith("__")}


def partitions_of(client: Any, bootstrap: str, timeout: float, topics: list[str] | None,
                  pattern: str | None, require: bool = True) -> list[tuple[str, int]]:
    """The (topic, partition) pairs of ``topics`` (each must exist when ``require``) or
    of the topics matching ``pattern``, sorted."""
    known = list_topics(client, bootstrap, timeout)
    if pattern is not None:
        rx = re.compile(pattern)
        names = sorted(t for t in known if rx.fullmatch(t))
    else:
        names = list(topics or ())
        missing = [t for t in names if t not in known]
        if missing and require:
            raise KafkaConnectorError(
                f"Kafka topic {', '.join(repr(t) for t in missing)} does not exist on "
                f"{bootstrap}")
    return sorted((t, p) for t in names for p in range(known.get(t, 0)))


def end_offsets(consumer: Any, tps: list[tuple[str, int]], timeout: float
                ) -> dict[tuple[str, int], int]:
    """The end (high watermark) of each partition now.

    Asks the broker (ListOffsets) and, for partitions that have records, also reads the
    high watermark of a fetch response: some Kafka-compatible brokers (tansu 0.6) answer
    ListOffsets with the last batch's base offset + 1, which would cut the last batch
    off a bounded read."""
    ck = confluent()
    out: dict[tuple[str, int], int] = {}
    for t, p in tps:
        lo, hi = consumer.get_watermark_offsets(ck.TopicPartition(t, p), timeout=timeout)
        out[(t, p)] = hi
    probe = [(t, p) for (t, p), hi in out.items() if hi > 0]
    if not probe:
        return out
    consumer.assign([ck.TopicPartition(t, p, max(0, out[(t, p)] - 1)) for t, p in probe])
    deadline = time.monotonic() + min(timeout, 10.0)
    pending = set(probe)
    while pending and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=1000, timeout=0.2):
            if msg.error() is None or msg.error().code() == ck.KafkaError._PARTITION_EOF:
                pending.discard((msg.topic(), msg.partition()))
    for t, p in probe:
        _, hi = consumer.get_watermark_offsets(ck.TopicPartition(t, p), cached=True)
        if hi is not None and hi > out[(t, p)]:
            out[(t, p)] = hi
    consumer.unassign()
    return out


def resolve_offsets(consumer: Any, init: KafkaOffsetsInitializer,
                    tps: list[tuple[str, int]], timeout: float, group_set: bool
                    ) -> dict[tuple[str, int], int]:
    """The offsets ``init`` gives ``tps`` (concrete numbers, no sentinels)."""
    ck = confluent()
    if not tps:
        return {}

    def earliest() -> dict[tuple[str, int], int]:
        return {(t, p): consumer.get_watermark_offsets(ck.TopicPartition(t, p),
                                                       timeout=timeout)[0] for t, p in tps}

    def by_reset(reset: str, missing: list[tuple[str, int]], what: str
                 ) -> dict[tuple[str, int], int]:
        if not missing:
            return {}
        if reset == "none":
            raise KafkaConnectorError(
                f"no {what} offset for {', '.join(f'{t}-{p}' for t, p in missing)} and the "
                "offset reset strategy is none")
        base = earliest() if reset == "earliest" else end_offsets(consumer, missing, timeout)
        return {tp: base[tp] for tp in missing}

    if init.kind == "earliest":
        return earliest()
    if init.kind == "latest":
        return end_offsets(consumer, tps, timeout)
    if init.kind == "specific":
        given = {tp: init.value[tp] for tp in tps if tp in init.value}
        return {**given, **by_reset(init.reset, [tp for tp in tps if tp not in given],
                                    "specified")}
    if init.kind == "committed":
        if not group_set:
            raise KafkaConnectorError("committed_offsets() needs a group id "
                                      "(set_group_id)")
        got = consumer.committed([ck.TopicPartition(t, p) for t, p in tps], timeout=timeout)
        given = {(x.topic, x.partition): x.offset for x in got if x.offset >= 0}
        return {**given, **by_reset(init.reset, [tp for tp in tps if tp not in given],
                                    "committed")}
    if init.kind == "timestamp":
        got = consumer.offsets_for_times([ck.TopicPartition(t, p, init.value) for t, p in tps],
                                         timeout=timeout)
        given = {(x.topic, x.partition): x.offset for x in got if x.offset >= 0}
        rest = [tp for tp in tps if tp not in given]
        return {**first_at_or_after(consumer, given, init.value, timeout),
                **(end_offsets(consumer, rest, timeout) if rest else {})}
    raise ValueError(f"unknown offsets initializer {init!r}")


def first_at_or_after(consumer: Any, lower: dict[tuple[str, int], int], timestamp: int,
                      timeout: float) -> dict[tuple[str, int], int]:
    """The offset of the first record at or after ``lower`` whose timestamp is >=
    ``timestamp`` (the end if none), per partition.

    The broker's answer to a timestamp lookup is taken as a lower bound and checked by
    reading: Kafka answers exactly (one record is read), while some Kafka-compatible
    brokers answer with a batch's base offset or ignore the timestamp (tansu 0.6)."""
    ck = confluent()
    if not lower:
        return {}
    eof_code = ck.KafkaError._PARTITION_EOF
    consumer.assign([ck.TopicPartition(t, p, o) for (t, p), o in lower.items()])
    found: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(found) < len(lower):
            if time.monotonic() > deadline:
                raise KafkaConnectorError(
                    f"looking up offsets for timestamp {timestamp} took longer than "
                    f"{timeout:g} s (client.timeout.ms)")
            for msg in consumer.consume(num_messages=1000, timeout=0.2):
                tp = (msg.topic(), msg.partition())
                if tp not in lower or tp in found:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() == eof_code:
                        found[tp] = max(lower[tp], msg.offset())
                    continue
                if msg.offset() >= lower[tp] and msg.timestamp()[1] >= timestamp:
                    found[tp] = msg.offset()
    finally:
        consumer.unassign()
    return found
