"""Choosing a keyed state backend from the configuration (``state.backend``).

* ``hashmap`` (the default; also Flink 1.12's ``jobmanager``/``filesystem`` and
  ``heap``): :class:`~headwater.runtime.state.heap.HeapKeyedStateBackend`, dicts in memory;
* ``rocksdb``: :class:`~headwater.runtime.state.rocksdb.RocksDBKeyedStateBackend`, an
  embedded RocksDB under ``taskmanager.tmp.dirs`` (needs ``headwater[rocksdb]``).

Both snapshot to the same format, ``{key_group: {state_name: {key: value}}}``::

    backend = create_keyed_backend_for(task_config, max_parallelism, key_group_range)
    snapshot = backend.snapshot()       # at a checkpoint
    backend.restore([snapshot, ...])    # after a restart; foreign key groups are skipped
    backend.dispose()                   # when the task ends
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from headwater.config import tmp_dirs
from headwater.runtime.state.key_groups import KeyGroupRange, as_key_group_range

#: ``state.backend`` values meaning the heap backend.
HEAP_NAMES = frozenset({"hashmap", "heap", "jobmanager", "filesystem", "memory"})
#: ``state.backend`` values meaning the RocksDB backend.
ROCKSDB_NAMES = frozenset({"rocksdb", "embeddedrocksdb", "embedded-rocksdb"})


def backend_name(config: Mapping[str, Any]) -> str:
    """``"hashmap"`` or ``"rocksdb"`` as configured (ValueError for unknown names)."""
    raw = config.get("state.backend") or "hashmap"
    name = str(raw).strip().lower()
    if name in HEAP_NAMES or name.endswith("hashmapstatebackendfactory"):
        return "hashmap"
    if name in ROCKSDB_NAMES or name.endswith("rocksdbstatebackendfactory"):
        return "rocksdb"
    raise ValueError(f"Unknown state backend {raw!r} (state.backend): use 'hashmap' or "
                     "'rocksdb'")


def local_state_dir(config: Mapping[str, Any], key_group_range: KeyGroupRange) -> str | None:
    """The directory for local state files: one of ``taskmanager.tmp.dirs`` (several are
    separated by ``,`` or the OS path separator; subtasks spread over them), or None for the
    system temp directory."""
    dirs = tmp_dirs(config)
    if not dirs:
        return None
    return dirs[zlib.crc32(str(key_group_range.start).encode()) % len(dirs)]


def create_keyed_backend_for(config: Mapping[str, Any], max_parallelism: int,
                             key_group_range: KeyGroupRange | Iterable[int]) -> Any:
    """A keyed state backend as ``config["state.backend"]`` says (default: hashmap).

    Raises :class:`~headwater.runtime.state.rocksdb.RocksDBUnavailable` (a RuntimeError)
    when RocksDB is asked for and ``rocksdict`` is not installed."""
    key_group_range = as_key_group_range(key_group_range)
    if backend_name(config) == "rocksdb":
        from headwater.runtime.state.rocksdb import RocksDBKeyedStateBackend

        return RocksDBKeyedStateBackend(max_parallelism, key_group_range,
                                        local_state_dir(config, key_group_range))
    from headwater.runtime.state.heap import HeapKeyedStateBackend

    return HeapKeyedStateBackend(max_parallelism, key_group_range)
