"""REST errors: an HTTP status plus the message Flink puts in ``{"errors": [...]}``."""

from __future__ import annotations


class RestError(Exception):
    """Raised by a handler (or the router) to answer ``{"errors": [message]}``.

    >>> raise RestError(404, f"Job {job_id} not found")
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> RestError:
    """A 400 in Flink's wording for parameters that cannot be parsed."""
    return RestError(400, f"Bad request, could not parse parameters: {message}")
