"""Time-to-live of keyed state (PyFlink's ``StateTtlConfig``).

Entries of a state whose descriptor has TTL enabled expire ``ttl`` milliseconds of
processing time after they were last written (or read, with ``OnReadAndWrite``)::

    ttl = (StateTtlConfig.new_builder(Time.seconds(10))
           .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
           .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
           .build())
    descriptor = ValueStateDescriptor("last-seen")
    descriptor.enable_time_to_live(ttl)

Expired entries are removed lazily: when they are accessed, and from every snapshot
(Flink's full-snapshot cleanup, always on here). List state expires per element and map
state per map entry; the other kinds per key.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class UpdateType(enum.Enum):
    """When an entry's last-access timestamp is refreshed."""

    #: TTL disabled: entries never expire.
    Disabled = 0
    #: On creation and on every write.
    OnCreateAndWrite = 1
    #: Also on every read.
    OnReadAndWrite = 2


class StateVisibility(enum.Enum):
    """Whether an expired entry that was not cleaned up yet may still be read."""

    ReturnExpiredIfNotCleanedUp = 0
    NeverReturnExpired = 1


class TtlTimeCharacteristic(enum.Enum):
    """Which time TTL measures (only processing time, as in Flink)."""

    ProcessingTime = 0


# Module-level names of the enums: inside the class body the same names are class
# attributes (PyFlink's ``StateTtlConfig.UpdateType``), which annotations cannot use.
_UpdateType = UpdateType
_StateVisibility = StateVisibility
_TtlTimeCharacteristic = TtlTimeCharacteristic


@dataclasses.dataclass(frozen=True)
class StateTtlConfig:
    """How long keyed state lives; build one with :meth:`new_builder`."""

    ttl: int  # milliseconds
    update_type: UpdateType = UpdateType.OnCreateAndWrite
    state_visibility: StateVisibility = StateVisibility.NeverReturnExpired
    ttl_time_characteristic: TtlTimeCharacteristic = TtlTimeCharacteristic.ProcessingTime
    #: Cleanup strategies the user asked for (informational: expired entries are always
    #: dropped on access and from snapshots).
    cleanup_strategies: tuple[str, ...] = ()

    UpdateType = UpdateType
    StateVisibility = StateVisibility
    TtlTimeCharacteristic = TtlTimeCharacteristic

    @staticmethod
    def new_builder(ttl: Any) -> StateTtlConfigBuilder:
        """A builder for a TTL of ``ttl`` (a Time/Duration or milliseconds)."""
        return StateTtlConfigBuilder(ttl)

    def get_ttl(self) -> int:
        """The time to live in milliseconds."""
        return self.ttl

    def get_update_type(self) -> _UpdateType:
        """When timestamps are refreshed."""
        return self.update_type

    def get_state_visibility(self) -> _StateVisibility:
        """Whether expired entries may be returned."""
        return self.state_visibility

    def get_ttl_time_characteristic(self) -> _TtlTimeCharacteristic:
        """Always processing time."""
        return self.ttl_time_characteristic

    def is_enabled(self) -> bool:
        """False when the update type is Disabled."""
        return self.update_type is not UpdateType.Disabled

    @property
    def update_on_read(self) -> bool:
        """Whether reads refresh an entry's timestamp."""
        return self.update_type is UpdateType.OnReadAndWrite

    @property
    def return_expired(self) -> bool:
        """Whether an expired, not yet removed entry is still returned (once)."""
        return self.state_visibility is StateVisibility.ReturnExpiredIfNotCleanedUp


class StateTtlConfigBuilder:
    """Builds a :class:`StateTtlConfig` (PyFlink's ``StateTtlConfig.Builder``)."""

    def __init__(self, ttl: Any) -> None:
        self.set_ttl(ttl)
        self._update_type = UpdateType.OnCreateAndWrite
        self._visibility = StateVisibility.NeverReturnExpired
        self._cleanup: list[str] = []

    def set_ttl(self, ttl: Any) -> StateTtlConfigBuilder:
        """The time to live (a Time/Duration or milliseconds)."""
        from headwater.api.time import to_millis

        ms = to_millis(ttl, "ttl")
        if ms <= 0:
            raise ValueError("TTL must be positive")
        self._ttl = ms
        return self

    def set_update_type(self, update_type: UpdateType) -> StateTtlConfigBuilder:
        """When timestamps are refreshed."""
        self._update_type = UpdateType(update_type)
        return self

    def update_ttl_on_create_and_write(self) -> StateTtlConfigBuilder:
        """Refresh on creation and writes (the default)."""
        return self.set_update_type(UpdateType.OnCreateAndWrite)

    def update_ttl_on_read_and_write(self) -> StateTtlConfigBuilder:
        """Refresh on reads too."""
        return self.set_update_type(UpdateType.OnReadAndWrite)

    def set_state_visibility(self, visibility: StateVisibility) -> StateTtlConfigBuilder:
        """Whether expired entries may be returned."""
        self._visibility = StateVisibility(visibility)
        return self

    def return_expired_if_not_cleaned_up(self) -> StateTtlConfigBuilder:
        """Return an expired entry if it is still there."""
        return self.set_state_visibility(StateVisibility.ReturnExpiredIfNotCleanedUp)

    def never_return_expired(self) -> StateTtlConfigBuilder:
        """Never return expired entries (the default)."""
        return self.set_state_visibility(StateVisibility.NeverReturnExpired)

    def set_ttl_time_characteristic(self, characteristic: TtlTimeCharacteristic
                                    ) -> StateTtlConfigBuilder:
        """Only processing time is supported."""
        TtlTimeCharacteristic(characteristic)
        return self

    def use_processing_time(self) -> StateTtlConfigBuilder:
        """Measure TTL in processing time (the only choice)."""
        return self

    def cleanup_full_snapshot(self) -> StateTtlConfigBuilder:
        """Drop expired entries from snapshots (always done)."""
        self._cleanup.append("full-snapshot")
        return self

    def cleanup_incrementally(self, cleanup_size: int = 5,
                              run_cleanup_for_every_record: bool = False
                              ) -> StateTtlConfigBuilder:
        """Accepted for compatibility: expired entries go on access and at snapshots."""
        self._cleanup.append("incremental")
        return self

    def cleanup_in_rocksdb_compact_filter(self, query_time_after_num_entries: int = 1000
                                          ) -> StateTtlConfigBuilder:
        """Accepted for compatibility: expired entries go on access and at snapshots."""
        self._cleanup.append("rocksdb-compaction-filter")
        return self

    def disable_cleanup_in_background(self) -> StateTtlConfigBuilder:
        """Accepted for compatibility."""
        return self

    def build(self) -> StateTtlConfig:
        """The configuration."""
        return StateTtlConfig(self._ttl, self._update_type, self._visibility,
                              cleanup_strategies=tuple(self._cleanup))
