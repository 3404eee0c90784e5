"""Checkpointing settings of a job (PyFlink's ``CheckpointConfig``).

    env.enable_checkpointing(10_000)                      # every 10 s, exactly once
    config = env.get_checkpoint_config()
    config.set_min_pause_between_checkpoints(5_000)
    config.set_checkpoint_timeout(60_000)
    config.enable_externalized_checkpoints(
        ExternalizedCheckpointCleanup.RETAIN_ON_CANCELLATION)
    config.set_checkpoint_storage_dir("file:///data/checkpoints")

Every setting becomes a Flink configuration key of the job (``execution.checkpointing.*``,
``state.checkpoints.dir``; durations in ms), which the JobManager reads with
:meth:`headwater.runtime.checkpoint.config.CheckpointConfig.from_config`. Only settings
that were made are written, so the cluster's configuration provides the rest.
"""

from __future__ import annotations

import enum
from typing import Any


class CheckpointingMode(enum.Enum):
    """Consistency guarantee of checkpoints."""

    EXACTLY_ONCE = 0
    AT_LEAST_ONCE = 1


class ExternalizedCheckpointCleanup(enum.Enum):
    """What happens to a job's retained checkpoint when the job is cancelled."""

    DELETE_ON_CANCELLATION = 0
    RETAIN_ON_CANCELLATION = 1
    NO_EXTERNALIZED_CHECKPOINTS = 2


#: Flink 1.20's name of the same enum.
ExternalizedCheckpointRetention = ExternalizedCheckpointCleanup


INTERVAL = "execution.checkpointing.interval"
MODE = "execution.checkpointing.mode"
TIMEOUT = "execution.checkpointing.timeout"
MIN_PAUSE = "execution.checkpointing.min-pause"
MAX_CONCURRENT = "execution.checkpointing.max-concurrent-checkpoints"
TOLERABLE_FAILURES = "execution.checkpointing.tolerable-failed-checkpoints"
EXTERNALIZED = "execution.checkpointing.externalized-checkpoint-retention"
CHECKPOINTS_DIR = "state.checkpoints.dir"

_DEFAULTS: dict[str, Any] = {
    INTERVAL: -1,
    MODE: "EXACTLY_ONCE",
    TIMEOUT: 600_000,
    MIN_PAUSE: 0,
    MAX_CONCURRENT: 1,
    TOLERABLE_FAILURES: 0,
    EXTERNALIZED: None,
    CHECKPOINTS_DIR: None,
}


def _ms(value: Any, what: str) -> int:
    if hasattr(value, "total_seconds"):  # datetime.timedelta
        return int(value.total_seconds() * 1000)
    from headwater.api.time import to_millis

    return to_millis(value, what)


class CheckpointConfig:
    """The checkpoint settings of one environment; changes write Flink config keys."""

    def __init__(self) -> None:
        #: The settings made so far, as Flink configuration keys.
        self.settings: dict[str, Any] = {}

    def _get(self, key: str) -> Any:
        return self.settings.get(key, _DEFAULTS[key])

    def to_configuration(self) -> dict[str, Any]:
        """The settings made, as Flink configuration keys (a copy)."""
        return dict(self.settings)

    # -- interval and mode --------------------------------------------------------------

    def is_checkpointing_enabled(self) -> bool:
        """Whether an interval is set."""
        return self._get(INTERVAL) > 0

    def set_checkpoint_interval(self, checkpoint_interval: Any) -> CheckpointConfig:
        """Trigger a checkpoint every ``checkpoint_interval`` ms (at least 10, as Flink)."""
        ms = _ms(checkpoint_interval, "checkpoint interval")
        if ms < 10:
            raise ValueError("Checkpoint interval must be larger than or equal to 10 ms")
        self.settings[INTERVAL] = ms
        return self

    def get_checkpoint_interval(self) -> int:
        """The interval in ms (-1 when disabled)."""
        return self._get(INTERVAL)

    def set_checkpointing_mode(self, checkpointing_mode: CheckpointingMode) -> CheckpointConfig:
        """EXACTLY_ONCE (aligned barriers) or AT_LEAST_ONCE."""
        self.settings[MODE] = CheckpointingMode(checkpointing_mode).name
        return self

    def get_checkpointing_mode(self) -> CheckpointingMode:
        """The checkpointing mode."""
        return CheckpointingMode[self._get(MODE)]

    # -- limits -------------------------------------------------------------------------

    def set_checkpoint_timeout(self, checkpoint_timeout: Any) -> CheckpointConfig:
        """Abort a checkpoint that is not complete after this many ms."""
        ms = _ms(checkpoint_timeout, "checkpoint timeout")
        if ms < 1:
            raise ValueError("Checkpoint timeout must be larger than zero")
        self.settings[TIMEOUT] = ms
        return self

    def get_checkpoint_timeout(self) -> int:
        """The timeout in ms."""
        return self._get(TIMEOUT)

    def set_min_pause_between_checkpoints(self, min_pause_between_checkpoints: Any
                                          ) -> CheckpointConfig:
        """Least time in ms between the end of one checkpoint and the start of the next."""
        ms = _ms(min_pause_between_checkpoints, "minimum pause")
        if ms < 0:
            raise ValueError("Pause value must be zero or positive")
        self.settings[MIN_PAUSE] = ms
        return self

    def get_min_pause_between_checkpoints(self) -> int:
        """The minimum pause in ms."""
        return self._get(MIN_PAUSE)

    def set_max_concurrent_checkpoints(self, max_concurrent_checkpoints: int
                                       ) -> CheckpointConfig:
        """How many checkpoints may be in progress at once."""
        if int(max_concurrent_checkpoints) < 1:
            raise ValueError("The maximum number of concurrent attempts must be at least 1.")
        self.settings[MAX_CONCURRENT] = int(max_concurrent_checkpoints)
        return self

    def get_max_concurrent_checkpoints(self) -> int:
        """The maximum number of concurrent checkpoints."""
        return self._get(MAX_CONCURRENT)

    def set_tolerable_checkpoint_failure_number(self, tolerable_checkpoint_failure_number: int
                                                ) -> CheckpointConfig:
        """How many consecutive checkpoint failures the job survives."""
        if int(tolerable_checkpoint_failure_number) < 0:
            raise ValueError("The tolerable failure checkpoint number must be non-negative.")
        self.settings[TOLERABLE_FAILURES] = int(tolerable_checkpoint_failure_number)
        return self

    def get_tolerable_checkpoint_failure_number(self) -> int:
        """The tolerable number of checkpoint failures."""
        return self._get(TOLERABLE_FAILURES)

    # -- retention and storage ----------------------------------------------------------

    def enable_externalized_checkpoints(self, cleanup_mode: ExternalizedCheckpointCleanup
                                        ) -> CheckpointConfig:
        """Keep the latest checkpoint when the job ends (and on cancel if RETAIN)."""
        cleanup = ExternalizedCheckpointCleanup(cleanup_mode)
        if cleanup is ExternalizedCheckpointCleanup.NO_EXTERNALIZED_CHECKPOINTS:
            self.settings[EXTERNALIZED] = None
            return self
        self.settings[EXTERNALIZED] = cleanup.name
        return self

    def is_externalized_checkpoints_enabled(self) -> bool:
        """Whether checkpoints are externalized."""
        return self._get(EXTERNALIZED) is not None

    def get_externalized_checkpoint_cleanup(self) -> ExternalizedCheckpointCleanup | None:
        """The cleanup mode of externalized checkpoints, or None."""
        value = self._get(EXTERNALIZED)
        return None if value is None else ExternalizedCheckpointCleanup[value]

    def set_checkpoint_storage_dir(self, checkpoint_path: str) -> CheckpointConfig:
        """Where checkpoints are written (a directory or URL every process can reach)."""
        if not str(checkpoint_path):
            raise ValueError("checkpoint storage path must not be empty")
        self.settings[CHECKPOINTS_DIR] = str(checkpoint_path)
        return self

    def set_checkpoint_storage(self, storage: Any) -> CheckpointConfig:
        """Where checkpoints are written: a CheckpointStorage
        (``FileSystemCheckpointStorage(path)``) or a path."""
        to_configuration = getattr(storage, "to_configuration", None)
        if not callable(to_configuration):
            return self.set_checkpoint_storage_dir(storage)
        self._storage = storage
        directory = to_configuration().get(CHECKPOINTS_DIR)
        if directory:
            self.settings[CHECKPOINTS_DIR] = directory
        return self

    def get_checkpoint_storage(self) -> Any:
        """The CheckpointStorage set with ``set_checkpoint_storage`` (a
        FileSystemCheckpointStorage of the directory when only a path was set; None:
        the cluster's)."""
        storage = getattr(self, "_storage", None)
        if storage is None and self._get(CHECKPOINTS_DIR):
            from headwater.api.checkpoint_storage import FileSystemCheckpointStorage

            return FileSystemCheckpointStorage(self._get(CHECKPOINTS_DIR))
        return storage

    # -- recorded: headwater aligns barriers and fails a job only by tolerable failures ----

    def _recorded(self) -> dict[str, Any]:
        recorded = self.__dict__.get("_recorded_settings")
        if recorded is None:
            recorded = self.__dict__["_recorded_settings"] = {}
        return recorded

    def enable_unaligned_checkpoints(self, enabled: bool = True) -> CheckpointConfig:
        """Recorded: headwater's checkpoints always align barriers (exactly-once either
        way; unaligned checkpoints only change speed under back-pressure)."""
        self._recorded()["unaligned"] = bool(enabled)
        return self

    def disable_unaligned_checkpoints(self) -> CheckpointConfig:
        """Recorded."""
        return self.enable_unaligned_checkpoints(False)

    def is_unaligned_checkpoints_enabled(self) -> bool:
        """Whether unaligned checkpoints were asked for."""
        return bool(self._recorded().get("unaligned", False))

    def set_force_unaligned_checkpoints(self, force_unaligned_checkpoints: bool = True
                                        ) -> CheckpointConfig:
        """Recorded (see ``enable_unaligned_checkpoints``)."""
        self._recorded()["force_unaligned"] = bool(force_unaligned_checkpoints)
        return self

    def is_force_unaligned_checkpoints(self) -> bool:
        """Whether forced unaligned checkpoints were asked for."""
        return bool(self._recorded().get("force_unaligned", False))

    def set_alignment_timeout(self, alignment_timeout: Any) -> CheckpointConfig:
        """Recorded (see ``enable_unaligned_checkpoints``)."""
        self._recorded()["alignment_timeout"] = _ms(alignment_timeout, "alignment timeout")
        return self

    def get_alignment_timeout(self) -> Any:
        """The alignment timeout set (a Duration)."""
        from headwater.api.time import Duration

        return Duration(self._recorded().get("alignment_timeout", 0))

    def set_fail_on_checkpointing_errors(self, fail_on_checkpointing_errors: bool
                                         ) -> CheckpointConfig:
        """Flink's older switch: False tolerates any number of failed checkpoints."""
        return self.set_tolerable_checkpoint_failure_number(
            0 if fail_on_checkpointing_errors else 2**31 - 1)

    def is_fail_on_checkpointing_errors(self) -> bool:
        """Whether a failed checkpoint fails the job."""
        return self.get_tolerable_checkpoint_failure_number() == 0

    def set_externalized_checkpoint_cleanup(self, cleanup_mode: ExternalizedCheckpointCleanup
                                            ) -> CheckpointConfig:
        """Flink 1.15's name of ``enable_externalized_checkpoints``."""
        return self.enable_externalized_checkpoints(cleanup_mode)

    def get_externalized_checkpoint_retention(self) -> ExternalizedCheckpointCleanup:
        """The retention (NO_EXTERNALIZED_CHECKPOINTS when not enabled)."""
        return self.get_externalized_checkpoint_cleanup() or \
            ExternalizedCheckpointCleanup.NO_EXTERNALIZED_CHECKPOINTS

    def set_externalized_checkpoint_retention(self,
                                              retention_mode: ExternalizedCheckpointCleanup
                                              ) -> CheckpointConfig:
        """Flink 1.20's name of ``enable_externalized_checkpoints``
        (``NO_EXTERNALIZED_CHECKPOINTS`` turns it off)."""
        return self.enable_externalized_checkpoints(retention_mode)

    def get_checkpoint_storage_dir(self) -> str | None:
        """The checkpoint directory, or None (the cluster's)."""
        return self._get(CHECKPOINTS_DIR)
