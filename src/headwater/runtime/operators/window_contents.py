"""What a window holds per (key, window): a running value for ``reduce``
(:class:`ReduceContents`), an accumulator for ``aggregate`` (:class:`AggregateContents`)
or the list of records for ``process``/``apply`` (:class:`ListContents`).

Contents live in the keyed state backend table ``_window_contents`` of the
:class:`~headwater.runtime.operators.window_operator.WindowOperator`
(``key -> {state window: contents}``); :func:`put_entry` writes a key's entry back.
"""

from __future__ import annotations

from typing import Any

from headwater.api.functions import RichFunction, RuntimeContext, resolve_function

#: "No contents yet" (distinct from any value a function may return).
MISSING = object()


class ReduceContents:
    """Contents = the running ``reduce`` of the window's records."""

    def __init__(self, reduce_function: Any) -> None:
        resolve_function(reduce_function, "reduce", "ReduceFunction")
        self.function = reduce_function

    def open(self, runtime_context: RuntimeContext) -> None:
        """Open the function and bind ``reduce``."""
        if isinstance(self.function, RichFunction):
            self.function.open(runtime_context)
        self.reduce = resolve_function(self.function, "reduce", "ReduceFunction")

    def close(self) -> None:
        """Close the function."""
        if isinstance(self.function, RichFunction):
            self.function.close()

    def add_all(self, acc: Any, values: list) -> Any:
        """``acc`` (or MISSING) with ``values`` reduced in."""
        reduce = self.reduce
        it = iter(values)
        if acc is MISSING:
            acc = next(it)
        for v in it:
            acc = reduce(acc, v)
        return acc

    def merge(self, a: Any, b: Any) -> Any:
        """Two windows' contents combined."""
        return self.reduce(a, b)

    def result(self, acc: Any) -> list:
        """What the window function sees."""
        return [acc]

    def __getstate__(self):
        return {"function": self.function}


class AggregateContents:
    """Contents = an AggregateFunction's accumulator."""

    def __init__(self, aggregate_function: Any) -> None:
        for method in ("create_accumulator", "add", "get_result"):
            if not callable(getattr(aggregate_function, method, None)):
                raise TypeError(f"an AggregateFunction needs {method}()")
        self.function = aggregate_function

    def open(self, runtime_context: RuntimeContext) -> None:
        """Open the function."""
        if isinstance(self.function, RichFunction):
            self.function.open(runtime_context)

    def close(self) -> None:
        """Close the function."""
        if isinstance(self.function, RichFunction):
            self.function.close()

    def add_all(self, acc: Any, values: list) -> Any:
        """The accumulator with ``values`` added."""
        fn = self.function
        if acc is MISSING:
            acc = fn.create_accumulator()
        add = fn.add
        for v in values:
            acc = add(v, acc)
        return acc

    def merge(self, a: Any, b: Any) -> Any:
        """Two accumulators combined."""
        return self.function.merge(a, b)

    def result(self, acc: Any) -> list:
        """``[get_result(acc)]``."""
        return [self.function.get_result(acc)]


class ListContents:
    """Contents = the window's records."""

    def open(self, runtime_context: RuntimeContext) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to close."""

    def add_all(self, acc: Any, values: list) -> list:
        """The list with ``values`` appended."""
        if acc is MISSING:
            return list(values)
        acc.extend(values)
        return acc

    def merge(self, a: list, b: list) -> list:
        """Both lists."""
        return a + b

    def result(self, acc: list) -> list:
        """The records."""
        return acc


class EvictingContents:
    """Contents of a window with an evictor: every ``(value, timestamp)``; the wrapped
    contents (reduce, aggregate or list) evaluate what the evictor leaves."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def open(self, runtime_context: RuntimeContext) -> None:
        """Open the wrapped contents' function."""
        self.inner.open(runtime_context)

    def close(self) -> None:
        """Close the wrapped contents' function."""
        self.inner.close()

    def add_all(self, acc: Any, pairs: list) -> list:
        """The list with the ``(value, timestamp)`` pairs appended."""
        if acc is MISSING:
            return list(pairs)
        acc.extend(pairs)
        return acc

    def merge(self, a: list, b: list) -> list:
        """Both lists."""
        return a + b

    def result(self, acc: list) -> list:
        """The values (the operator evaluates through ``evaluate`` instead)."""
        return [v for v, _ in acc]

    def evaluate(self, values: list) -> list:
        """What the window function sees for these (non-empty) values."""
        return self.inner.result(self.inner.add_all(MISSING, values))


def put_entry(table: Any, key: Any, entry: dict) -> None:
    """Write a per-key dict back to its state table (dropped when empty). Tables of
    backends that serialize (RocksDB) hand out copies, so every change is written back."""
    if entry:
        table[key] = entry
    else:
        table.pop(key, None)

