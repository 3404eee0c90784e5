"""Side outputs: extra streams a function emits besides its main output.

A process function yields ``(output_tag, value)`` to send ``value`` to the side output
named by the tag; ``get_side_output(tag)`` on the resulting stream reads it::

    late = OutputTag("late")

    class Split(ProcessFunction):
        def process_element(self, value, ctx):
            if value < 0:
                yield late, value      # to the side output
            else:
                yield value            # to the main output

    main = stream.process(Split())
    main.get_side_output(late).print()

Windowed streams send late records to ``side_output_late_data(tag)``.
"""

from __future__ import annotations

from typing import Any


class OutputTag:
    """Names a side output; tags with the same ``tag_id`` are the same side output."""

    __slots__ = ("tag_id", "type_info")

    def __init__(self, tag_id: str, type_info: Any = None) -> None:
        if not isinstance(tag_id, str) or not tag_id:
            raise ValueError("OutputTag id cannot be null or empty.")
        self.tag_id = tag_id
        self.type_info = type_info

    def get_id(self) -> str:
        """The tag's id."""
        return self.tag_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutputTag) and other.tag_id == self.tag_id

    def __hash__(self) -> int:
        return hash(self.tag_id)

    def __repr__(self) -> str:
        return f"OutputTag({self.tag_id!r})"

    def __getstate__(self):
        return (self.tag_id, self.type_info)

    def __setstate__(self, state) -> None:
        self.tag_id, self.type_info = state
