"""``GET /openapi.json``: the OpenAPI 3.1 document of this REST API (a headwater extension
beside Flink's endpoints), built once from the endpoint declarations."""

from __future__ import annotations

import functools
from typing import Any

from headwater import __version__
from headwater.rest.context import HandlerContext
from headwater.rest.openapi import build_openapi


@functools.cache
def _document() -> dict[str, Any]:
    # The declarations import every handler module, this one included: read them late.
    from headwater.rest.endpoints import ENDPOINTS

    return build_openapi(ENDPOINTS, __version__)


async def openapi_document(ctx: HandlerContext) -> dict[str, Any]:
    """GET /openapi.json."""
    return _document()
