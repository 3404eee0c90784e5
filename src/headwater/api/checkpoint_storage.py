"""Where checkpoints are written (PyFlink's ``CheckpointStorage`` classes)::

    env.get_checkpoint_config().set_checkpoint_storage(
        FileSystemCheckpointStorage("file:///data/checkpoints"))

``FileSystemCheckpointStorage(path)`` sets ``state.checkpoints.dir``;
``JobManagerCheckpointStorage()`` keeps the cluster's default location (headwater always
writes checkpoints to storage by URL, so there is no JobManager-memory variant: it is
accepted and changes nothing).
"""

from __future__ import annotations

from typing import Any


class CheckpointStorage:
    """Base of the checkpoint storages: the configuration keys they set."""

    def to_configuration(self) -> dict[str, Any]:
        """Flink configuration keys of this storage."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class JobManagerCheckpointStorage(CheckpointStorage):
    """Flink's in-memory checkpoint storage (accepted; the cluster's storage is used)."""

    def __init__(self, checkpoint_path: str | None = None,
                 max_state_size: int | None = None) -> None:
        self.checkpoint_path = checkpoint_path

    def to_configuration(self) -> dict[str, Any]:
        """``state.checkpoints.dir`` if a path was given."""
        return {"state.checkpoints.dir": str(self.checkpoint_path)} \
            if self.checkpoint_path else {}


class FileSystemCheckpointStorage(CheckpointStorage):
    """Checkpoints in a directory (a path or URL every process can reach)."""

    def __init__(self, checkpoint_path: str, file_state_size_threshold: int | None = None,
                 write_buffer_size: int | None = None) -> None:
        if not checkpoint_path:
            raise ValueError("FileSystemCheckpointStorage needs a checkpoint path")
        self.checkpoint_path = str(checkpoint_path)

    def get_checkpoint_path(self) -> str:
        """The directory."""
        return self.checkpoint_path

    def to_configuration(self) -> dict[str, Any]:
        """``state.checkpoints.dir``."""
        return {"state.checkpoints.dir": self.checkpoint_path}

    def __repr__(self) -> str:
        return f"FileSystemCheckpointStorage({self.checkpoint_path!r})"
