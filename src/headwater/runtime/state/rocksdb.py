"""The RocksDB keyed state backend: per-key state in an embedded RocksDB (``rocksdict``).

Same interface as :class:`~headwater.runtime.state.heap.HeapKeyedStateBackend`, but the
values live on local disk, so state can outgrow memory. Each state name owns a table, a
``MutableMapping`` view (:class:`RocksDBTable`) whose entries are stored under the
RocksDB key ``<name length: 2 bytes><name utf-8><key group: 2 bytes><pickled key>`` with
the pickled value. Values are unpickled on every read, so changing a value read from a
table changes nothing until it is written back (``table[key] = value``); the state
handles of :mod:`headwater.runtime.state.handles` do so.

Keys are compared by their pickle: keys that are equal in Python but pickle differently
(``1`` and ``1.0``) are different keys here, as with Flink's serialized keys.

The database sits in a fresh directory under ``taskmanager.tmp.dirs`` (or the system
temp directory) and is deleted by :meth:`RocksDBKeyedStateBackend.dispose`. It is a
working copy only: checkpoints hold the state (``snapshot()`` has the heap backend's
format, so either backend restores the other's snapshots), so the write-ahead log is off.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from types import ModuleType
from typing import Any

from headwater.runtime.state.handles import WRITE_BACK_HANDLES
from headwater.runtime.state.key_groups import KeyGroupRange, assign_to_key_group
from headwater.runtime.state.keyed_backend import KeyedBackendBase, KeyedSnapshot
from headwater.runtime.state.ttl import drop_expired

rocksdict: ModuleType | None
try:  # the optional extra headwater[rocksdb]
    import rocksdict
except ImportError:  # pragma: no cover - depends on the installation
    rocksdict = None

_MISSING = object()
_dumps = pickle.dumps
_loads = pickle.loads


class RocksDBUnavailable(RuntimeError):
    """``state.backend: rocksdb`` was asked for but ``rocksdict`` is not installed."""


def _require_rocksdict() -> Any:
    if rocksdict is None:
        raise RocksDBUnavailable(
            "state.backend 'rocksdb' needs the 'rocksdict' package: install it with "
            "pip install 'headwater[rocksdb]' (or pip install rocksdict), or use "
            "state.backend: hashmap")
    return rocksdict


def _name_prefix(name: str) -> bytes:
    raw = name.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError("state name too long")
    return len(raw).to_bytes(2, "big") + raw


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest byte string greater than every string starting with ``prefix``."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return b"\xff" * (len(prefix) + 1)
    p[-1] += 1
    return bytes(p)


class RocksDBTable(MutableMapping):
    """The entries ``key -> value`` of one state, stored in RocksDB (a dict-like view)."""

    def __init__(self, backend: RocksDBKeyedStateBackend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.prefix = _name_prefix(name)
        self._db = backend.db

    def _db_key(self, key: Any) -> bytes:
        return self.prefix + self.backend.key_group_of(key).to_bytes(2, "big") + \
            _dumps(key, 5)

    def __getitem__(self, key: Any) -> Any:
        raw = self._db.get(self._db_key(key))
        if raw is None:
            raise KeyError(key)
        return _loads(raw)

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        raw = self._db.get(self._db_key(key))
        return default if raw is None else _loads(raw)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._db.put(self._db_key(key), _dumps(value, 5))

    def __delitem__(self, key: Any) -> None:
        db_key = self._db_key(key)
        if self._db.get(db_key) is None:
            raise KeyError(key)
        self._db.delete(db_key)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (or ``default``)."""
        db_key = self._db_key(key)
        raw = self._db.get(db_key)
        if raw is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        self._db.delete(db_key)
        return _loads(raw)

    def __contains__(self, key: object) -> bool:
        return self._db.get(self._db_key(key)) is not None

    def _scan(self) -> Iterator[tuple[bytes, bytes]]:
        """(db key, raw value) of every entry of this state."""
        prefix = self.prefix
        it = self._db.iter()
        it.seek(prefix)
        while it.valid():
            k = it.key()
            if not k.startswith(prefix):
                break
            yield k, it.value()
            it.next()

    def __iter__(self) -> Iterator[Any]:
        start = len(self.prefix) + 2
        return iter([_loads(k[start:]) for k, _ in self._scan()])

    def __len__(self) -> int:
        return sum(1 for _ in self._scan())

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        """All entries (one scan)."""
        start = len(self.prefix) + 2
        return [(_loads(k[start:]), _loads(v)) for k, v in self._scan()]

    def values(self) -> list[Any]:  # type: ignore[override]
        """All values (one scan)."""
        return [_loads(v) for _, v in self._scan()]

    def clear(self) -> None:
        """Remove every entry of this state."""
        self._db.delete_range(self.prefix, _prefix_end(self.prefix))


class RocksDBKeyedStateBackend(KeyedBackendBase):
    """Keyed state of one subtask, held in an embedded RocksDB."""

    HANDLES = WRITE_BACK_HANDLES

    #: Entries of the key -> key group cache before it is cleared.
    KEY_GROUP_CACHE = 65536

    def __init__(self, max_parallelism: int, key_group_range: KeyGroupRange | Iterable[int],
                 local_dir: str | os.PathLike | None = None) -> None:
        rd = _require_rocksdict()
        super().__init__(max_parallelism, key_group_range)
        parent = os.fspath(local_dir) if local_dir else tempfile.gettempdir()
        os.makedirs(parent, exist_ok=True)
        #: The directory of this backend's database (removed by ``dispose``).
        self.path = tempfile.mkdtemp(prefix="headwater-rocksdb-", dir=parent)
        options = rd.Options(raw_mode=True)
        options.create_if_missing(True)
        self.db = rd.Rdict(os.path.join(self.path, "db"), options)
        write_options = rd.WriteOptions()
        write_options.disable_wal = True
        self.db.set_write_options(write_options)
        self._rd = rd
        self.tables: dict[str, RocksDBTable] = {}
        self._kg_cache: dict[Any, int] = {}
        # Also clean up when the backend is dropped or the process exits without dispose().
        self._finalizer = weakref.finalize(self, _close_and_remove, self.db, self.path)

    def key_group_of(self, key: Any) -> int:
        """The key group of ``key`` (cached)."""
        kg = self._kg_cache.get(key)
        if kg is None:
            if len(self._kg_cache) >= self.KEY_GROUP_CACHE:
                self._kg_cache.clear()
            kg = self._kg_cache[key] = assign_to_key_group(key, self.max_parallelism)
        return kg

    def _table(self, name: str) -> RocksDBTable:
        table = self.tables.get(name)
        if table is None:
            table = self.tables[name] = RocksDBTable(self, name)
        return table

    def get_table(self, name: str, kind: str = "value") -> RocksDBTable:
        """The dict-like view ``key -> value`` of state ``name`` (created on first use)."""
        self._register_kind(name, kind)
        return self._table(name)

    def keys(self, name: str) -> list[Any]:
        """The keys that have state ``name``."""
        return list(self._table(name))

    # -- snapshots ----------------------------------------------------------------------

    def _drop_expired(self) -> None:
        now = self.ttl_clock()
        for name, ttl in self._ttl.items():
            kind = self._kinds[name]
            table = self._table(name)
            start = len(table.prefix) + 2
            for db_key, raw in list(table._scan()):
                value = _loads(raw)
                live = drop_expired(kind, value, ttl, now)
                if live is None:
                    self.db.delete(db_key)
                elif live is not value:
                    table[_loads(db_key[start:])] = live

    def snapshot(self) -> KeyedSnapshot:
        """All state grouped by key group, as fresh Python objects (expired TTL entries
        are removed first)."""
        return self.snapshot_deferred()()

    def snapshot_deferred(self) -> Callable[[], KeyedSnapshot]:
        """Take a RocksDB snapshot now (a consistent view, O(1)) and return a function
        that reads it out later: checkpoints call that from their writer thread, so the
        task pauses only for the snapshot, not for reading the whole database."""
        if self._ttl:
            self._drop_expired()
        view = self.db.snapshot()

        def read() -> KeyedSnapshot:
            out: KeyedSnapshot = {}
            names: dict[bytes, str] = {}
            it = view.iter()
            it.seek_to_first()
            while it.valid():
                k = it.key()
                n = int.from_bytes(k[:2], "big")
                raw_name = k[2:2 + n]
                name = names.get(raw_name)
                if name is None:
                    name = names[raw_name] = raw_name.decode("utf-8")
                kg = int.from_bytes(k[2 + n:4 + n], "big")
                out.setdefault(kg, {}).setdefault(name, {})[_loads(k[4 + n:])] = \
                    _loads(it.value())
                it.next()
            return out

        return read

    def restore(self, snapshots: Mapping[int, Mapping[str, Mapping[Any, Any]]]
                | Iterable[Mapping[int, Mapping[str, Mapping[Any, Any]]]]) -> None:
        """Load state from one snapshot or many (rescaling); key groups outside this
        backend's range are skipped."""
        for kg, per_state in self._owned_groups(snapshots):
            batch = self._rd.WriteBatch(raw_mode=True)
            kg_bytes = kg.to_bytes(2, "big")
            for name, entries in per_state.items():
                prefix = _name_prefix(name) + kg_bytes
                for key, value in entries.items():
                    batch.put(prefix + _dumps(key, 5), _dumps(value, 5))
            self.db.write(batch)

    def dispose(self) -> None:
        """Close the database and delete its directory."""
        self.tables.clear()
        self._forget_states()
        self.db = None
        self._finalizer()


def _close_and_remove(db: Any, path: str) -> None:
    """Close a database and delete its directory."""
    try:
        db.close()
    finally:
        shutil.rmtree(path, ignore_errors=True)
