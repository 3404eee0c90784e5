"""PyFlink 1.20's public names against ``headwater.pyflink``, and the README table of them.

``python3 -m tests.pyflink_names`` rewrites the table in README.md (between the
``pyflink-names`` markers); ``tests/unit/test_pyflink_names.py`` checks that it is current.
PyFlink's names come from ``tests/data/pyflink_1_20_names.json`` (its ``__all__`` lists).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

from headwater.pyflink._scope import OUT_OF_SCOPE

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "pyflink_1_20_names.json"
README = ROOT / "README.md"
START, END = "<!-- pyflink-names:start -->", "<!-- pyflink-names:end -->"


def pyflink_modules() -> dict[str, list[str]]:
    """PyFlink module -> its public names (``__all__``, else its public classes)."""
    modules = json.loads(DATA.read_text())["modules"]
    return {name: list(dict.fromkeys(entry["all"] or entry["public_classes"]))
            for name, entry in modules.items()}


def headwater_module(pyflink_module: str) -> ModuleType:
    """``headwater.pyflink.x`` for ``pyflink.x``."""
    return importlib.import_module("headwater." + pyflink_module)


def status(module: ModuleType, name: str) -> str:
    """"yes", "out" (of scope) or "missing" for one PyFlink name."""
    if hasattr(module, name):
        return "yes"
    if name in OUT_OF_SCOPE:
        return "out"
    return "missing"


def counts(pyflink_module: str) -> dict[str, int]:
    """How many names of a module are offered, out of scope, missing."""
    module = headwater_module(pyflink_module)
    result = {"yes": 0, "out": 0, "missing": 0}
    for name in pyflink_modules()[pyflink_module]:
        result[status(module, name)] += 1
    return result


def table() -> str:
    """The README table."""
    lines = ["| PyFlink 1.20 name | `headwater.pyflink` |", "| --- | --- |"]
    for mod in ("pyflink.datastream", "pyflink.common"):
        module = headwater_module(mod)
        for name in pyflink_modules()[mod]:
            state = status(module, name)
            cell = {"yes": "yes", "missing": "**missing**"}.get(state) or \
                f"no: {OUT_OF_SCOPE[name]}"
            lines.append(f"| `{mod}.{name}` | {cell} |")
    lines.append("")
    lines.append("Submodules (names offered / PyFlink's names; not offered and why):")
    lines.append("")
    for mod, names in sorted(pyflink_modules().items()):
        if mod in ("pyflink.datastream", "pyflink.common"):
            continue
        module = headwater_module(mod)
        absent = [n for n in names if status(module, n) != "yes"]
        offered = len(names) - len(absent)
        note = "; ".join(f"`{n}` (no: {OUT_OF_SCOPE.get(n, 'missing')})" for n in absent)
        lines.append(f"* `{mod}`: {offered}/{len(names)}" + (f"; {note}" if note else ""))
    return "\n".join(lines)


def readme_block() -> str:
    """The text between the markers in README.md."""
    text = README.read_text()
    return text[text.index(START) + len(START):text.index(END)].strip("\n")


def main() -> None:
    """Rewrite the table in README.md."""
    text = README.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    README.write_text(text[:start] + "\n" + table() + "\n" + text[end:])


if __name__ == "__main__":
    main()
