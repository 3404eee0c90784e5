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
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from headwater.rest.async_operations import OPERATIONS_KEY, AsyncOperations
from headwater.rest.context import HandlerContext
from headwater.rest.endpoints import ENDPOINTS, Endpoint
from headwater.rest.errors import RestError, bad_request
from headwater.rest.gateway import RestfulGateway
from headwater.rest.handlers.common import decode_json_object
from headwater.rest.openapi import load_spec
from headwater.rest.security import BearerTokenCheck, configured_token, server_ssl_context
from headwater.rest.static import StaticFiles

log = logging.getLogger(__name__)

_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CLUSTER_KEY = web.AppKey("headwater_cluster", RestfulGateway)
_TASKS_KEY = web.AppKey("headwater_background_tasks", set[asyncio.Future[Any]])


class OriginPolicy:
    """Which web pages may call the API from a browser (CORS), and which may change things.

    ``web.access-control-allow-origin`` lists the allowed origins (comma-separated; ``*``
    for any, Flink's default; empty, headwater's default, for none but the dashboard's
    own). A mutating request (POST, PUT, PATCH, DELETE) that a browser sends from a page
    of another origin is refused (403) unless that origin is allowed: a foreign page can
    then neither upload nor run code, even with a simple form post that needs no
    preflight. Clients that are not browsers send no ``Origin`` and are not affected.
    """

    def __init__(self, allowed: str) -> None:
        origins = {o.strip().rstrip("/") for o in str(allowed or "").split(",") if o.strip()}
        self.any_origin = "*" in origins
        self.origins = frozenset(origins - {"*"})

    def allows(self, origin: str) -> bool:
        """Whether pages of ``origin`` may call the API."""
        return self.any_origin or origin.rstrip("/") in self.origins

    def response_headers(self, request: web.BaseRequest) -> dict[str, str]:
        """The CORS headers of an answer to ``request``."""
        if self.any_origin:
            return {"Access-Control-Allow-Origin": "*"}
        origin = request.headers.get("Origin")
        if origin and origin.rstrip("/") in self.origins:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {}

    def refusal(self, request: web.BaseRequest, authenticated: bool = False) -> str | None:
        """Why a mutating ``request`` from a foreign page is refused, or None (also for a
        request that carries the cluster's token: no page can know it)."""
        if request.method not in _MUTATING or authenticated:
            return None
        origin = request.headers.get("Origin")
        if origin is None:
            if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
                return "Cross-site requests that change the cluster are not allowed."
            return None
        if origin.rstrip("/") == f"{request.scheme}://{request.host}" or self.allows(origin):
            return None
        return (f"Requests from origin {origin} may not change the cluster (allow it with "
                "web.access-control-allow-origin).")


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
        if "." in parts or ".." in parts:  # dot segments name no resource
            return []
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
            if "\x00" in value:
                raise ValueError("NUL character")
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
            if "\x00" in joined:
                raise ValueError("NUL character")
            parsed[param.name] = [param.parse(item) for item in joined.split(",")]
        except (ValueError, TypeError) as exc:
            raise bad_request(f'Cannot resolve query parameter ({param.name}) from value '
                              f'"{joined}".') from exc
    return parsed


def _bodiless_routes() -> frozenset[tuple[str, str]]:
    """Routes whose request is Flink's ``EmptyRequestBody`` (mutating verbs only)."""
    return frozenset((e["method"], e["path"]) for e in load_spec()["endpoints"]
                     if e["request"] is None and e["method"] != "GET"
                     and e["path"] not in ("/jars/upload", "/jobs"))


async def _check_empty_body(request: web.Request) -> None:
    """An ``EmptyRequestBody`` may be absent or a JSON object, nothing else (400): a
    malformed body never performs the action."""
    if request.can_read_body:
        raw = await request.read()
        if raw.strip():
            decode_json_object(raw, "EmptyRequestBody")


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    """Encode ``body`` as a JSON response."""
    return web.Response(body=msgspec.json.encode(body), status=status,
                        content_type="application/json", headers=headers)


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

    async def end_event_streams(_: web.Application) -> None:
        cluster.events.close()

    app.on_shutdown.append(end_event_streams)
    router = Router()
    bodiless = _bodiless_routes()
    origins = OriginPolicy(cluster.configuration.get("web.access-control-allow-origin", ""))
    tokens = BearerTokenCheck(configured_token(cluster.configuration))

    async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(origins.response_headers(request))

    app.on_response_prepare.append(add_cors_headers)

    static_files = StaticFiles()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        original = request.path
        path = _strip_version(original)
        if request.method == "OPTIONS":
            return _preflight(router, path, original, origins, request)
        if not tokens.accepts(request.headers.get("Authorization")):
            return error_response(401, "Authentication required: send the cluster's REST "
                                       "token as 'Authorization: Bearer <token>'.",
                                  {"WWW-Authenticate": 'Bearer realm="headwater"'})
        refusal = origins.refusal(request, authenticated=tokens.enabled)
        if refusal is not None:
            return error_response(403, refusal)
        try:
            if path is None:
                raise RestError(404, f"Unable to load requested file {original}.")
            try:
                ep, raw = router.resolve(request.method, path)
            except RestError as exc:
                if exc.status == 404:
                    page = static_files.respond(request)
                    if page is not None:
                        return page
                    exc.message = f"Unable to load requested file {original}."
                raise
            ctx = HandlerContext(cluster=cluster, endpoint=ep, request=request,
                                 path=_parse_path_params(ep, raw),
                                 query=_parse_query_params(ep, request))
            if (ep.method, ep.path) in bodiless:
                await _check_empty_body(request)
            body = await ep.handler(ctx)
            response = (body if isinstance(body, web.StreamResponse)
                        else json_response(body, ep.status))
        except RestError as exc:
            return error_response(exc.status, exc.message, exc.headers)
        except web.HTTPRequestEntityTooLarge as exc:
            return error_response(413, exc.text or "Request entity too large.")
        except HttpProcessingError as exc:  # e.g. a multipart part with malformed headers
            return error_response(400, f"Malformed request: {exc.message}")
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

    # Every path (also those with encoded line breaks) reaches dispatch, which answers
    # unknown ones in Flink's error form.
    app.router.add_route("*", r"/{tail:[\s\S]*}", dispatch)
    return app


def _preflight(router: Router, path: str | None, original: str, origins: OriginPolicy,
               request: web.Request) -> web.Response:
    """Answer a CORS preflight: the verbs of the path, for allowed origins only."""
    found = router.candidates(path) if path is not None else []
    if not found:
        return error_response(404, f"Unable to load requested file {original}.")
    origin = request.headers.get("Origin")
    if origin is not None and not origins.allows(origin):
        return error_response(403, f"Origin {origin} is not allowed "
                                   "(web.access-control-allow-origin).")
    methods = sorted({m for _, methods in found for m in methods})
    return web.Response(status=200, headers={
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Allow-Headers": "Content-Type, Authorization",
    })


class _FlinkErrorRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering requests its HTTP parser refuses (request
    lines or headers over 8 KB, malformed HTTP) in Flink's ``{"errors": [...]}`` form
    instead of plain text."""

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):  # a client's malformed HTTP: one line
            log.warning("refused a malformed HTTP request: %s", exc.message)
        else:
            super().log_exception(*args, **kwargs)

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        plain = super().handle_error(request, status, exc, message)
        text = message or (plain.text if isinstance(plain, web.Response) else None) or ""
        reason = text.strip().splitlines()[0] if text.strip() else "Bad request."
        response = error_response(status, reason)
        response.force_close()
        return response


class _FlinkErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _FlinkErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class _RestRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _FlinkErrorServer  # same state; only the connection handler differs
        return server


async def start_rest_server(cluster: RestfulGateway, host: str,
                            port: int) -> tuple[web.AppRunner, int]:
    """Serve the REST API on ``host:port`` (0: any free port).

    Returns the runner (``await runner.cleanup()`` stops the server) and the bound port.
    """
    runner = _RestRunner(create_rest_app(cluster), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port,
                       ssl_context=server_ssl_context(runner.app[_CLUSTER_KEY].configuration))
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    return runner, (addresses[0][1] if addresses else port)
