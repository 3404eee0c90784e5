"""Keyed state on both backends: every state type, TTL, snapshots, restores, config."""

from __future__ import annotations

import os
import pickle

import pytest

from headwater.api.functions import AggregateFunction
from headwater.api.state import (
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)
from headwater.api.time import Time
from headwater.runtime.checkpoint.redistribution import select_key_groups
from headwater.runtime.state.backends import backend_name, create_keyed_backend_for
from headwater.runtime.state.heap import HeapKeyedStateBackend
from headwater.runtime.state.key_groups import (
    KeyGroupRange,
    assign_to_key_group,
    key_group_range_for_operator,
)

try:
    import rocksdict  # noqa: F401

    HAVE_ROCKSDB = True
except ImportError:  # pragma: no cover
    HAVE_ROCKSDB = False

BACKENDS = ["hashmap", pytest.param("rocksdb", marks=pytest.mark.skipif(
    not HAVE_ROCKSDB, reason="rocksdict not installed"))]
MAXP = 128


@pytest.fixture
def make_backend(tmp_path):
    created = []

    def make(name: str, key_groups=KeyGroupRange(0, MAXP - 1)):
        backend = create_keyed_backend_for(
            {"state.backend": name, "taskmanager.tmp.dirs": str(tmp_path)}, MAXP, key_groups)
        created.append(backend)
        return backend

    yield make
    for b in created:
        b.dispose()


class Average(AggregateFunction):
    def create_accumulator(self):
        return (0, 0)

    def add(self, value, accumulator):
        return accumulator[0] + value, accumulator[1] + 1

    def get_result(self, accumulator):
        return accumulator[0] / accumulator[1]

    def merge(self, a, b):
        return a[0] + b[0], a[1] + b[1]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def ttl(ms=1000, update=StateTtlConfig.UpdateType.OnCreateAndWrite,
        visibility=StateTtlConfig.StateVisibility.NeverReturnExpired):
    return (StateTtlConfig.new_builder(Time.milliseconds(ms)).set_update_type(update)
            .set_state_visibility(visibility).build())


# -- every state type ---------------------------------------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
def test_value_state(make_backend, name):
    b = make_backend(name)
    st = b.get_state(ValueStateDescriptor("v"))
    assert b.get_state(ValueStateDescriptor("v")) is st
    b.set_current_key("a")
    assert st.value() is None
    st.update(1)
    b.set_current_key("b")
    st.update({"x": [1]})
    assert st.value() == {"x": [1]}
    b.set_current_key("a")
    assert st.value() == 1
    st.update(None)
    assert st.value() is None
    b.set_current_key("b")
    st.clear()
    assert st.value() is None
    assert b.keys("v") == []
    d = b.get_state(ValueStateDescriptor("d", default_value=7))
    assert d.value() == 7


@pytest.mark.parametrize("name", BACKENDS)
def test_list_state(make_backend, name):
    b = make_backend(name)
    st = b.get_state(ListStateDescriptor("l"))
    b.set_current_key(("k", 1))
    assert list(st.get()) == []
    st.add(1)
    st.add_all([2, 3])
    assert list(st.get()) == [1, 2, 3]
    st.update([9])
    assert list(st.get()) == [9]
    st.update([])
    assert list(st.get()) == []
    st.add(4)
    st.clear()
    assert list(st.get()) == []


@pytest.mark.parametrize("name", BACKENDS)
def test_map_state(make_backend, name):
    b = make_backend(name)
    st = b.get_state(MapStateDescriptor("m"))
    b.set_current_key(42)
    assert st.is_empty()
    st.put("a", 1)
    st.put_all({"b": 2, "c": 3})
    assert st.get("a") == 1 and st.get("zz") is None
    assert st.contains("b") and not st.contains("zz")
    st.remove("b")
    assert sorted(st.items()) == [("a", 1), ("c", 3)]
    assert sorted(st.keys()) == ["a", "c"] and sorted(st.values()) == [1, 3]
    b.set_current_key(43)
    assert st.is_empty()
    b.set_current_key(42)
    st.remove("a")
    st.remove("c")
    assert st.is_empty() and b.keys("m") == []


@pytest.mark.parametrize("name", BACKENDS)
def test_reducing_and_aggregating_state(make_backend, name):
    b = make_backend(name)
    red = b.get_state(ReducingStateDescriptor("r", lambda x, y: x + y))
    agg = b.get_state(AggregatingStateDescriptor("a", Average()))
    b.set_current_key("k")
    assert red.get() is None and agg.get() is None
    for v in (1, 2, 3, 6):
        red.add(v)
        agg.add(v)
    assert red.get() == 12
    assert agg.get() == 3.0
    agg.clear()
    red.clear()
    assert red.get() is None and agg.get() is None


def test_aggregating_descriptor_needs_aggregate_function():
    with pytest.raises(TypeError):
        AggregatingStateDescriptor("a", lambda x: x)


@pytest.mark.parametrize("name", BACKENDS)
def test_kind_conflicts(make_backend, name):
    b = make_backend(name)
    b.get_state(ValueStateDescriptor("s"))
    with pytest.raises(ValueError):
        b.get_state(ListStateDescriptor("s"))
    b.get_table("t", "value")
    with pytest.raises(ValueError):
        b.get_table("t", "list")


@pytest.mark.parametrize("name", BACKENDS)
def test_get_table_is_a_mapping(make_backend, name):
    b = make_backend(name)
    t = b.get_table("_reduce")
    t["a"] = (1, 2)
    t[("x", 3)] = [1]
    assert t.get("a") == (1, 2) and t.get("nope", 5) == 5
    assert "a" in t and "nope" not in t
    assert len(t) == 2 and sorted(map(str, t)) == sorted(map(str, ["a", ("x", 3)]))
    assert t.pop("a") == (1, 2) and t.pop("a", None) is None
    del t[("x", 3)]
    with pytest.raises(KeyError):
        del t["a"]
    with pytest.raises(KeyError):
        t["a"]
    t.update({1: 1, 2: 2})
    assert dict(t.items()) == {1: 1, 2: 2}
    t.clear()
    assert len(t) == 0


# -- TTL ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
def test_ttl_value_expires(make_backend, name):
    b = make_backend(name)
    b.ttl_clock = clock = Clock()
    desc = ValueStateDescriptor("v")
    desc.enable_time_to_live(ttl(1000))
    st = b.get_state(desc)
    b.set_current_key("a")
    st.update("x")
    clock.now += 999
    assert st.value() == "x"  # a read does not refresh (OnCreateAndWrite)
    clock.now += 1
    assert st.value() is None
    assert b.keys("v") == []  # removed on access


@pytest.mark.parametrize("name", BACKENDS)
def test_ttl_update_on_read_and_return_expired(make_backend, name):
    b = make_backend(name)
    b.ttl_clock = clock = Clock()
    d1 = ValueStateDescriptor("read")
    d1.enable_time_to_live(ttl(1000, StateTtlConfig.UpdateType.OnReadAndWrite))
    d2 = ValueStateDescriptor("stale")
    d2.enable_time_to_live(ttl(
        1000, visibility=StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp))
    s1, s2 = b.get_state(d1), b.get_state(d2)
    b.set_current_key("k")
    s1.update(1)
    s2.update(2)
    for _ in range(3):
        clock.now += 600
        assert s1.value() == 1  # every read extends its life
    assert s2.value() == 2  # expired but not cleaned up yet: returned once...
    assert s2.value() is None  # ...and gone


@pytest.mark.parametrize("name", BACKENDS)
def test_ttl_list_map_reducing_aggregating(make_backend, name):
    b = make_backend(name)
    b.ttl_clock = clock = Clock()
    descs = [ListStateDescriptor("l"), MapStateDescriptor("m"),
             ReducingStateDescriptor("r", lambda x, y: x + y),
             AggregatingStateDescriptor("a", Average())]
    for d in descs:
        d.enable_time_to_live(ttl(1000))
    lst, mp, red, agg = (b.get_state(d) for d in descs)
    b.set_current_key("k")
    lst.add(1)
    mp.put("old", 1)
    red.add(5)
    agg.add(10)
    clock.now += 600
    lst.add(2)
    mp.put("new", 2)
    assert list(lst.get()) == [1, 2]
    clock.now += 600  # elements/entries written first have expired, the others not
    assert list(lst.get()) == [2]
    assert mp.items() == [("new", 2)] and not mp.contains("old") and mp.get("old") is None
    assert red.get() is None and agg.get() is None
    red.add(1)  # an expired value starts over
    agg.add(4)
    assert red.get() == 1 and agg.get() == 4.0
    clock.now += 2000
    assert list(lst.get()) == [] and mp.is_empty()
    assert b.keys("l") == [] and b.keys("m") == []


def test_ttl_disabled_update_type_means_no_ttl():
    b = HeapKeyedStateBackend(MAXP, KeyGroupRange(0, MAXP - 1))
    d = ValueStateDescriptor("v")
    d.enable_time_to_live(ttl(1000, StateTtlConfig.UpdateType.Disabled))
    b.set_current_key(1)
    b.get_state(d).update(3)
    assert b.tables["v"][1] == 3  # not wrapped with a timestamp


def test_ttl_config_builder():
    cfg = (StateTtlConfig.new_builder(Time.seconds(5)).update_ttl_on_read_and_write()
           .return_expired_if_not_cleaned_up().cleanup_full_snapshot().build())
    assert cfg.get_ttl() == 5000 and cfg.update_on_read and cfg.return_expired
    assert cfg.get_update_type() is StateTtlConfig.UpdateType.OnReadAndWrite
    assert cfg.is_enabled()
    with pytest.raises(ValueError):
        StateTtlConfig.new_builder(0)
    with pytest.raises(TypeError):
        ValueStateDescriptor("x").enable_time_to_live("1s")
    d = ValueStateDescriptor("x")
    d.enable_time_to_live(cfg)
    assert pickle.loads(pickle.dumps(d)).get_ttl_config() == cfg


@pytest.mark.parametrize("name", BACKENDS)
def test_snapshot_drops_expired_entries(make_backend, name):
    b = make_backend(name)
    b.ttl_clock = clock = Clock()
    dv, dl = ValueStateDescriptor("v"), ListStateDescriptor("l")
    dv.enable_time_to_live(ttl(1000))
    dl.enable_time_to_live(ttl(1000))
    v, lst = b.get_state(dv), b.get_state(dl)
    for k in range(4):
        b.set_current_key(k)
        v.update(k)
        lst.add(k)
    clock.now += 500
    b.set_current_key(0)
    v.update(100)
    lst.add(100)
    clock.now += 600
    snap = b.snapshot()
    tables = {}
    for per_state in snap.values():
        for state_name, entries in per_state.items():
            tables.setdefault(state_name, {}).update(entries)
    assert {k: e[0] for k, e in tables["v"].items()} == {0: 100}
    assert {k: [x[0] for x in e] for k, e in tables["l"].items()} == {0: [100]}
    assert sorted(b.keys("v")) == [0]  # cleaned in the live state too


# -- snapshots and restores ---------------------------------------------------------------


def _fill(b, n=200):
    v = b.get_state(ValueStateDescriptor("count"))
    m = b.get_state(MapStateDescriptor("seen"))
    t = b.get_table("_reduce")
    for k in range(n):
        key = f"key-{k}"
        b.set_current_key(key)
        v.update(k)
        m.put("k", [k])
        t[key] = (key, k)


@pytest.mark.parametrize("src", BACKENDS)
@pytest.mark.parametrize("dst", BACKENDS)
def test_snapshot_restore_round_trip(make_backend, src, dst):
    a = make_backend(src)
    _fill(a)
    snap = pickle.loads(pickle.dumps(a.snapshot(), protocol=5))
    assert all(kg == assign_to_key_group(k, MAXP)
               for kg, per in snap.items() for entries in per.values() for k in entries)
    b = make_backend(dst)
    b.restore(snap)
    v = b.get_state(ValueStateDescriptor("count"))
    m = b.get_state(MapStateDescriptor("seen"))
    b.set_current_key("key-17")
    assert v.value() == 17 and m.get("k") == [17]
    assert b.get_table("_reduce")["key-199"] == ("key-199", 199)
    assert b.snapshot() == snap


@pytest.mark.parametrize("name", BACKENDS)
def test_rescale_by_key_groups(make_backend, name):
    """Two subtasks' snapshots restored into three: every key lands exactly once, in the
    subtask that owns its key group."""
    old = []
    for i in range(2):
        b = make_backend(name, key_group_range_for_operator(MAXP, 2, i))
        t = b.get_table("_reduce")
        for k in range(300):
            if assign_to_key_group(k, MAXP) in b.key_group_range:
                t[k] = k * 10
        old.append(pickle.loads(pickle.dumps(b.snapshot())))
    seen = {}
    for i in range(3):
        rng = key_group_range_for_operator(MAXP, 3, i)
        b = make_backend(name, rng)
        b.restore(select_key_groups(old, range(rng.start, rng.end + 1)))
        b2 = make_backend(name, rng)
        b2.restore(old)  # restore() itself skips foreign key groups too
        for k, v in b.get_table("_reduce").items():
            assert assign_to_key_group(k, MAXP) in rng
            assert k not in seen
            seen[k] = v
        assert dict(b2.get_table("_reduce").items()) == dict(b.get_table("_reduce").items())
    assert seen == {k: k * 10 for k in range(300)}


# -- configuration ------------------------------------------------------------------------


def test_backend_names():
    assert backend_name({}) == "hashmap"
    assert backend_name({"state.backend": "filesystem"}) == "hashmap"
    assert backend_name({"state.backend": "RocksDB"}) == "rocksdb"
    with pytest.raises(ValueError, match="Unknown state backend"):
        backend_name({"state.backend": "cassandra"})
    b = create_keyed_backend_for({}, MAXP, range(0, 64))
    assert isinstance(b, HeapKeyedStateBackend) and b.key_group_range == KeyGroupRange(0, 63)


@pytest.mark.skipif(not HAVE_ROCKSDB, reason="rocksdict not installed")
def test_rocksdb_lives_in_tmp_dirs_and_dispose_removes_it(tmp_path):
    b = create_keyed_backend_for({"state.backend": "rocksdb",
                                  "taskmanager.tmp.dirs": str(tmp_path / "tm")},
                                 MAXP, KeyGroupRange(0, 63))
    assert os.path.dirname(b.path) == str(tmp_path / "tm") and os.path.isdir(b.path)
    b.get_table("x")[1] = 2
    b.dispose()
    assert not os.path.exists(b.path)


def test_rocksdb_missing_gives_a_clear_error(monkeypatch):
    pytest.importorskip("rocksdict")
    from headwater.runtime.state import rocksdb

    monkeypatch.setattr(rocksdb, "rocksdict", None)
    with pytest.raises(rocksdb.RocksDBUnavailable, match="pip install"):
        create_keyed_backend_for({"state.backend": "rocksdb"}, MAXP, KeyGroupRange(0, 1))
