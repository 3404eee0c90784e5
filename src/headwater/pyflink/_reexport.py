"""Re-exporting names of ``headwater.api`` that may not exist yet (see ``_scope.ARRIVING``)."""

from __future__ import annotations

from typing import Any

import headwater.api


def available(names: list[str]) -> dict[str, Any]:
    """The names of ``names`` that ``headwater.api`` has, with their values."""
    found = {}
    for name in names:
        try:
            found[name] = getattr(headwater.api, name)
        except AttributeError:
            continue
    return found
