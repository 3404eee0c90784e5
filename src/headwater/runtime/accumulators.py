"""Accumulator values on the wire and their merging on the JobManager.

TaskManagers send each accumulator as a pickled ``(kind, data)`` pair of plain values;
the JobManager unpickles them with a restricted unpickler (no classes, so no user code)
and merges per kind: counters add, lists concatenate, averages add sums and counts,
histograms add bin counts.
"""

from __future__ import annotations

import base64
import io
import pickle
from typing import Any


def to_wire(acc: Any) -> tuple[str, Any]:
    """(kind, plain data) for an accumulator object."""
    if hasattr(acc, "to_wire"):
        return acc.to_wire()
    return type(acc).__name__, acc.get_local_value()


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles only builtin containers and scalars: no globals at all."""

    def find_class(self, module: str, name: str):  # noqa: D102
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def decode_wire(blob: str) -> tuple[str, Any]:
    """Decode one base64 accumulator from a TaskManager (plain data only)."""
    return _PlainUnpickler(io.BytesIO(base64.b64decode(blob))).load()


def merge(kind: str, a: Any, b: Any) -> Any:
    """Merge two wire values of the same kind."""
    if kind in ("IntCounter", "LongCounter", "DoubleCounter"):
        return a + b
    if kind == "ListAccumulator":
        return list(a) + list(b)
    if kind == "Average":  # (sum, count)
        return (a[0] + b[0], a[1] + b[1])
    if kind == "Histogram":  # {bin: count}
        out = dict(a)
        for k, v in b.items():
            out[k] = out.get(k, 0) + v
        return out
    if kind == "Max":
        return max(a, b)
    if kind == "Min":
        return min(a, b)
    raise ValueError(f"cannot merge accumulators of kind {kind}")


def final_value(kind: str, data: Any) -> Any:
    """The user-visible value of merged wire data."""
    if kind == "Average":
        total, count = data
        return total / count if count else 0.0
    return data


def merge_all(per_task: list[dict[str, str]]) -> dict[str, tuple[str, Any]]:
    """Merge the accumulators of many tasks: name -> (kind, merged data)."""
    merged: dict[str, tuple[str, Any]] = {}
    for accs in per_task:
        for name, blob in accs.items():
            kind, data = decode_wire(blob)
            if name in merged:
                mkind, mdata = merged[name]
                if mkind != kind:
                    raise ValueError(f"accumulator {name!r} has kinds {mkind} and {kind}")
                merged[name] = (kind, merge(kind, mdata, data))
            else:
                merged[name] = (kind, data)
    return merged


def serialize_result(value: Any) -> str:
    """base64 pickle of a final accumulator value, as execution-result carries it."""
    return base64.b64encode(pickle.dumps(value, protocol=5)).decode()


def deserialize_result(blob: str) -> Any:
    """The value of an ``accumulator-results`` entry."""
    return pickle.loads(base64.b64decode(blob))
