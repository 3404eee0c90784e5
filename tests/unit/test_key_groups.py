"""Key-group math against Flink's algorithms, and hash stability across processes."""

from __future__ import annotations

import operator
import os
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.runtime.state.key_groups import (
    KeyGroupChannelSelector,
    KeyGroupRange,
    assign_key_to_parallel_operator,
    assign_to_key_group,
    compute_default_max_parallelism,
    compute_operator_index_for_key_group,
    key_group_range_for_operator,
    murmur_hash,
    stable_hash,
)

SRC = Path(__file__).resolve().parents[2] / "src"

# Expected values of Flink's MathUtils.murmurHash(int), produced by running Flink's Java
# code (copied verbatim into a scratch class) on a JVM. Hand check for code = 0:
#   0 * 0xcc9e2d51 = 0, rotl 15 = 0, * 0x1b873593 = 0, rotl 13 = 0,
#   0 * 5 + 0xe6546b64 = 0xe6546b64, ^ 4 = 0xe6546b60,
#   fmix32: ^>>>16 -> 0xe6548d34, *0x85ebca6b -> 0x9f7e0cbc, ^>>>13 -> 0x9f7af74c,
#           *0xc2b2ae35 -> 0x2362dabc, ^>>>16 -> 0x2362f9de = 593689054 (>= 0, returned),
#   593689054 % 128 = 94.
FLINK_MURMUR = {
    0: 593689054,
    1: 68075478,
    2: 1085422463,
    42: 1134849565,
    -1: 1982413648,
    123456789: 1088346449,
    -(2**31): 1718298732,
    2**31 - 1: 1653689534,
}

# Flink's key group (max parallelism 128) of Integer keys = murmurHash(key) % 128.
FLINK_KEY_GROUP_128 = {0: 94, 1: 86, 2: 127, 42: 29, -1: 80, 123456789: 81}


@pytest.mark.parametrize(("code", "expected"), sorted(FLINK_MURMUR.items()))
def test_murmur_hash_matches_flink(code, expected):
    assert murmur_hash(code) == expected


@pytest.mark.parametrize(("key", "expected"), sorted(FLINK_KEY_GROUP_128.items()))
def test_int_keys_land_in_flinks_key_groups(key, expected):
    assert assign_to_key_group(key, 128) == expected


def test_long_keys_hash_like_java_long():
    # Long.hashCode(4294967296L) = (int)(v ^ v >>> 32) = 1 -> same group as Integer 1.
    assert stable_hash(4294967296) == 1
    assert stable_hash(-4294967297) == 1
    assert assign_to_key_group(4294967296, 128) == FLINK_KEY_GROUP_128[1]
    # Computed by Flink's code on a JVM: Long 1234567890123 -> key group 92 of 128.
    assert assign_to_key_group(1234567890123, 128) == 92


def test_key_group_range_for_operator_is_flinks():
    # Flink: start = (i * 128 + 3 - 1) / 3, end = ((i + 1) * 128 - 1) / 3.
    assert [key_group_range_for_operator(128, 3, i) for i in range(3)] == [
        KeyGroupRange(0, 42), KeyGroupRange(43, 85), KeyGroupRange(86, 127)]
    assert key_group_range_for_operator(128, 1, 0) == KeyGroupRange(0, 127)
    assert key_group_range_for_operator(10, 10, 7) == KeyGroupRange(7, 7)


@pytest.mark.parametrize("maxp", [1, 7, 128, 1000])
@pytest.mark.parametrize("parallelism", [1, 2, 3, 5])
def test_ranges_and_operator_index_agree(maxp, parallelism):
    if parallelism > maxp:
        return
    covered = []
    for i in range(parallelism):
        rng = key_group_range_for_operator(maxp, parallelism, i)
        for kg in rng:
            assert compute_operator_index_for_key_group(maxp, parallelism, kg) == i
            assert kg in rng
        covered.extend(rng)
    assert covered == list(range(maxp))


def test_operator_index_formula():
    assert compute_operator_index_for_key_group(128, 3, 100) == 2  # 100 * 3 // 128
    assert compute_operator_index_for_key_group(128, 3, 42) == 0
    assert assign_key_to_parallel_operator(42, 128, 4) == 29 * 4 // 128


def test_default_max_parallelism():
    assert compute_default_max_parallelism(1) == 128
    assert compute_default_max_parallelism(85) == 128
    assert compute_default_max_parallelism(100) == 256  # 150 rounded up to a power of 2
    assert compute_default_max_parallelism(100_000) == 32768


def test_equal_keys_hash_equal():
    assert stable_hash(1) == stable_hash(1.0) == stable_hash(True)
    assert stable_hash(0) == stable_hash(-0.0) == stable_hash(False)
    assert stable_hash(("a", 1)) == stable_hash(("a", 1.0))
    assert stable_hash(frozenset({"a", "b"})) == stable_hash(frozenset({"b", "a"}))
    assert stable_hash("a") != stable_hash("b")
    assert stable_hash(b"a") == stable_hash(bytearray(b"a"))
    for key in ["x", 2**100, 1.5, None, (1, (2, "z")), b"\x00", frozenset({1})]:
        h = stable_hash(key)
        assert -(2**31) <= h < 2**31
        assert 0 <= assign_to_key_group(key, 128) < 128


_PRINT_HASHES = """
import datetime
from headwater.runtime.state.key_groups import stable_hash, assign_to_key_group
keys = ["word", "", "ünïcödé", 7, -3, 2**70, 3.25, None, True, b"raw", ("a", 1, (2.5, "b")),
        frozenset({"x", "y", "z"}), datetime.date(2021, 8, 1)]
print([stable_hash(k) for k in keys], [assign_to_key_group(k, 128) for k in keys])
"""


def test_stable_hash_is_identical_across_processes_and_hash_seeds():
    outputs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(SRC)}
        proc = subprocess.run([sys.executable, "-c", _PRINT_HASHES], env=env,
                              capture_output=True, text=True, timeout=60, check=True)
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith("[")


def test_channel_selector_splits_by_key_group():
    records = [(f"k{i % 37}", i) for i in range(500)]
    sel = KeyGroupChannelSelector(128, 3, operator.itemgetter(0))
    parts = sel.select(records)
    assert sorted(r for p in parts for r in p) == sorted(records)
    for channel, part in enumerate(parts):
        for key, _ in part:
            assert assign_key_to_parallel_operator(key, 128, 3) == channel
        # order within a channel is kept
        assert [v for _, v in part] == sorted(v for _, v in part)
    assert len(sel.cache) == 37
    # channels_of agrees with select, and works from the cache
    channels = sel.channels_of(records)
    assert all(records[i] in parts[c] for i, c in enumerate(channels))


def test_channel_selector_key_by_0_fast_path_splits_like_any_selector():
    records = [(f"k{i % 53}", i) for i in range(700)] + [(7, "int key"), (7.0, "float")]
    fast = KeyGroupChannelSelector(128, 3, operator.itemgetter(0))
    generic = KeyGroupChannelSelector(128, 3, lambda r: r[0])
    assert fast.select(records) == generic.select(records)
    assert fast.select(records[:5]) == generic.select(records[:5])  # from the cache


def test_channel_selector_specializes_field_selectors():
    from headwater.api.key_selectors import FieldKeySelector

    sel = KeyGroupChannelSelector(128, 2, FieldKeySelector("user"))
    records = [{"user": "u1"}, {"user": "u2"}, {"user": "u1"}]
    parts = sel.select(records)
    assert sum(len(p) for p in parts) == 3
    assert isinstance(sel.key_selector, operator.itemgetter)


def test_channel_selector_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(KeyGroupChannelSelector, "MAX_CACHED_KEYS", 10)
    sel = KeyGroupChannelSelector(128, 2, lambda r: r)
    for start in range(0, 100, 8):
        parts = sel.select(list(range(start, start + 8)))
        assert sum(map(len, parts)) == 8
        assert len(sel.cache) <= 16


def test_channel_selector_single_channel_and_key_errors():
    sel = KeyGroupChannelSelector(128, 1, operator.itemgetter("k"))
    assert sel.select([{"k": 1}]) == [[{"k": 1}]]
    sel2 = KeyGroupChannelSelector(128, 2, operator.itemgetter("k"))
    with pytest.raises(KeyError):
        sel2.select([{"other": 1}])
