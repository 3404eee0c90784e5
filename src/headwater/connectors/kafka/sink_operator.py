"""The Kafka sink operator: one producer per subtask (per transaction for EXACTLY_ONCE).

* ``NONE``: records are handed to the producer; nothing waits for the broker.
* ``AT_LEAST_ONCE``: every checkpoint flushes the producer and waits until the broker
  acknowledged everything before the barrier; a delivery error fails the job.
* ``EXACTLY_ONCE`` (Flink's KafkaSink two-phase commit): records go into a transaction
  with the transactional id ``<prefix>-<subtask>-<n>``. A checkpoint flushes it and keeps
  it open (pre-commit), records it as pending in the state and opens the next one
  (``n + 1``); when the checkpoint completes, the pending transactions of it and earlier
  checkpoints are committed. On restore the ids a failed attempt may have left open (the
  restored ``n`` and a few after it, of every old subtask this one takes over) are fenced
  with ``init_transactions``, which aborts them. A broker without transactions fails the
  job at start.

  Stop-with-savepoint commits the savepoint's transaction before the job ends (the
  sources wait for the savepoint's completion notice, as Flink's synchronous savepoint).

  Limit: librdkafka cannot resume a transaction of another producer instance, so a
  pending transaction recorded in restored state is not recommitted as Flink does: if
  the commit request had reached the broker, fencing completes it, otherwise its records
  are aborted (only when a TaskManager dies between a checkpoint's completion and its
  commit notification).

Metrics of the operator: ``numRecordsSend``, ``numRecordsSendErrors``,
``transactionsStarted``, ``transactionsCommitted``, ``transactionsAborted``,
``transactionsFencedOnRestore``, ``pendingTransactions``, ``lastCommittedCheckpointId``.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from headwater.connectors.kafka.client import (
    KafkaConnectorError,
    confluent,
    list_topics,
    split_properties,
    timeout_s,
)
from headwater.connectors.kafka.serialization import serializer_function
from headwater.connectors.kafka.sink import DeliveryGuarantee
from headwater.runtime.operators.base import OperatorStateSnapshot, StreamOperator, Timestamps

log = logging.getLogger(__name__)

MIN_TIMESTAMP = -(2**63)
#: Transactional ids after the restored one that are fenced on restore.
ABORT_WINDOW = 4
#: Default ``transaction.timeout.ms``: Kafka's default ``transaction.max.timeout.ms``.
TRANSACTION_TIMEOUT_MS = 900_000


class KafkaSinkOperator(StreamOperator):
    """Writes records to Kafka with the sink's delivery guarantee (see the module doc)."""

    TRANSACTIONS = "kafka-sink-transactions"

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self._restored: list[Any] | None = None
        self._producer: Any = None

    # -- lifecycle ----------------------------------------------------------------------

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Remember the restored transactions (fenced in ``open``)."""
        entry = state.get(self.TRANSACTIONS) if state else None
        self._restored = None if entry is None else list(entry[1])

    def open(self) -> None:
        """Connect, check the topic, and (EXACTLY_ONCE) fence lingering transactions and
        open the first one."""
        from headwater.runtime.metrics.types import Counter

        sink = self.sink
        ck = confluent()
        props, ours = split_properties(sink.properties)
        self._timeout = timeout_s(ours)
        self._guarantee = sink.delivery_guarantee
        self._exactly_once = self._guarantee is DeliveryGuarantee.EXACTLY_ONCE
        self._error: BaseException | None = None
        self._pending: list[tuple[int, Any, str]] = []  # (checkpoint, producer, id)
        self._counter = 0
        self._last_committed = -1
        self._partition_counts: dict[str, int] = {}
        self._conf = {"bootstrap.servers": sink.bootstrap_servers,
                      "client.id": f"headwater-kafka-sink-{self.ctx.subtask_index}",
                      "linger.ms": 5, "delivery.report.only.error": True,
                      "on_delivery": self._on_delivery, **props}
        if self._exactly_once:
            # a transaction stays open for a checkpoint interval (and across a restart):
            # as long as Kafka brokers allow by default (transaction.max.timeout.ms)
            self._conf.setdefault("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS)
        names = ("numRecordsSend", "numRecordsSendErrors", "transactionsStarted",
                 "transactionsCommitted", "transactionsAborted", "transactionsFencedOnRestore")
        self.counters = {n: Counter() for n in names}
        group = getattr(self.ctx, "metric_group", None)
        if group is not None:
            for name, counter in self.counters.items():
                group.counter(name, counter)
            group.gauge("pendingTransactions", lambda: len(self._pending))
            group.gauge("lastCommittedCheckpointId", lambda: self._last_committed)
        probe = ck.Producer({"bootstrap.servers": sink.bootstrap_servers,
                             **{k: v for k, v in props.items() if not k.startswith("transaction")}})
        try:
            known = list_topics(probe, sink.bootstrap_servers, self._timeout)
        finally:
            probe.flush(0)
        topic = sink.serializer.topic
        if topic is not None and topic not in known:
            raise KafkaConnectorError(f"Kafka topic {topic!r} does not exist on "
                                      f"{sink.bootstrap_servers}")
        if self._exactly_once:
            # init_transactions waits for the broker: fencing and preparing the next
            # transaction's producer run in threads (librdkafka releases the GIL)
            self._executor = ThreadPoolExecutor(max_workers=ABORT_WINDOW + 1,
                                                thread_name_prefix="kafka-sink-txn")
            self._fence_lingering()
            self._producer = self._begin(self._init(self._txn_id(self.ctx.subtask_index,
                                                                 self._counter)))
            self._prepare_next()
        else:
            self._producer = ck.Producer(self._conf)
        ser = sink.serializer
        self._value = serializer_function(ser.value_schema)
        self._key = None if ser.key_schema is None else serializer_function(ser.key_schema)

    def _txn_id(self, subtask: int, n: int) -> str:
        return f"{self.sink.transactional_id_prefix}-{subtask}-{n}"

    def _init(self, txn_id: str) -> Any:
        """A producer with ``txn_id`` whose ``init_transactions`` fenced earlier ones."""
        ck = confluent()
        producer = ck.Producer({**self._conf, "transactional.id": txn_id})
        try:
            producer.init_transactions(self._timeout)
        except ck.KafkaException as exc:
            raise KafkaConnectorError(
                f"EXACTLY_ONCE needs Kafka transactions, but initializing transactional id "
                f"{txn_id!r} on {self.sink.bootstrap_servers} failed: {exc.args[0]} (does "
                "the broker support transactions? use AT_LEAST_ONCE otherwise)") from None
        return producer

    def _fence_lingering(self) -> None:
        """Abort what a failed attempt may have left open (see the module doc)."""
        me, p = self.ctx.subtask_index, self.ctx.parallelism
        ids: list[str] = []
        start = 0
        owned = [e for e in (self._restored or ()) if int(e[0]) % p == me]
        for subtask, counter, pending in owned:
            ids.extend(pending)
            ids.extend(self._txn_id(subtask, n) for n in range(counter, counter + ABORT_WINDOW))
            if subtask == me:
                start = max(start, int(counter))
        if not any(int(e[0]) == me for e in owned):  # fresh ids of this subtask
            ids.extend(self._txn_id(me, n) for n in range(0, ABORT_WINDOW))
        for producer in self._executor.map(self._init, dict.fromkeys(ids)):
            producer.flush(0)
            if self._restored is not None:
                self.counters["transactionsFencedOnRestore"].inc()
        if ids:
            log.info("Kafka sink subtask %d fenced transactional ids %s", me, ", ".join(ids))
        self._counter = start

    def _begin(self, producer: Any) -> Any:
        """Open a transaction on ``producer`` (initialized for number ``self._counter``)."""
        producer.begin_transaction()
        self.counters["transactionsStarted"].inc()
        return producer

    def _prepare_next(self) -> None:
        """Initialize the producer of the next transaction in the background."""
        self._next: Future[Any] | None = self._executor.submit(
            self._init, self._txn_id(self.ctx.subtask_index, self._counter + 1))

    def _on_delivery(self, err: Any, msg: Any) -> None:
        """A record could not be delivered (only errors are reported)."""
        if err is None:
            return
        self.counters["numRecordsSendErrors"].inc()
        if self._guarantee is DeliveryGuarantee.NONE:
            log.warning("Kafka delivery to %s failed: %s", msg.topic(), err)
        elif self._error is None:
            self._error = KafkaConnectorError(f"Kafka delivery to topic {msg.topic()} "
                                              f"failed: {err.str()}")

    # -- records ------------------------------------------------------------------------

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Hand the records to the producer."""
        if self._error is not None:
            raise self._error
        producer = self._producer
        produce = producer.produce
        ser = self.sink.serializer
        value_of, key_of = self._value, self._key
        topic, selector, partitioner = ser.topic, ser.topic_selector, ser.partitioner
        simple = selector is None and partitioner is None and key_of is None \
            and timestamps is None
        for i, v in enumerate(values):
            while True:
                try:
                    if simple:
                        produce(topic, value_of(v))
                    else:
                        self._produce_one(produce, v, topic, selector, partitioner,
                                          None if timestamps is None else timestamps[i])
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    producer.poll(0.05)
        producer.poll(0)
        self.counters["numRecordsSend"].inc(len(values))
        return [], None

    def _produce_one(self, produce: Any, v: Any, topic: str | None, selector: Any,
                     partitioner: Any, ts: int | None) -> None:
        t = topic if topic is not None else selector(v)
        key = self._key(v) if self._key is not None else None
        kwargs: dict[str, Any] = {}
        if key is not None:
            kwargs["key"] = key
        if ts is not None and ts > 0:
            kwargs["timestamp"] = ts
        if partitioner is not None:
            count = self._partition_counts.get(t)
            if count is None:
                md = self._producer.list_topics(timeout=self._timeout)
                self._partition_counts.update({n: len(m.partitions)
                                               for n, m in md.topics.items()})
                count = self._partition_counts.get(t, 1)
            kwargs["partition"] = int(partitioner(v, key, count))
        produce(t, self._value(v), **kwargs)

    def _flush(self) -> None:
        remaining = self._producer.flush(self._timeout)
        if self._error is not None:
            raise self._error
        if remaining:
            raise KafkaConnectorError(f"{remaining} records not delivered to Kafka within "
                                      f"{self._timeout:g} s (client.timeout.ms)")

    # -- checkpoints ----------------------------------------------------------------------

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot | None:
        """AT_LEAST_ONCE/EXACTLY_ONCE: wait until the broker has every record; for
        EXACTLY_ONCE keep the transaction pending and open the next one."""
        if self._guarantee is DeliveryGuarantee.NONE:
            return None
        self._flush()
        if not self._exactly_once:
            return None
        me = self.ctx.subtask_index
        self._pending.append((checkpoint_id, self._producer,
                              self._txn_id(me, self._counter)))
        self._counter += 1
        next_producer, self._next = self._next, None
        assert next_producer is not None
        self._producer = self._begin(next_producer.result())
        self._prepare_next()
        return {self.TRANSACTIONS: ("union", [(me, self._counter,
                                               [tid for _, _, tid in self._pending])])}

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Commit the pending transactions of checkpoints up to ``checkpoint_id``."""
        if not self._exactly_once:
            return
        keep = []
        for cid, producer, txn_id in self._pending:
            if cid > checkpoint_id:
                keep.append((cid, producer, txn_id))
                continue
            try:
                producer.commit_transaction(self._timeout)
            except Exception as exc:  # noqa: BLE001 - reported through the job
                log.error("committing Kafka transaction %s failed: %s", txn_id, exc)
                if self._error is None:
                    self._error = KafkaConnectorError(
                        f"committing Kafka transaction {txn_id} of checkpoint {cid} "
                        f"failed: {exc}")
                continue
            self.counters["transactionsCommitted"].inc()
            self._last_committed = max(self._last_committed, cid)
            log.info("committed Kafka transaction %s (checkpoint %d)", txn_id, cid)
        self._pending = keep

    def end_input(self) -> tuple[list, Timestamps]:
        """Bounded input done: deliver (and commit) everything, as the file sink does."""
        if self._guarantee is DeliveryGuarantee.NONE:
            self._producer.flush(self._timeout)
            return [], None
        self._flush()
        if self._exactly_once:
            producer, self._producer = self._producer, None
            for _, pending, _ in self._pending:
                pending.commit_transaction(self._timeout)
                self.counters["transactionsCommitted"].inc()
            self._pending = []
            producer.commit_transaction(self._timeout)
            self.counters["transactionsCommitted"].inc()
        return [], None

    def close(self) -> None:
        """Abort the open transaction (EXACTLY_ONCE) or hand over what is queued."""
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            if self._exactly_once:
                producer.abort_transaction(min(self._timeout, 5.0))
                self.counters["transactionsAborted"].inc()
            else:
                producer.flush(min(self._timeout, 5.0))
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            log.warning("closing the Kafka producer: %s", exc)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in ("ctx", "_producer", "_pending", "_conf", "counters", "_value", "_key",
                    "_error", "_partition_counts", "_executor", "_next"):
            state.pop(key, None)
        state["_producer"] = None
        return state
