"""Separating ``(OutputTag, value)`` pairs from an operator's main output.

Process functions yield ``tag, value`` for side outputs. After a batch, the operator
calls :func:`split_side_outputs`; batches without any tuple cost one C-level pass
(``set(map(type, out))``), so records that are not tuples pay (almost) nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from headwater.api.side_outputs import OutputTag


def split_side_outputs(out: list, out_ts: list | None,
                       emit_side_output: Callable | None) -> tuple[list, list | None]:
    """Send tagged records to ``emit_side_output(tag_id, values, timestamps)`` and return
    the main output (values, timestamps). Tagged records are dropped without an emitter."""
    if not out or tuple not in set(map(type, out)):
        return out, out_ts
    main: list = []
    main_ts: list | None = None if out_ts is None else []
    side: dict[str, tuple[list, list | None]] = {}
    for i, v in enumerate(out):
        if type(v) is tuple and len(v) == 2 and isinstance(v[0], OutputTag):
            entry = side.get(v[0].tag_id)
            if entry is None:
                entry = side[v[0].tag_id] = ([], None if out_ts is None else [])
            entry[0].append(v[1])
            if out_ts is not None and entry[1] is not None:
                entry[1].append(out_ts[i])
        else:
            main.append(v)
            if out_ts is not None and main_ts is not None:
                main_ts.append(out_ts[i])
    if not side:
        return out, out_ts
    if emit_side_output is not None:
        for tag_id, (values, timestamps) in side.items():
            emit_side_output(tag_id, values, timestamps)
    return (main, main_ts) if main else ([], None)
