"""Arrow record batches on the data plane: one batch is one network buffer.

A columnar edge carries ``pyarrow.RecordBatch`` values. Local channels pass the batch
object; remote channels send it as one Arrow IPC stream (frame kind
:data:`~headwater.runtime.network.frames.DATA_ARROW`): no pickle and no per-row work.
Credits, back-pressure and events are those of the record path, since every batch goes
through the same :class:`~headwater.runtime.network.partition.Subpartition`.

pyarrow is imported only when a batch is seen, so the record path never needs it.
"""

from __future__ import annotations

from typing import Any


class Batches(list):  # type: ignore[type-arg]
    """Arrow record batches travelling as one list whose ``len()`` is their row count.

    The chain, the input processor and the writers count ``len(values)`` once per list;
    columnar operators and channels hand batches on in this list, so every record
    counter (``numRecordsIn/Out`` of tasks and operators) counts rows, not batches.
    Iteration and indexing see the batches.
    """

    __slots__ = ("rows",)

    def __init__(self, batches: Any = ()) -> None:
        super().__init__(batches)
        self.rows: int = sum(int(b.num_rows) for b in self)

    def __len__(self) -> int:
        return self.rows


def is_arrow_batch(value: Any) -> bool:
    """Whether ``value`` is a ``pyarrow.RecordBatch`` (without importing pyarrow)."""
    t = type(value)
    return t.__name__ == "RecordBatch" and t.__module__.startswith("pyarrow")


def dumps(batch: Any) -> Any:
    """``batch`` as the bytes of one Arrow IPC stream (a buffer-protocol object)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return memoryview(sink.getvalue())


def loads(data: Any) -> tuple[Batches, None]:
    """Decode an IPC buffer into ``([batch], None)`` (the record path's decoder shape)."""
    import pyarrow as pa

    reader = pa.ipc.open_stream(pa.py_buffer(data))
    return Batches([reader.read_next_batch()]), None


def emit_batches(writer: Any, batches: list[Any]) -> None:
    """Send each batch of ``batches`` through a RecordWriter's channels, each as its own
    buffer: FORWARD to channel 0, a column key selector (``split_batch``) splits a batch
    into at most one slice per channel, rebalance deals whole batches round robin,
    broadcast sends each batch to every channel. Counts rows and IPC bytes."""
    n = writer.n
    strategy = writer.strategy
    split = getattr(writer.key_selector, "split_batch", None) if strategy == "CUSTOM" else None
    if writer.input_tag is not None:
        raise TypeError("a stream of Arrow batches cannot feed a two-input operator; "
                        "convert it with BatchStream.to_records() first")
    if strategy == "HASH":
        raise TypeError("a stream of Arrow batches is keyed with BatchStream.key_by(column...)")
    subs = writer.subpartitions
    for batch in batches:
        if not is_arrow_batch(batch):
            raise TypeError(f"a columnar edge got a {type(batch).__name__}, "
                            "not a pyarrow.RecordBatch")
        rows = batch.num_rows
        if rows == 0:
            continue
        writer.records_out += rows
        if split is not None:
            for c, part in split(batch, n, writer.max_parallelism):
                writer.bytes_out += subs[c].send_arrow(part)
        elif n == 1 or strategy == "FORWARD":
            writer.bytes_out += subs[0].send_arrow(batch)
        elif strategy == "BROADCAST":
            for sub in subs:
                writer.bytes_out += sub.send_arrow(batch)
        else:  # REBALANCE, RESCALE, SHUFFLE: whole batches, round robin
            c = writer._rr
            writer._rr = (c + 1) % n
            writer.bytes_out += subs[c].send_arrow(batch)
