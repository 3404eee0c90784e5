"""Writes a task's output batches into one result partition, choosing channels.

One RecordWriter per output edge. Records are split per channel by the edge's ship
strategy, buffered per channel, and sent as one buffer once a channel holds
``batch_size`` records or on ``flush`` (idle input, buffer timeout, events).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from headwater.runtime.network import arrow_ipc
from headwater.runtime.network.blocking_partition import BlockingResultPartition
from headwater.runtime.network.buffers import StreamEvent
from headwater.runtime.network.partition import ResultPartition

Values = list[Any]
Timestamps = list[int] | None
#: Splits a batch into per-channel batches: (values per channel, timestamps per channel).
Split = tuple[list[Values], list[list[int]] | None]


class RecordWriter:
    """Distributes batches over the subpartitions of a ResultPartition (pipelined or
    BLOCKING: both take ``send_batch``, ``send_arrow`` and ``send_event``)."""

    def __init__(self, partition: ResultPartition | BlockingResultPartition,
                 ship_strategy: str, batch_size: int,
                 key_selector: Callable[[Any], Any] | None = None, max_parallelism: int = 128,
                 subtask_index: int = 0, input_tag: int | None = None) -> None:
        self.partition = partition
        #: Set for an edge into one input of a two-input operator: every record travels
        #: as ``(input_tag, value)``, wrapped after the channel is chosen (see
        #: :mod:`headwater.runtime.operators.co_operators`).
        self.input_tag = input_tag
        self.subpartitions = partition.subpartitions
        self.n = len(self.subpartitions)
        self.strategy = ship_strategy
        self.batch_size = batch_size
        self.key_selector = key_selector
        self.pending: list[Values] = [[] for _ in range(self.n)]
        self.pending_ts: list[list[int] | None] = [None] * self.n
        self.records_out = 0
        self.bytes_out = 0
        self._rr = subtask_index % max(self.n, 1)
        self.max_parallelism = max_parallelism
        #: Whether this edge carries Arrow record batches (decided by its first value).
        self._columnar: bool | None = None
        self._split = self._pick_splitter(ship_strategy)
        if ship_strategy == "HASH":
            from headwater.runtime.state.key_groups import KeyGroupChannelSelector

            self._selector = KeyGroupChannelSelector(max_parallelism, self.n, key_selector)

    # -- channel selection --------------------------------------------------------------

    def _pick_splitter(self, strategy: str) -> Callable[[Values, Timestamps], Split] | None:
        if self.n == 1 or strategy == "FORWARD":
            return None
        if strategy == "HASH":
            return self._split_hash
        if strategy in ("REBALANCE", "RESCALE"):
            return self._split_round_robin
        if strategy == "SHUFFLE":
            return self._split_random
        if strategy == "BROADCAST":
            return self._split_broadcast
        if strategy == "CUSTOM":
            return self._split_custom
        raise ValueError(f"unknown ship strategy {strategy}")

    def _split_hash(self, values: Values, timestamps: Timestamps) -> Split:
        if timestamps is None:
            selected: list[Values] = self._selector.select(values)
            return selected, None
        channels: list[int] = self._selector.channels_of(values)
        out_v: list[Values] = [[] for _ in range(self.n)]
        out_t: list[list[int]] = [[] for _ in range(self.n)]
        for c, v, t in zip(channels, values, timestamps, strict=True):
            out_v[c].append(v)
            out_t[c].append(t)
        return out_v, out_t

    def _split_round_robin(self, values: Values, timestamps: Timestamps) -> Split:
        n, start = self.n, self._rr
        self._rr = (start + len(values)) % n
        out_v = [values[(c - start) % n::n] for c in range(n)]
        out_t = None if timestamps is None else [timestamps[(c - start) % n::n] for c in range(n)]
        return out_v, out_t

    def _split_random(self, values: Values, timestamps: Timestamps) -> Split:
        n = self.n
        channels = [random.randrange(n) for _ in values]
        out_v: list[Values] = [[] for _ in range(n)]
        if timestamps is None:
            for i, c in enumerate(channels):
                out_v[c].append(values[i])
            return out_v, None
        out_t: list[list[int]] = [[] for _ in range(n)]
        for i, c in enumerate(channels):
            out_v[c].append(values[i])
            out_t[c].append(timestamps[i])
        return out_v, out_t

    def _split_custom(self, values: Values, timestamps: Timestamps) -> Split:
        custom: Any = self.key_selector  # a partition_custom channel chooser
        n, channel = self.n, custom.channel
        out_v: list[Values] = [[] for _ in range(n)]
        out_t: list[list[int]] | None = None if timestamps is None else [[] for _ in range(n)]
        for i, v in enumerate(values):
            c = channel(v, n)
            if not 0 <= c < n:
                raise ValueError(f"partition_custom: the partitioner chose partition {c}, "
                                 f"not in [0, {n})")
            out_v[c].append(v)
            if out_t is not None and timestamps is not None:
                out_t[c].append(timestamps[i])
        return out_v, out_t

    def _split_broadcast(self, values: Values, timestamps: Timestamps) -> Split:
        return [values] * self.n, None if timestamps is None else [timestamps] * self.n

    # -- emitting -----------------------------------------------------------------------

    def emit(self, values: Values, timestamps: Timestamps) -> None:
        """Add a batch; full channel buffers are sent (may block on credit)."""
        self.take([values], timestamps)

    def take(self, holder: list[Values], timestamps: Timestamps) -> None:
        """:meth:`emit` the batch ``holder[0]``, for a caller that keeps no other
        reference to it: the writer drops the batch as soon as its records are in the
        channel lists, so each record is referred to from one list only, which marshal
        encodes about twice as fast (it tracks objects referred to more than once).
        Empties ``holder``."""
        values = holder.pop()
        if not values:
            return
        if self._columnar is None:
            self._columnar = arrow_ipc.is_arrow_batch(values[0])
        if self._columnar:
            arrow_ipc.emit_batches(self, values)
            return
        self.records_out += len(values)
        tag = self.input_tag
        if tag is not None and (self._split is None or self.strategy != "HASH"):
            values = [(tag, v) for v in values]  # the key selector needs unwrapped values
            tag = None
        if self._split is None:
            self._append(0, values, timestamps)
            return
        per_v, per_t = self._split(values, timestamps)
        del values
        for c in range(self.n):
            if per_v[c]:
                vs = per_v[c] if tag is None else [(tag, v) for v in per_v[c]]
                self._append(c, vs, None if per_t is None else per_t[c])

    def _append(self, c: int, values: Values, timestamps: Timestamps) -> None:
        pending = self.pending[c]
        if not pending:
            if len(values) >= self.batch_size:
                self._send(c, values, timestamps)
                return
            self.pending[c] = list(values)
            self.pending_ts[c] = None if timestamps is None else list(timestamps)
            return
        pts = self.pending_ts[c]
        if (pts is None) != (timestamps is None):
            self.flush_channel(c)
            self._append(c, values, timestamps)
            return
        pending.extend(values)
        if pts is not None and timestamps is not None:
            pts.extend(timestamps)
        if len(pending) >= self.batch_size:
            self.flush_channel(c)

    def _send(self, c: int, values: Values, timestamps: Timestamps) -> None:
        self.bytes_out += self.subpartitions[c].send_batch(values, timestamps)

    def flush_channel(self, c: int) -> None:
        """Send channel c's buffered records."""
        values = self.pending[c]
        if values:
            ts = self.pending_ts[c]
            self.pending[c] = []
            self.pending_ts[c] = None
            self._send(c, values, ts)

    def flush(self) -> None:
        """Send every buffered record."""
        for c in range(self.n):
            if self.pending[c]:
                self.flush_channel(c)

    def broadcast_event(self, event: StreamEvent) -> None:
        """Flush, then send an event to every channel (keeps order with the data)."""
        self.flush()
        for sp in self.subpartitions:
            sp.send_event(event)

    @property
    def back_pressured_ns(self) -> int:
        """Nanoseconds spent waiting for credit."""
        return self.partition.back_pressured_ns
