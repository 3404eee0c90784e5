"""Turning what ``key_by`` and ``sum``/``min``/``max`` accept into fast callables.

``key_by(0)`` becomes ``operator.itemgetter(0)``; ``key_by("user")`` becomes a
:class:`FieldKeySelector` that works on dicts (``value["user"]``) and objects
(``value.user``) and, on the first record it sees, *specializes* into the matching C-level
``itemgetter``/``attrgetter`` so the hot path costs no Python frame.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any


class FieldKeySelector:
    """Selects a named field of dict-like or attribute-style records."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field

    def __call__(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return value[self.field]
        return getattr(value, self.field)

    def specialize(self, sample: Any) -> Callable[[Any], Any]:
        """The fastest selector for records shaped like ``sample``."""
        if isinstance(sample, Mapping):
            return operator.itemgetter(self.field)
        return operator.attrgetter(self.field)

    def __repr__(self) -> str:
        return f"FieldKeySelector({self.field!r})"

    def __getstate__(self):
        return self.field

    def __setstate__(self, state) -> None:
        self.field = state


def to_key_selector(key: Any) -> Callable[[Any], Any]:
    """A callable record -> key for what ``key_by`` accepts: a callable, a KeySelector,
    an int (tuple/list index) or a str (dict key or attribute name)."""
    from headwater.api.functions import KeySelector

    if isinstance(key, KeySelector):
        return key.get_key
    if isinstance(key, bool):
        raise TypeError("key_by expects a callable, an int index or a field name")
    if isinstance(key, int):
        return operator.itemgetter(key)
    if isinstance(key, str):
        return FieldKeySelector(key)
    if isinstance(key, (tuple, list)) and key and all(isinstance(k, int) for k in key):
        return operator.itemgetter(*key)
    if callable(key):
        return key
    raise TypeError(f"key_by expects a callable, an int index or a field name, got {key!r}")


def specialize(selector: Callable[[Any], Any], sample: Any) -> Callable[[Any], Any]:
    """Resolve a selector that can specialize (see :class:`FieldKeySelector`)."""
    spec = getattr(selector, "specialize", None)
    return spec(sample) if spec is not None else selector
