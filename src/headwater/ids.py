"""Identifiers: Flink's 32-character lower-case hex ids."""

from __future__ import annotations

import re
import uuid

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def new_id() -> str:
    """A fresh random 32-character lower-case hex id (JobID, trigger id...)."""
    return uuid.uuid4().hex


def is_hex_id(value: object) -> bool:
    """True for a 32-character hex string (Flink's AbstractID form; any case)."""
    return isinstance(value, str) and _HEX32.fullmatch(value) is not None


def parse_hex_id(value: str) -> str:
    """Normalize a 32-character hex id to lower case; ValueError if malformed."""
    if not is_hex_id(value):
        raise ValueError(f"not a 32-character hexadecimal id: {value!r}")
    return value.lower()
