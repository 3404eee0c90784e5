"""Expected results of keyed event-time windows, computed independently of headwater's
window operators (plain Python window assignment and session merging, pyarrow
group-by): the reference the columnar window tests compare with."""

from __future__ import annotations

import collections
from typing import Any

import pyarrow as pa


def _aggregate(table: pa.Table, keys: list[str], value: str) -> list[tuple]:
    result = table.group_by([*keys, "start", "end"]).aggregate(
        [(value, "sum"), (value, "count"), (value, "min"), (value, "max"), (value, "mean")])
    return sorted(tuple(r[k] for k in keys) + (r["start"], r["end"], r[f"{value}_sum"],
                                               r[f"{value}_count"], r[f"{value}_min"],
                                               r[f"{value}_max"], r[f"{value}_mean"])
                  for r in result.to_pylist())


def sliding(rows: list[dict[str, Any]], key: str, time: str, value: str, size: int,
            slide: int) -> list[tuple]:
    """``(key, start, end, sum, count, min, max, mean)`` of every window: each row goes
    to every window ``[start, start + size)`` with ``start % slide == 0`` holding it."""
    exploded = []
    for r in rows:
        t = r[time]
        start = t - t % slide
        while start > t - size:
            exploded.append({key: r[key], "start": start, "end": start + size,
                             value: r[value]})
            start -= slide
    return _aggregate(pa.Table.from_pylist(exploded), [key], value)


def sessions(rows: list[dict[str, Any]], key: str, time: str, value: str,
             gap: int) -> list[tuple]:
    """``(key, start, end, sum, count, min, max, mean)`` of every session: rows of a key
    sorted by time, a new session where the next row is more than ``gap`` after the
    current session's last row (windows ``[t, t + gap)`` that touch merge)."""
    by_key: dict[Any, list[dict]] = collections.defaultdict(list)
    for r in rows:
        by_key[r[key]].append(r)
    labelled = []
    for k, group in by_key.items():
        group.sort(key=lambda r: r[time])
        members: list[dict] = []
        start = end = 0
        for r in group:
            t = r[time]
            if members and t > end:
                labelled += [{key: k, "start": start, "end": end, value: m[value]}
                             for m in members]
                members = []
            if not members:
                start = t
            end = t + gap
            members.append(r)
        labelled += [{key: k, "start": start, "end": end, value: m[value]} for m in members]
    return _aggregate(pa.Table.from_pylist(labelled), [key], value)
