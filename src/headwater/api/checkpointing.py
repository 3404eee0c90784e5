"""Operator state of user functions: ``CheckpointedFunction`` and ``CheckpointListener``.

A function (of a map, flat_map, process, sink or source...) that implements
:class:`CheckpointedFunction` keeps non-keyed state in list states of the operator state
store: ``initialize_state`` gets them (refilled after a restore) before ``open``, and
``snapshot_state`` brings them up to date at every checkpoint::

    class BufferingSink(SinkFunction, CheckpointedFunction):
        def initialize_state(self, context):
            self.saved = context.get_operator_state_store().get_list_state(
                ListStateDescriptor("buffered"))
            self.buffer = list(self.saved.get()) if context.is_restored() else []

        def snapshot_state(self, context):
            self.saved.update(self.buffer)

        def invoke(self, value, context):
            self.buffer.append(value)

When the parallelism changes, the elements of a ``get_list_state`` state are dealt out
evenly among the new subtasks ("split"); every new subtask gets all elements of a
``get_union_list_state`` state ("union"), as in Flink.

A function with ``notify_checkpoint_complete(checkpoint_id)`` (:class:`CheckpointListener`)
hears when a checkpoint is complete everywhere: the moment to commit side effects.
"""

from __future__ import annotations

from typing import Any

from headwater.api.state import ListState, ListStateDescriptor


class OperatorStateStore:
    """Non-keyed list states of one operator (Flink's OperatorStateStore)."""

    def get_list_state(self, state_descriptor: ListStateDescriptor) -> ListState:
        """A list state redistributed by even split when rescaling."""
        raise NotImplementedError

    def get_union_list_state(self, state_descriptor: ListStateDescriptor) -> ListState:
        """A list state every subtask gets completely when rescaling."""
        raise NotImplementedError

    def get_registered_state_names(self) -> set[str]:
        """Names of the states registered so far."""
        raise NotImplementedError


class FunctionInitializationContext:
    """What ``CheckpointedFunction.initialize_state`` gets."""

    def __init__(self, operator_state_store: OperatorStateStore, restored: bool,
                 keyed_state_store: Any = None) -> None:
        self._operator_state_store = operator_state_store
        self._restored = restored
        self._keyed_state_store = keyed_state_store

    def is_restored(self) -> bool:
        """True when the state comes from a checkpoint or savepoint."""
        return self._restored

    def get_operator_state_store(self) -> OperatorStateStore:
        """The store of non-keyed list states."""
        return self._operator_state_store

    def get_keyed_state_store(self) -> Any:
        """The keyed state (``get_state(descriptor)``...) on keyed streams, else None."""
        return self._keyed_state_store


class FunctionSnapshotContext:
    """What ``CheckpointedFunction.snapshot_state`` gets."""

    def __init__(self, checkpoint_id: int, checkpoint_timestamp: int | None = None) -> None:
        self._checkpoint_id = checkpoint_id
        self._timestamp = checkpoint_timestamp

    def get_checkpoint_id(self) -> int:
        """The id of the checkpoint being taken."""
        return self._checkpoint_id

    def get_checkpoint_timestamp(self) -> int | None:
        """When the checkpoint was triggered (ms), if known."""
        return self._timestamp


class CheckpointedFunction:
    """A function with operator state; mix it into any function class."""

    def snapshot_state(self, context: FunctionSnapshotContext) -> None:
        """Write the function's state into its list states for checkpoint
        ``context.get_checkpoint_id()`` (called while the stream is stopped)."""
        raise NotImplementedError

    def initialize_state(self, context: FunctionInitializationContext) -> None:
        """Register list states (``context.get_operator_state_store()``) and read them when
        ``context.is_restored()``. Called once per subtask, before ``open``."""
        raise NotImplementedError


class CheckpointListener:
    """A function that hears about completed checkpoints."""

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` is complete on every subtask."""

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` will never complete."""
