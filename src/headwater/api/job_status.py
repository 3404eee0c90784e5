"""``JobStatus`` and ``JobID`` (PyFlink's names for a job's state and id)."""

from __future__ import annotations

import enum

from headwater.ids import is_hex_id


class JobStatus(enum.Enum):
    """The states of a job, as the REST API reports them."""

    INITIALIZING = 0
    CREATED = 1
    RUNNING = 2
    FAILING = 3
    FAILED = 4
    CANCELLING = 5
    CANCELED = 6
    FINISHED = 7
    RESTARTING = 8
    SUSPENDED = 9
    RECONCILING = 10

    def is_globally_terminal_state(self) -> bool:
        """FAILED, CANCELED or FINISHED: the job will not run again."""
        return self in (JobStatus.FAILED, JobStatus.CANCELED, JobStatus.FINISHED)

    def is_terminal_state(self) -> bool:
        """A globally terminal state or SUSPENDED."""
        return self.is_globally_terminal_state() or self is JobStatus.SUSPENDED


class JobID:
    """A job's id: 32 lower-case hexadecimal characters."""

    def __init__(self, hex_id: str) -> None:
        text = str(hex_id).lower()
        if not is_hex_id(text):
            raise ValueError(f"not a job id: {hex_id!r}")
        self._id = text

    @staticmethod
    def from_hex_string(hex_id: str) -> JobID:
        """The JobID of a hex string."""
        return JobID(hex_id)

    def to_hex_string(self) -> str:
        """The 32 hex characters."""
        return self._id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobID) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    def __str__(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"JobID({self._id})"
