"""Key groups of Arrow batches, vectorized, and keyed state held as Arrow tables.

:func:`key_groups_of` gives each row of a batch exactly the key group the record path
gives the same key value (:func:`~headwater.runtime.state.key_groups.assign_to_key_group`):
the stable hash runs once per *distinct* value of a batch (dictionary encoding), the
murmur mix and the modulo run over numpy arrays for every row. A multi-column key hashes
like the record path's tuple key ``(c1, c2, ...)``. So a key lands in the same key group,
and the same subtask, on both paths.

Keyed columnar state is a table with one row per key; a snapshot splits it by key group
into Arrow IPC bytes per group (:func:`split_by_key_group`), so rescaling moves whole key
groups as the record path does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.runtime.state.key_groups import _TUPLE_SEED, stable_hash

_M32 = 0xFFFFFFFF
#: Distinct key values whose hash is remembered between batches (per process).
_CACHE_LIMIT = 1 << 20
_hash_cache: dict[Any, int] = {}


def _dictionary_hashes(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(hash of each distinct value, index of each row's value)`` of one column: the
    record path's stable hash (int64 of signed 32-bit values), once per distinct value."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        known = _known_hashes(column)
        if known is not None:
            return known
        column = pc.dictionary_encode(column, null_encoding="encode")
    indices = column.indices
    hashes = _hashes_of_dictionary(column.dictionary)
    if indices.null_count:  # a dictionary array with null indices: None's hash
        hashes = np.append(hashes, stable_hash(None))
        indices = pc.fill_null(indices, len(hashes) - 1)
    return hashes, indices.to_numpy(zero_copy_only=False)


#: The last dictionary seen and its hashes: batches of one source share a dictionary.
_last_dictionary: list[Any] = [None, None]

#: Plain (not dictionary-encoded) string and integer key columns: per Arrow type, the
#: distinct values hashed so far (an Arrow array) and their hashes. A column whose
#: values are all known gets its hashes by one vectorized lookup (``index_in``) instead
#: of a Python loop over its distinct values: the local-global aggregation's partial
#: batches hold the same keys in a new order every time.
_known: dict[Any, tuple[Any, np.ndarray]] = {}
#: Distinct values remembered per type (beyond it, the set starts over).
_KNOWN_LIMIT = 1 << 16


def _known_hashes(column: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(hashes, index of each row's value)`` of a plain string or integer column, from
    (and into) the known values of its type; None for other columns and columns with
    nulls (the dictionary path handles them)."""
    t = column.type
    if column.null_count or not (pa.types.is_string(t) or pa.types.is_large_string(t)
                                 or pa.types.is_integer(t)):
        return None
    entry = _known.get(t)
    if entry is not None:
        values, hashes = entry
        index = pc.index_in(column, value_set=values)
        if not index.null_count:
            return hashes, index.to_numpy(zero_copy_only=False)
        new = pc.unique(column.filter(pc.is_null(index)))
        if len(values) + len(new) > _KNOWN_LIMIT:
            entry = None
    if entry is None:
        new = pc.unique(column)
        if len(new) > _KNOWN_LIMIT:
            return None
        values, hashes = new.slice(0, 0), np.empty(0, dtype=np.int64)
    new_hashes = _hashes_of_dictionary(new)
    values = pa.concat_arrays([values, new])
    hashes = np.concatenate([hashes, new_hashes])
    _known[t] = (values, hashes)
    return hashes, pc.index_in(column, value_set=values).to_numpy(zero_copy_only=False)


def _hashes_of_dictionary(dictionary: Any) -> np.ndarray:
    last, last_hashes = _last_dictionary
    if last is not None and len(last) == len(dictionary) and last.equals(dictionary):
        return last_hashes
    cache = _hash_cache
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    values = dictionary.to_pylist()
    hashes = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        try:
            h = cache.get((type(v), v))
        except TypeError:  # unhashable (lists): hash each time
            hashes[i] = stable_hash(v)
            continue
        if h is None:
            h = cache[(type(v), v)] = stable_hash(v)
        hashes[i] = h
    if len(values) >= 64:
        _last_dictionary[:] = [dictionary, hashes]
    return hashes


def _column_hashes(column: Any) -> np.ndarray:
    """The record path's stable hash of every value of one column."""
    hashes, indices = _dictionary_hashes(column)
    return hashes[indices]


def key_hashes(batch: Any, columns: Sequence[str]) -> np.ndarray:
    """The stable hash of each row's key (one column: its value; several: the tuple)."""
    if len(columns) == 1:
        return _column_hashes(batch.column(columns[0]))
    h = np.full(batch.num_rows, _TUPLE_SEED, dtype=np.int64)
    for name in columns:
        h = (h * 31 + _column_hashes(batch.column(name))) & _M32
    return np.where(h >= 0x8000_0000, h - 0x1_0000_0000, h)


def murmur_hash_np(codes: np.ndarray) -> np.ndarray:
    """Flink's ``MathUtils.murmurHash`` over an array of 32-bit hash codes (int64 out)."""
    c = (codes & _M32).astype(np.uint32)
    c = c * np.uint32(0xCC9E2D51)
    c = (c << np.uint32(15)) | (c >> np.uint32(17))
    c = c * np.uint32(0x1B873593)
    c = (c << np.uint32(13)) | (c >> np.uint32(19))
    c = c * np.uint32(5) + np.uint32(0xE6546B64)
    c ^= np.uint32(4)
    c ^= c >> np.uint32(16)
    c = c * np.uint32(0x85EBCA6B)
    c ^= c >> np.uint32(13)
    c = c * np.uint32(0xC2B2AE35)
    c ^= c >> np.uint32(16)
    signed = c.view(np.int32).astype(np.int64)
    out = np.abs(signed)
    out[signed == -0x8000_0000] = 0
    return out


def key_groups_of(batch: Any, columns: Sequence[str], max_parallelism: int) -> np.ndarray:
    """The key group of every row of ``batch`` keyed by ``columns``."""
    if len(columns) == 1:  # mix once per distinct value, then gather
        hashes, indices = _dictionary_hashes(batch.column(columns[0]))
        return (murmur_hash_np(hashes) % max_parallelism)[indices]
    return murmur_hash_np(key_hashes(batch, columns)) % max_parallelism


#: The channel of each value of the last hashes :func:`split_by_channel` saw: (hashes,
#: (max parallelism, channels), channels), read and replaced as one tuple.
_channels_memo: list[tuple[Any, Any, Any]] = [(None, None, None)]


def split_by_channel(batch: Any, columns: Sequence[str], num_channels: int,
                     max_parallelism: int) -> list[tuple[int, Any]]:
    """``batch`` as at most one slice per channel: ``[(channel, slice), ...]``; rows keep
    their order within a slice."""
    if num_channels == 1:
        return [(0, batch)]
    if len(columns) == 1:  # channel once per distinct value, then gather
        hashes, indices = _dictionary_hashes(batch.column(columns[0]))
        memo = _channels_memo[0]
        if memo[0] is not hashes or memo[1] != (max_parallelism, num_channels):
            # the same hashes come back batch after batch (a source's dictionary, the
            # known keys): their channels are computed once
            memo = (hashes, (max_parallelism, num_channels),
                    murmur_hash_np(hashes) % max_parallelism * num_channels
                    // max_parallelism)
            _channels_memo[0] = memo
        channels = memo[2][indices]
    else:
        channels = key_groups_of(batch, columns, max_parallelism) * num_channels \
            // max_parallelism
    first = channels[0]
    if (channels == first).all():
        return [(int(first), batch)]
    if num_channels <= 8:  # a few comparisons beat a sort
        out: list[tuple[int, Any]] = []
        for c in range(num_channels):
            rows = np.flatnonzero(channels == c)
            if len(rows):
                out.append((c, batch.take(pa.array(rows))))
        return out
    order = np.argsort(channels, kind="stable")
    ordered = batch.take(pa.array(order))
    counts = np.bincount(channels, minlength=num_channels)
    out = []
    offset = 0
    for c in range(num_channels):
        n = int(counts[c])
        if n:
            out.append((c, ordered.slice(offset, n)))
            offset += n
    return out


def to_ipc(table: Any) -> bytes:
    """A table as the bytes of one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> Any:
    """The table of one Arrow IPC stream."""
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def split_by_key_group(table: Any, columns: Sequence[str],
                       max_parallelism: int) -> list[tuple[int, bytes]]:
    """A state table (one row per key) as ``[(key group, IPC bytes), ...]``."""
    if table is None or table.num_rows == 0:
        return []
    batch = table.combine_chunks()
    groups = key_groups_of(batch, columns, max_parallelism)
    order = np.argsort(groups, kind="stable")
    ordered = batch.take(pa.array(order))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    ends = np.r_[starts[1:], len(sorted_groups)]
    return [(int(sorted_groups[s]), to_ipc(ordered.slice(int(s), int(e - s))))
            for s, e in zip(starts, ends, strict=True)]


def restore_key_groups(items: Iterable[tuple[int, bytes]], key_groups: range) -> Any:
    """The state table of the key groups in ``key_groups`` (None when none is held)."""
    wanted = set(key_groups)
    tables = [from_ipc(data) for group, data in items if group in wanted]
    if not tables:
        return None
    return pa.concat_tables(tables).combine_chunks()
