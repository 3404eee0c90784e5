"""The REST server: routes requests to the declared endpoints and speaks Flink's errors.

Start it over a :class:`~headwater.rest.gateway.RestfulGateway`::

    runner, port = await start_rest_server(gateway, "127.0.0.1", 8081)
    ...
    await runner.cleanup()

Routing follows Flink's router: ``/v1/<path>`` and ``<path>`` reach the same handler; a
literal segment beats a ``:parameter`` segment (``/jobs/overview`` before
``/jobs/:jobid``). An unknown path answers 404 ``Unable to load requested file <path>.``,
a known path with another verb 405, a malformed path or query parameter 400, and an
exception escaping a handler 500; every error is ``{"errors": [message]}``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from aiohttp import web

from headwater.rest.async_operations import OPERATIONS_KEY, AsyncOperations
from headwater.rest.context import HandlerContext
from headwater.rest.endpoints import ENDPOINTS, Endpoint
from headwater.rest.errors import RestError, bad_request
from headwater.rest.gateway import RestfulGateway

log = logging.getLogger(__name__)

_CORS = {"Access-Control-Allow-Origin": "*"}
_CLUSTER_KEY = web.AppKey("headwater_cluster", RestfulGateway)
_TASKS_KEY = web.AppKey("headwater_background_tasks", set[asyncio.Future[Any]])


class Router:
    """Matches a request path against the endpoint templates."""

    def __init__(self, endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> None:
        by_template: dict[tuple[str, ...], dict[str, Endpoint]] = {}
        for ep in endpoints:
            by_template.setdefault(ep.segments, {})[ep.method] = ep
        # Most specific first: at each position a literal segment beats a parameter.
        self._templates = sorted(
            by_template.items(),
            key=lambda item: tuple(s.startswith(":") for s in item[0]))

    def candidates(self, path: str) -> list[tuple[tuple[str, ...], dict[str, Endpoint]]]:
        """Templates matching ``path`` (version prefix already removed), most specific
        first."""
        parts = [s for s in path.split("/") if s]
        found = []
        for template, methods in self._templates:
            if len(template) == len(parts) and all(
                    t.startswith(":") or t == p for t, p in zip(template, parts, strict=True)):
                found.append((template, methods))
        return found

    def resolve(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
        """The endpoint for ``method`` and ``path`` plus the raw path parameters.

        Raises RestError 404 (no template matches) or 405 (no template has the verb).
        """
        found = self.candidates(path)
        if not found:
            raise RestError(404, f"Unable to load requested file {path}.")
        for template, methods in found:
            ep = methods.get(method)
            if ep is not None:
                parts = [s for s in path.split("/") if s]
                raw = {t[1:]: p for t, p in zip(template, parts, strict=True)
                       if t.startswith(":")}
                return ep, raw
        allowed = sorted({m for _, methods in found for m in methods})
        raise RestError(405, f"Method {method} is not allowed for {path}. "
                             f"Allowed methods: {', '.join(allowed)}.",
                        headers={"Allow": ", ".join(allowed)})


def _strip_version(path: str) -> str | None:
    """Remove a ``/v1`` prefix; None for the bare ``/v1``."""
    if path == "/v1" or path == "/v1/":
        return None
    if path.startswith("/v1/"):
        return path[3:]
    return path


def _parse_path_params(ep: Endpoint, raw: dict[str, str]) -> dict[str, Any]:
    parsed = {}
    for param in ep.path_params:
        value = raw[param.name]
        try:
            parsed[param.name] = param.parse(value)
        except (ValueError, TypeError) as exc:
            raise bad_request(f'Cannot resolve path parameter ({param.name}) from value '
                              f'"{value}".') from exc
    return parsed


def _parse_query_params(ep: Endpoint, request: web.Request) -> dict[str, list[Any]]:
    parsed: dict[str, list[Any]] = {}
    for param in ep.query_params:
        values = request.query.getall(param.name, [])
        if not values:
            if param.required:
                raise bad_request(f"Query parameter ({param.name}) is mandatory.")
            continue
        joined = ",".join(values)
        try:
            parsed[param.name] = [param.parse(item) for item in joined.split(",")]
        except (ValueError, TypeError) as exc:
            raise bad_request(f'Cannot resolve query parameter ({param.name}) from value '
                              f'"{joined}".') from exc
    return parsed


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    """Encode ``body`` as a JSON response (with Flink's CORS header)."""
    return web.Response(body=msgspec.json.encode(body), status=status,
                        content_type="application/json", headers={**_CORS, **(headers or {})})


def error_response(status: int, message: str,
                   headers: dict[str, str] | None = None) -> web.Response:
    """Flink's error body: ``{"errors": [message]}``."""
    return json_response({"errors": [message]}, status, headers)


def create_rest_app(cluster: RestfulGateway) -> web.Application:
    """The aiohttp application answering Flink's REST API from ``cluster``."""
    max_size = int(cluster.configuration["rest.server.max-content-length"])
    app = web.Application(client_max_size=max_size)
    app[_CLUSTER_KEY] = cluster
    app[_TASKS_KEY] = set()
    operations = AsyncOperations()
    app[OPERATIONS_KEY] = operations

    async def close_operations(_: web.Application) -> None:
        await operations.close()

    app.on_cleanup.append(close_operations)
    router = Router()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        original = request.path
        path = _strip_version(original)
        if request.method == "OPTIONS":
            return _preflight(router, path, original)
        try:
            if path is None:
                raise RestError(404, f"Unable to load requested file {original}.")
            try:
                ep, raw = router.resolve(request.method, path)
            except RestError as exc:
                if exc.status == 404:
                    exc.message = f"Unable to load requested file {original}."
                raise
            ctx = HandlerContext(cluster=cluster, endpoint=ep, request=request,
                                 path=_parse_path_params(ep, raw),
                                 query=_parse_query_params(ep, request))
            body = await ep.handler(ctx)
            response = (body if isinstance(body, web.StreamResponse)
                        else json_response(body, ep.status))
        except RestError as exc:
            return error_response(exc.status, exc.message, exc.headers)
        except web.HTTPRequestEntityTooLarge as exc:
            return error_response(413, exc.text or "Request entity too large.")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the JobManager keeps serving whatever a handler does
            log.exception("REST handler for %s %s failed", request.method, original)
            return error_response(500, f"Internal server error: {type(exc).__name__}: {exc}")
        if ctx.after_response:
            await response.prepare(request)
            await response.write_eof()
            for action in ctx.after_response:
                task = asyncio.ensure_future(action())
                app[_TASKS_KEY].add(task)
                task.add_done_callback(app[_TASKS_KEY].discard)
        return response

    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def _preflight(router: Router, path: str | None, original: str) -> web.Response:
    """Answer a CORS preflight (Flink's default allows any origin)."""
    found = router.candidates(path) if path is not None else []
    if not found:
        return error_response(404, f"Unable to load requested file {original}.")
    methods = sorted({m for _, methods in found for m in methods})
    return web.Response(status=200, headers={
        **_CORS,
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Allow-Headers": "Content-Type",
    })


async def start_rest_server(cluster: RestfulGateway, host: str,
                            port: int) -> tuple[web.AppRunner, int]:
    """Serve the REST API on ``host:port`` (0: any free port).

    Returns the runner (``await runner.cleanup()`` stops the server) and the bound port.
    """
    runner = web.AppRunner(create_rest_app(cluster), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    return runner, (addresses[0][1] if addresses else port)
