"""State backends a job can choose (PyFlink's names).

    env.set_state_backend(EmbeddedRocksDBStateBackend())

* :class:`HashMapStateBackend`: keyed state in Python dicts (the default);
* :class:`EmbeddedRocksDBStateBackend`: keyed state in an embedded RocksDB on the
  TaskManager's local disk (needs ``pip install 'headwater[rocksdb]'``).

Either writes ``state.backend`` (and, for the legacy constructors that take a checkpoint
path, ``state.checkpoints.dir``) into the job's configuration.
"""

from __future__ import annotations

import enum
from typing import Any


class PredefinedOptions(enum.Enum):
    """RocksDB tuning presets (accepted by the RocksDB backends and recorded; headwater's
    RocksDB backend uses its own settings)."""

    DEFAULT = 0
    SPINNING_DISK_OPTIMIZED = 1
    SPINNING_DISK_OPTIMIZED_HIGH_MEM = 2
    FLASH_SSD_OPTIMIZED = 3


class StateBackend:
    """Base of the state backends: the configuration keys they set."""

    name = ""

    def __init__(self, checkpoint_path: str | None = None) -> None:
        self.checkpoint_path = checkpoint_path

    def to_configuration(self) -> dict[str, Any]:
        """Flink configuration keys of this backend."""
        config: dict[str, Any] = {"state.backend": self.name}
        if self.checkpoint_path:
            config["state.checkpoints.dir"] = str(self.checkpoint_path)
        return config

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class HashMapStateBackend(StateBackend):
    """Keyed state on the heap, in dicts."""

    name = "hashmap"

    def __init__(self) -> None:
        super().__init__(None)


class EmbeddedRocksDBStateBackend(StateBackend):
    """Keyed state in an embedded RocksDB. Incremental checkpoints are not supported:
    every checkpoint is a full snapshot."""

    name = "rocksdb"

    def __init__(self, enable_incremental_checkpointing: bool = False) -> None:
        super().__init__(None)
        self.incremental = bool(enable_incremental_checkpointing)
        self.predefined_options = PredefinedOptions.DEFAULT

    def set_predefined_options(self, options: PredefinedOptions) -> None:
        """Record a RocksDB preset."""
        self.predefined_options = PredefinedOptions(options)

    def get_predefined_options(self) -> PredefinedOptions:
        """The recorded RocksDB preset."""
        return self.predefined_options

    def is_incremental_checkpoints_enabled(self) -> bool:
        """Whether incremental checkpoints were asked for (headwater writes full ones)."""
        return self.incremental


class MemoryStateBackend(HashMapStateBackend):
    """Flink 1.12's heap backend (checkpoints stay with the JobManager there)."""

    def __init__(self, checkpoint_path: str | None = None, savepoint_path: str | None = None,
                 max_state_size: int | None = None,
                 using_asynchronous_snapshots: bool | None = None) -> None:
        super().__init__()
        self.checkpoint_path = checkpoint_path


class FsStateBackend(StateBackend):
    """Flink 1.12's heap backend with checkpoints in ``checkpoint_path``."""

    name = "hashmap"

    def __init__(self, checkpoint_directory_uri: str | None = None,
                 default_savepoint_directory_uri: str | None = None,
                 file_state_size_threshold: int | None = None,
                 write_buffer_size: int | None = None,
                 using_asynchronous_snapshots: bool | None = None) -> None:
        super().__init__(checkpoint_directory_uri)


class RocksDBStateBackend(StateBackend):
    """Flink 1.12's RocksDB backend with checkpoints in ``checkpoint_path``."""

    name = "rocksdb"

    def __init__(self, checkpoint_path: str | None = None,
                 enable_incremental_checkpointing: bool | None = None,
                 checkpoint_stream_backend: Any = None) -> None:
        super().__init__(checkpoint_path)
        self.predefined_options = PredefinedOptions.DEFAULT

    def set_predefined_options(self, options: PredefinedOptions) -> None:
        """Record a RocksDB preset."""
        self.predefined_options = PredefinedOptions(options)

    def get_predefined_options(self) -> PredefinedOptions:
        """The recorded RocksDB preset."""
        return self.predefined_options
