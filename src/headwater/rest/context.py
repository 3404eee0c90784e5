"""What a handler receives: the cluster, the parsed parameters and the raw request."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from headwater.rest.endpoints import Endpoint
    from headwater.rest.gateway import RestfulGateway


@dataclasses.dataclass
class HandlerContext:
    """One request, after routing and parameter validation.

    ``path`` holds each path parameter parsed by its declared parser; ``query`` holds the
    declared query parameters that were given, each as a list (Flink's query parameters
    are comma-separated lists; a repeated key adds to the list).
    """

    cluster: RestfulGateway
    endpoint: Endpoint
    request: web.Request
    path: dict[str, Any]
    query: dict[str, list[Any]]
    #: Coroutine factories run once the response has been sent.
    after_response: list[Callable[[], Awaitable[None]]] = dataclasses.field(
        default_factory=list)

    def first(self, name: str, default: Any = None) -> Any:
        """The first value of a query parameter, or ``default`` if it was not given."""
        values = self.query.get(name)
        return values[0] if values else default
