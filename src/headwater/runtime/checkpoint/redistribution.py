"""How state moves when a vertex restores at another parallelism.

Keyed state moves by key group: new subtask i takes the key groups of its range from
whichever old subtasks held them. Operator list state is redistributed as Flink does:
"split" deals the items of all old subtasks out evenly, "union" gives every new
subtask all items, "broadcast" gives every new subtask one old subtask's items (broadcast
state is the same on every subtask: new subtask i takes old subtask i mod the old
parallelism's copy, as Flink does); "opaque" state is only restored at unchanged
parallelism.
"""

from __future__ import annotations

from typing import Any

from headwater.runtime.operators.base import OperatorStateSnapshot


class StateMismatch(ValueError):
    """Checkpointed state cannot be mapped onto the new job."""


def redistribute_operator_state(old: list[OperatorStateSnapshot | None], new_parallelism: int,
                                new_index: int) -> OperatorStateSnapshot | None:
    """The operator state subtask ``new_index`` of ``new_parallelism`` restores.

    ``old`` holds the snapshots of all old subtasks in subtask order."""
    if len(old) == new_parallelism:
        return old[new_index]
    present = [s for s in old if s]
    if not present:
        return None
    merged: dict[str, tuple[str, list[Any]]] = {}
    for snapshot in present:
        for name, (mode, items) in snapshot.items():
            if mode == "opaque":
                raise StateMismatch(
                    f"operator state {name!r} cannot be redistributed from parallelism "
                    f"{len(old)} to {new_parallelism}")
            if mode not in ("split", "union", "broadcast"):
                raise StateMismatch(f"unknown redistribution mode {mode!r} of state {name!r}")
            entry = merged.setdefault(name, (mode, []))
            if entry[0] != mode:
                raise StateMismatch(f"operator state {name!r} was checkpointed with modes "
                                    f"{entry[0]!r} and {mode!r}")
            if mode == "broadcast":
                entry[1].append(items)  # one copy per old subtask
            else:
                entry[1].extend(items)
    out: OperatorStateSnapshot = {}
    for name, (mode, items) in merged.items():
        if mode == "broadcast":
            out[name] = (mode, list(items[new_index % len(items)]))
        elif mode == "union":
            out[name] = (mode, list(items))
        else:
            start = new_index * len(items) // new_parallelism
            end = (new_index + 1) * len(items) // new_parallelism
            out[name] = (mode, items[start:end])
    return out


def group_tables(flat: list[dict[str, dict[Any, Any]] | None], key_groups: range,
                 max_parallelism: int) -> dict[int, Any]:
    """Flat snapshots ``{state name: {key: value}}`` (heap backends) regrouped by key
    group, keeping only the key groups of ``key_groups``."""
    from headwater.runtime.state.key_groups import assign_to_key_group

    wanted = set(key_groups)
    out: dict[int, dict[str, dict[Any, Any]]] = {}
    cache: dict[Any, int] = {}
    for tables in flat:
        if not tables:
            continue
        for name, entries in tables.items():
            for key, value in entries.items():
                group = cache.get(key)
                if group is None:
                    group = cache[key] = assign_to_key_group(key, max_parallelism)
                if group in wanted:
                    out.setdefault(group, {}).setdefault(name, {})[key] = value
    return out


def select_key_groups(old_keyed: list[dict[int, Any] | None],
                      key_groups: range) -> dict[int, Any]:
    """The key groups of ``key_groups`` gathered from the old subtasks' keyed snapshots."""
    wanted = set(key_groups)
    out: dict[int, Any] = {}
    for snapshot in old_keyed:
        if not snapshot:
            continue
        for group, tables in snapshot.items():
            if group in wanted:
                out[group] = tables
    return out
