"""What the Dispatcher raises when a request names a job it cannot act on."""

from __future__ import annotations


class JobNotFound(KeyError):
    """No job with that id is known to the dispatcher."""


class JobAlreadyTerminated(RuntimeError):
    """The job already reached a globally terminal state."""
