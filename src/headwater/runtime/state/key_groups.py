"""Key groups: how keys map to key groups, and key groups to parallel subtasks.

Keyed state is partitioned into ``max_parallelism`` key groups. A key's group comes from a
hash that does not depend on ``PYTHONHASHSEED`` or the process, so every subtask of every
TaskManager (and every restore at another parallelism) agrees on it. The arithmetic after
the hash is Flink's ``KeyGroupRangeAssignment`` and ``MathUtils.murmurHash``::

    >>> kg = assign_to_key_group("user-42", 128)
    >>> compute_operator_index_for_key_group(128, 4, kg) in range(4)
    True

``stable_hash`` returns a Java-style signed 32-bit hash code. Integers hash like Java's
``Integer.hashCode`` / ``Long.hashCode``, so int keys land in the same key groups as
Integer/Long keys do in Flink. Values that compare equal in Python (``1``, ``1.0``,
``True``) hash equal, because Python dicts (key caches, state tables) treat them as one key.
"""

from __future__ import annotations

import operator
import pickle
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_NONE_HASH = 0x2F6B_4A1D  # arbitrary constant for None
_TUPLE_SEED = 0x345678


def _to_signed32(x: int) -> int:
    x &= _M32
    return x - 0x1_0000_0000 if x & 0x8000_0000 else x


def _int_hash(value: int) -> int:
    """Java's Integer.hashCode for 32-bit values, Long.hashCode for 64-bit values."""
    if -0x8000_0000 <= value <= 0x7FFF_FFFF:
        return value
    if -0x8000_0000_0000_0000 <= value <= 0x7FFF_FFFF_FFFF_FFFF:
        v = value & _M64
        return _to_signed32(v ^ (v >> 32))
    length = (value.bit_length() + 8) // 8
    return _to_signed32(zlib.crc32(value.to_bytes(length, "little", signed=True)) ^ 0x5BD1E995)


def stable_hash(key: Any) -> int:
    """A signed 32-bit hash of ``key`` that is the same in every process and run.

    str: crc32 of UTF-8; int: Java's Integer/Long hashCode; bool: as int; float: as int when
    integral, else crc32 of the IEEE bytes; bytes: crc32; None: a constant; tuple/list:
    31-style combination of element hashes; frozenset: order-independent sum; anything
    else: crc32 of its pickle (protocol 5).
    """
    t = type(key)
    if t is str:
        return _to_signed32(zlib.crc32(key.encode("utf-8", "surrogatepass")))
    if t is int:
        return _int_hash(key)
    if t is tuple or t is list:
        h = _TUPLE_SEED
        for item in key:
            h = (h * 31 + stable_hash(item)) & _M32
        return _to_signed32(h)
    if key is None:
        return _NONE_HASH
    if t is bool:
        return int(key)
    if t is float:
        if key.is_integer():
            return _int_hash(int(key))
        return _to_signed32(zlib.crc32(struct.pack("<d", key)))
    if t is bytes or t is bytearray:
        return _to_signed32(zlib.crc32(key))
    if t is frozenset or t is set:
        return _to_signed32(sum(stable_hash(item) for item in key) ^ 0x7F4A7C15)
    if isinstance(key, int):  # IntEnum and other int subclasses compare equal to ints
        return _int_hash(int(key))
    if isinstance(key, str):
        return stable_hash(str(key))
    if isinstance(key, tuple):  # named tuples compare equal to plain tuples
        return stable_hash(tuple(key))
    return _to_signed32(zlib.crc32(pickle.dumps(key, protocol=5)))


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def murmur_hash(code: int) -> int:
    """Flink's ``MathUtils.murmurHash(int)``: a non-negative int from a 32-bit hash code."""
    code &= _M32
    code = (code * 0xCC9E2D51) & _M32
    code = _rotl32(code, 15)
    code = (code * 0x1B873593) & _M32
    code = _rotl32(code, 13)
    code = (code * 5 + 0xE6546B64) & _M32
    code ^= 4
    # bitMix (murmur3 fmix32)
    code ^= code >> 16
    code = (code * 0x85EBCA6B) & _M32
    code ^= code >> 13
    code = (code * 0xC2B2AE35) & _M32
    code ^= code >> 16
    if code & 0x8000_0000:
        signed = code - 0x1_0000_0000
        return 0 if signed == -0x8000_0000 else -signed
    return code


def compute_key_group_for_key_hash(key_hash: int, max_parallelism: int) -> int:
    """Flink's ``computeKeyGroupForKeyHash``: murmur hash of the hash code modulo max par."""
    return murmur_hash(key_hash) % max_parallelism


def assign_to_key_group(key: Any, max_parallelism: int) -> int:
    """The key group (0 .. max_parallelism-1) of ``key``."""
    return murmur_hash(stable_hash(key)) % max_parallelism


def compute_operator_index_for_key_group(max_parallelism: int, parallelism: int,
                                         key_group: int) -> int:
    """The subtask index that owns ``key_group`` (Flink's formula)."""
    return key_group * parallelism // max_parallelism


def assign_key_to_parallel_operator(key: Any, max_parallelism: int, parallelism: int) -> int:
    """The subtask index that owns ``key``."""
    return assign_to_key_group(key, max_parallelism) * parallelism // max_parallelism


class KeyGroupRange(NamedTuple):
    """An inclusive range of key groups [start, end], Flink's ``KeyGroupRange``."""

    start: int
    end: int

    def __contains__(self, key_group: object) -> bool:
        return isinstance(key_group, int) and self.start <= key_group <= self.end

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.end + 1))

    def __len__(self) -> int:
        return max(0, self.end - self.start + 1)

    @property
    def number_of_key_groups(self) -> int:
        """How many key groups the range holds."""
        return len(self)


def as_key_group_range(key_groups: KeyGroupRange | Iterable[int]) -> KeyGroupRange:
    """``key_groups`` as a KeyGroupRange: a range is kept, any other iterable becomes the
    range from its first to its last item (empty: ``KeyGroupRange(0, -1)``)."""
    if isinstance(key_groups, KeyGroupRange):
        return key_groups
    groups = list(key_groups)
    return KeyGroupRange(groups[0], groups[-1]) if groups else KeyGroupRange(0, -1)


def key_group_range_for_operator(max_parallelism: int, parallelism: int,
                                 operator_index: int) -> KeyGroupRange:
    """Key groups owned by subtask ``operator_index`` (Flink's
    ``computeKeyGroupRangeForOperatorIndex``)."""
    if not 0 < parallelism <= max_parallelism:
        raise ValueError(f"parallelism {parallelism} must be in 1..{max_parallelism}")
    start = (operator_index * max_parallelism + parallelism - 1) // parallelism
    end = ((operator_index + 1) * max_parallelism - 1) // parallelism
    return KeyGroupRange(start, end)


def compute_default_max_parallelism(parallelism: int) -> int:
    """Flink's default max parallelism: 1.5x parallelism rounded up to a power of two,
    at least 128 and at most 32768."""
    target = parallelism + parallelism // 2
    power = 1 << max(0, (target - 1).bit_length())
    return min(max(power, 128), 32768)


class KeyGroupChannelSelector:
    """Splits a batch into per-channel lists by key group (the HASH ship strategy).

    The key -> channel decision is cached per distinct key, so the per-record cost is the
    key selector call and a dict lookup. ``key_selector`` may offer ``specialize(sample)``
    (see :mod:`headwater.api.key_selectors`); it is then resolved on the first batch.
    """

    #: The cache is dropped when it grows beyond this many keys (unbounded key spaces).
    MAX_CACHED_KEYS = 1 << 20

    def __init__(self, max_parallelism: int, num_channels: int, key_selector) -> None:
        self.max_parallelism = max_parallelism
        self.num_channels = num_channels
        self.key_selector = key_selector
        self._resolved = not hasattr(key_selector, "specialize")
        self.cache: dict[Any, int] = {}

    def channel_of_key(self, key: Any) -> int:
        """The channel of one key (not cached)."""
        return (murmur_hash(stable_hash(key)) % self.max_parallelism) * self.num_channels \
            // self.max_parallelism

    def _fill(self, values: list) -> None:
        """Cache the channel of every key of ``values`` (the slow path)."""
        cache = self.cache
        keys = set(map(self.key_selector, values))
        if len(cache) + len(keys) > self.MAX_CACHED_KEYS:
            cache.clear()
        maxp, n = self.max_parallelism, self.num_channels
        for k in keys:
            if k not in cache:
                cache[k] = (murmur_hash(stable_hash(k)) % maxp) * n // maxp

    def _resolve(self, values: list) -> None:
        if values:
            self.key_selector = self.key_selector.specialize(values[0])
            self._resolved = True

    def channels_of(self, values: list) -> list[int]:
        """The channel of each value, in order."""
        if not self._resolved:
            self._resolve(values)
        lookup = self.cache.__getitem__
        try:
            return list(map(lookup, map(self.key_selector, values)))
        except KeyError:
            self._fill(values)
        return list(map(lookup, map(self.key_selector, values)))

    def select(self, values: list) -> list[list]:
        """Split ``values`` into one list per channel (order kept within a channel)."""
        n = self.num_channels
        if n == 1:
            return [list(values)]
        if not self._resolved:
            self._resolve(values)
        try:
            return self._split(values)
        except KeyError:  # unseen keys: cache them all, then split again
            self._fill(values)
        return self._split(values)

    def _split(self, values: list) -> list[list]:
        """Split by the cached channels; KeyError at the first unseen key."""
        ks, cache = self.key_selector, self.cache
        out: list[list] = [[] for _ in range(self.num_channels)]
        appends = [o.append for o in out]
        if type(ks) is operator.itemgetter and repr(ks) == "operator.itemgetter(0)":
            for v in values:  # key_by(0): the index inline, no selector call (~15%)
                appends[cache[v[0]]](v)
        else:
            for v in values:
                appends[cache[ks(v)]](v)
        return out
