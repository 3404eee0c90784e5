"""The Kafka source operator: one consumer per subtask, partitions assigned manually.

Partitions ("splits") are dealt out deterministically: partition p of topic t goes to
subtask ``(start(t) + p) % parallelism`` (``start`` a stable hash of the topic, Flink's
rule). Each subtask keeps its splits ``[topic, partition, next offset, stop offset or
None]`` as "split" operator state, so a restore (also at another parallelism)
redistributes them and every record is read once overall; the partitions assigned to any
subtask are kept as "union" state, so a partition found later by discovery (every
``partition.discovery.interval.ms``, unbounded sources only) is taken by exactly one
subtask and starts at its earliest offset.

The source thread polls outside the checkpoint lock and emits and advances the offsets
under it. Offsets of a checkpoint are committed to the consumer group when it completes
(monitoring only; positions come from checkpoints). With a watermark strategy the
records get timestamps and each partition its own watermark generator (see
:mod:`headwater.connectors.kafka.watermarks`); otherwise records carry Kafka's
timestamps.

Metrics (Flink's names, in the operator's group): ``KafkaSourceReader.commitsSucceeded``,
``KafkaSourceReader.commitsFailed``, ``KafkaSourceReader.KafkaConsumer.records-lag-max``,
``KafkaSourceReader.topic.<t>.partition.<p>.currentOffset`` / ``.committedOffset``, and
``KafkaSourceReader.recordsSkipped`` (deserialization errors skipped).
"""

from __future__ import annotations

import logging
import time
import zlib
from typing import Any

from headwater.connectors.kafka.client import (
    KafkaConnectorError,
    confluent,
    partitions_of,
    resolve_offsets,
    split_properties,
    timeout_s,
)
from headwater.connectors.kafka.offsets import KafkaOffsetsInitializer
from headwater.connectors.kafka.serialization import deserializer_function
from headwater.connectors.kafka.watermarks import PartitionWatermarks
from headwater.runtime.operators.base import OperatorStateSnapshot, SourceOutput
from headwater.runtime.operators.sources import ChunkSizer, SplitSource, _checkpoint_lock

log = logging.getLogger(__name__)

MIN_TIMESTAMP = -(2**63)
#: Group id of consumers of sources without one (nothing is committed then).
DEFAULT_GROUP = "headwater-kafka-source"
#: Records per poll at most, and the poll timeout (s).
MAX_POLL, POLL_TIMEOUT = 2048, 0.1
#: Checkpoints whose offsets are kept for committing.
MAX_PENDING_COMMITS = 32
#: How often the lag gauge is refreshed (s).
LAG_INTERVAL = 1.0


def owner(topic: str, partition: int, parallelism: int) -> int:
    """The subtask that reads a partition (stable across processes and runs)."""
    start = ((zlib.crc32(topic.encode()) * 31) & 0x7FFFFFFF) % parallelism
    return (start + partition) % parallelism


class KafkaSourceOperator(SplitSource):
    """Reads the partitions of one subtask (see the module docstring)."""

    state_name = "kafka-source-splits"
    ASSIGNED = "kafka-source-partitions"
    _consumer: Any = None
    _watermarks: PartitionWatermarks | None = None

    def __init__(self, source: Any) -> None:
        super().__init__()
        self.source = source
        self._restored_assigned: set[tuple[str, int]] | None = None

    # -- state --------------------------------------------------------------------------

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Take over restored splits and the set of assigned partitions."""
        splits = state.get(self.state_name) if state else None
        assigned = state.get(self.ASSIGNED) if state else None
        self._splits = None if splits is None else [
            [str(t), int(p), int(o), None if s is None else int(s)] for t, p, o, s in splits[1]]
        self._restored_assigned = None if assigned is None else {
            (str(t), int(p)) for t, p in assigned[1]}

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot:
        """The splits ("split"), the assigned partitions ("union"); remembers the offsets
        to commit when the checkpoint completes."""
        splits = self._positions()
        self._pending_commits[checkpoint_id] = {(t, p): o for t, p, o, _ in splits}
        while len(self._pending_commits) > MAX_PENDING_COMMITS:
            del self._pending_commits[min(self._pending_commits)]
        return {self.state_name: ("split", [tuple(s) for s in splits]),
                self.ASSIGNED: ("union", sorted(self._assigned))}

    def initial_splits(self) -> list[list[Any]]:
        """Resolved in ``open`` (needs the broker)."""
        return []

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Commit the checkpoint's offsets to the consumer group (asynchronously)."""
        offsets = self._pending_commits.pop(checkpoint_id, None)
        for cid in [c for c in self._pending_commits if c < checkpoint_id]:
            del self._pending_commits[cid]
        if offsets is None or self.source.group_id is None or self._consumer is None:
            return
        ck = confluent()
        tps = [ck.TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        if tps:
            try:
                self._consumer.commit(offsets=tps, asynchronous=True)
            except ck.KafkaException as exc:
                self._commits_failed.inc()
                log.warning("committing offsets of checkpoint %d failed: %s", checkpoint_id,
                            exc)

    def _on_commit(self, err: Any, partitions: list[Any]) -> None:
        """Commit result (called by the client inside ``consume``)."""
        if err is not None:
            self._commits_failed.inc()
            log.warning("committing offsets to group %s failed: %s", self.source.group_id, err)
            return
        self._commits_succeeded.inc()
        for tp in partitions:
            if tp.error is None and tp.offset >= 0:
                self._committed[(tp.topic, tp.partition)] = tp.offset

    # -- lifecycle ----------------------------------------------------------------------

    def open(self) -> None:
        """Connect, check the topics and (fresh start) assign this subtask's partitions."""
        src = self.source
        ck = confluent()
        client_props, ours = split_properties(src.properties)
        self._timeout = timeout_s(ours)
        self._skip_errors = ours["deserialization.skip-errors"].lower() == "true"
        self._bounded = src.stopping_offsets is not None
        interval = int(ours["partition.discovery.interval.ms"])
        self._discovery = None if self._bounded or interval <= 0 else interval / 1000.0
        self._deserialize = deserializer_function(src.deserializer)
        self._pending_commits: dict[int, dict[tuple[str, int], int]] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._lag_max = 0
        self._register_metrics()
        me = self.ctx.subtask_index
        prefix = client_props.pop("client.id.prefix", "headwater-kafka-source")
        conf = {"bootstrap.servers": src.bootstrap_servers,
                "group.id": src.group_id or DEFAULT_GROUP,
                "client.id": f"{prefix}-{me}",
                "enable.auto.commit": False, "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest", "enable.partition.eof": True,
                "allow.auto.create.topics": False,
                "on_commit": self._on_commit, **client_props}
        self._consumer = ck.Consumer(conf)
        try:
            self._setup_splits()
        except BaseException:
            self._consumer.close()
            self._consumer = None
            raise

    def _setup_splits(self) -> None:
        src, consumer = self.source, self._consumer
        me, p = self.ctx.subtask_index, self.ctx.parallelism
        everything = partitions_of(consumer, src.bootstrap_servers, self._timeout,
                                   src.topics, src.topic_pattern)
        self._assigned: set[tuple[str, int]] = set(self._restored_assigned or ())
        if self._splits is None:  # a fresh start
            mine = [tp for tp in everything if owner(tp[0], tp[1], p) == me]
            starts = self._resolve(src.starting_offsets, mine)
            stops = self._resolve(src.stopping_offsets, mine) if self._bounded else {}
            self._splits = [[t, q, starts[(t, q)], stops.get((t, q))] for t, q in mine]
            self._assigned.update(mine)
        else:
            self._assigned.update((s[0], s[1]) for s in self._splits)
        self._splits = [s for s in self._splits if s[3] is None or s[2] < s[3]]
        self._next_discovery = time.monotonic() + (self._discovery or 0.0)
        ck = confluent()
        consumer.assign([ck.TopicPartition(t, q, o) for t, q, o, _ in self._splits])
        for t, q, _, _ in self._splits:
            self._partition_metrics((t, q))
        log.info("Kafka source subtask %d reads %s", me,
                 ", ".join(f"{t}-{q}@{o}" for t, q, o, _ in self._splits) or "nothing")

    def _resolve(self, init: KafkaOffsetsInitializer | None, tps: list[tuple[str, int]]
                 ) -> dict[tuple[str, int], int]:
        assert init is not None
        return resolve_offsets(self._consumer, init, tps, self._timeout,
                               self.source.group_id is not None)

    def _discover(self, lock: Any) -> None:
        """Take the partitions that appeared since and belong to this subtask."""
        src = self.source
        try:
            everything = partitions_of(self._consumer, src.bootstrap_servers, self._timeout,
                                       src.topics, src.topic_pattern, require=False)
        except KafkaConnectorError as exc:
            log.warning("partition discovery failed: %s", exc)
            return
        me, p = self.ctx.subtask_index, self.ctx.parallelism
        new = [tp for tp in everything
               if tp not in self._assigned and owner(tp[0], tp[1], p) == me]
        if not new:
            return
        starts = self._resolve(KafkaOffsetsInitializer.earliest(), new)
        ck = confluent()
        with lock:
            for t, q in new:
                self._splits.append([t, q, starts[(t, q)], None])  # type: ignore[union-attr]
                self._assigned.add((t, q))
                self._partition_metrics((t, q))
                if self._watermarks is not None:
                    self._watermarks.add((t, q))
            self._consumer.incremental_assign([ck.TopicPartition(t, q, starts[(t, q)])
                                               for t, q in new])
        log.info("Kafka source subtask %d discovered %s", me,
                 ", ".join(f"{t}-{q}" for t, q in new))

    # -- metrics ------------------------------------------------------------------------

    def _register_metrics(self) -> None:
        from headwater.runtime.metrics.types import Counter

        group = getattr(self.ctx, "metric_group", None)
        self._group = group.add_group("KafkaSourceReader") if group is not None else None
        self._commits_succeeded = Counter()
        self._commits_failed = Counter()
        self._skipped = Counter()
        if self._group is not None:
            self._group.counter("commitsSucceeded", self._commits_succeeded)
            self._group.counter("commitsFailed", self._commits_failed)
            self._group.counter("recordsSkipped", self._skipped)
            self._group.add_group("KafkaConsumer").gauge("records-lag-max",
                                                         lambda: self._lag_max)

    def _partition_metrics(self, tp: tuple[str, int]) -> None:
        if self._group is None:
            return
        g = self._group.add_group("topic", tp[0]).add_group("partition", str(tp[1]))
        g.gauge("currentOffset", lambda: self._current_offset(tp))
        g.gauge("committedOffset", lambda: self._committed.get(tp, -1))

    def _current_offset(self, tp: tuple[str, int]) -> int:
        """Offset of the last record read from ``tp`` (Flink's currentOffset)."""
        for s in self._splits or ():
            if s[0] == tp[0] and s[1] == tp[1]:
                return int(s[2]) - 1
        return -1

    def _update_lag(self) -> None:
        ck = confluent()
        lag = 0
        for t, q, o, _ in list(self._splits or ()):
            _, hi = self._consumer.get_watermark_offsets(ck.TopicPartition(t, q), cached=True)
            if hi is not None and hi >= 0:
                lag = max(lag, hi - o)
        self._lag_max = lag

    # -- the source thread --------------------------------------------------------------

    def run(self, output: SourceOutput) -> None:
        """Poll, then emit and advance offsets under the checkpoint lock, until bounded
        partitions end or the task is cancelled."""
        ck = confluent()
        eof_code = ck.KafkaError._PARTITION_EOF
        lock = _checkpoint_lock(output)
        splits = self._positions()
        index = {(s[0], s[1]): s for s in splits}
        strategy = self.source.watermark_strategy
        self._watermarks = wm = PartitionWatermarks(strategy) if strategy is not None else None
        interval = 0.2
        if wm is not None:
            config = self.source.execution_config
            ms = config.get_auto_watermark_interval() if config is not None else 200
            interval = ms / 1000.0 if ms > 0 else 0.0
            for s in splits:
                wm.add((s[0], s[1]))
        extract = wm.extract if wm is not None else None
        deserialize, skip = self._deserialize, self._skip_errors
        sizer = ChunkSizer(MAX_POLL)
        sizer.size = 64
        clock = time.monotonic
        next_wm = next_lag = clock()
        consumer = self._consumer
        while True:
            if self._cancelled or output.cancelled:
                return
            if self._bounded and not splits:
                return
            msgs = consumer.consume(num_messages=sizer.size, timeout=POLL_TIMEOUT)
            # deserialize outside the lock: (split, offset, value, timestamp)
            batch: list[tuple[list[Any], int, Any, int]] = []
            eofs: list[tuple[list[Any], int]] = []
            for m in msgs:
                err = m.error()
                tp = (m.topic(), m.partition())
                split = index.get(tp)
                if err is not None:
                    if err.code() == eof_code:
                        if split is not None:
                            eofs.append((split, m.offset()))
                        continue
                    raise KafkaConnectorError(f"Kafka consumer error on {tp[0]}-{tp[1]}: "
                                              f"{err.str()}")
                off = m.offset()
                if split is None or off < split[2] or (split[3] is not None
                                                        and off >= split[3]):
                    continue
                try:
                    value = deserialize(m.value())
                except Exception as exc:  # noqa: BLE001 - the user's schema
                    if not skip:
                        raise KafkaConnectorError(
                            f"cannot deserialize the record at topic {tp[0]} partition "
                            f"{tp[1]} offset {off}: {exc!r} (set_property("
                            "'deserialization.skip-errors', 'true') skips such records)"
                        ) from exc
                    log.warning("skipping unreadable record at %s-%d offset %d: %r",
                                tp[0], tp[1], off, exc)
                    batch.append((split, off, _SKIP, 0))
                    continue
                kind, ts = m.timestamp()
                batch.append((split, off, value, ts if kind else MIN_TIMESTAMP))
            t0 = time.perf_counter()
            with lock:
                if batch:
                    self._emit(output, batch, extract, wm)
                for split, off in eofs:
                    if off > split[2]:
                        split[2] = off  # past control records
                if self._bounded:
                    done = [s for s in splits if s[3] is not None and s[2] >= s[3]]
                    for s in done:
                        splits.remove(s)
                        index.pop((s[0], s[1]), None)
                        if wm is not None:
                            wm.remove((s[0], s[1]))
                    if done:
                        consumer.incremental_unassign([ck.TopicPartition(s[0], s[1])
                                                       for s in done])
            if batch:
                sizer.observe(len(batch), time.perf_counter() - t0)
            now = clock()
            if wm is not None and interval > 0 and now >= next_wm:
                next_wm = now + interval
                with lock:
                    wm.on_periodic_emit(output)
            if now >= next_lag:
                next_lag = now + LAG_INTERVAL
                self._update_lag()
            if self._discovery is not None and now >= self._next_discovery:
                self._next_discovery = now + self._discovery
                self._discover(lock)
                index = {(s[0], s[1]): s for s in splits}

    def _emit(self, output: SourceOutput, batch: list[tuple[list[Any], int, Any, int]],
              extract: Any, wm: PartitionWatermarks | None) -> None:
        """Emit a polled batch and advance its splits (checkpoint lock held)."""
        values: list[Any] = []
        stamps: list[int] = []
        per_split: dict[int, tuple[list[Any], list[Any], list[int]]] = {}
        skipped = 0
        for split, off, value, ts in batch:
            split[2] = off + 1
            if value is _SKIP:
                skipped += 1
                continue
            if value is None:  # a null value or a schema's "no record" (as Flink: dropped)
                continue
            if extract is not None:
                ts = extract(value, ts)
            values.append(value)
            stamps.append(ts)
            if wm is not None:
                entry = per_split.get(id(split))
                if entry is None:
                    entry = per_split[id(split)] = (split, [], [])
                entry[1].append(value)
                entry[2].append(ts)
        if skipped:
            self._skipped.inc(skipped)
        if wm is not None:
            for split, vals, tss in per_split.values():
                wm.on_events((split[0], split[1]), vals, tss)
        if values:
            output.collect_batch(values, stamps)

    def cancel(self) -> None:
        """Stop after the current poll."""
        self._cancelled = True

    def close(self) -> None:
        """Close the consumer."""
        consumer, self._consumer = getattr(self, "_consumer", None), None
        if consumer is not None:
            try:
                consumer.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.exception("closing the Kafka consumer failed")

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        for key in ("_consumer", "_group", "_watermarks", "_deserialize", "_commits_succeeded",
                    "_commits_failed", "_skipped"):
            state.pop(key, None)
        return state


#: Marks a record skipped for a deserialization error.
_SKIP = object()
