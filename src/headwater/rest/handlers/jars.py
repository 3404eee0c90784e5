"""Jar endpoints: upload, list, delete, plan and run job artifacts (Flink's
``JarUploadHandler``, ``JarListHandler``, ``JarDeleteHandler``, ``JarPlanHandler``,
``JarRunHandler``).

Uploads land in the upload directory (``web.upload.dir``, default
``<cluster workdir>/web-upload``) under server-chosen ids (see
:mod:`headwater.artifacts.store`). Plan and run execute the program's ``main`` in a
separate process with a time limit (``web.submit.program-timeout`` ms) whose
``execute()`` hands the job graph back (:mod:`headwater.artifacts.extraction`): the
JobManager never runs user code. With ``web.submit.enable: false`` every jar endpoint
answers 404, as in Flink, where the handlers are then not registered at all.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import weakref
from typing import Any

from aiohttp import BodyPartReader

from headwater.artifacts.extraction import ProgramError, extract_job_graph
from headwater.artifacts.inspection import InspectionLimits, InvalidArtifact
from headwater.artifacts.program_pool import ProgramPool, ProgramPoolBusy
from headwater.artifacts.store import JarNotFound, JarStore, StoredJar
from headwater.graph.job_graph import JobGraph
from headwater.graph.serialization import JobGraphFormatError
from headwater.ids import is_hex_id
from headwater.rest.context import HandlerContext
from headwater.rest.errors import RestError
from headwater.rest.gateway import RestfulGateway, upload_url
from headwater.rest.handlers.common import absolute_location, no_nul, read_json_object

_STORES: weakref.WeakKeyDictionary[RestfulGateway, JarStore] = weakref.WeakKeyDictionary()
_POOLS: weakref.WeakKeyDictionary[RestfulGateway, ProgramPool] = weakref.WeakKeyDictionary()
#: Most bytes read (and dropped) from an oversized upload before answering 413.
_DRAIN_LIMIT = 64 * 1024 * 1024


# -- helpers ----------------------------------------------------------------------------


def jar_store(cluster: RestfulGateway) -> JarStore:
    """The cluster's artifact store (one per cluster object)."""
    store = _STORES.get(cluster)
    if store is None:
        store = _STORES[cluster] = JarStore(
            cluster.upload_dir, InspectionLimits.from_config(cluster.configuration),
            remote=upload_url(cluster.configuration))
    return store


def program_pool(cluster: RestfulGateway) -> ProgramPool:
    """The cluster's bounded pool for job programs (``web.program.max-concurrent``)."""
    pool = _POOLS.get(cluster)
    if pool is None:
        pool = _POOLS[cluster] = ProgramPool(
            int(cluster.configuration["web.program.max-concurrent"]))
    return pool


def _check_enabled(ctx: HandlerContext) -> None:
    if not ctx.cluster.configuration.get_bool("web.submit.enable"):
        raise RestError(404, f"Unable to load requested file {ctx.request.path}.")


def _too_large(limit: int) -> RestError:
    return RestError(413, f"Request entity too large: the limit is {limit} bytes "
                          "(rest.server.max-content-length).")


async def _drain(ctx: HandlerContext) -> None:
    """Read and drop what is left of the body (bounded), so the client sees our answer."""
    dropped = 0
    content = ctx.request.content
    while dropped < _DRAIN_LIMIT:
        chunk = await content.read(1 << 16)
        if not chunk:
            return
        dropped += len(chunk)


def _file_info(jar: StoredJar) -> dict[str, Any]:
    info: dict[str, Any] = {
        "id": jar.id,
        "name": jar.name,
        "uploaded": jar.uploaded,
        "entry": [{"name": e.name, "description": e.description} for e in jar.info.entries],
    }
    if jar.info.requirements:  # headwater: reported, never installed
        info["requirements"] = jar.info.requirements
    return info


# -- upload, list, delete ---------------------------------------------------------------


async def upload_jar(ctx: HandlerContext) -> dict[str, Any]:
    """POST /jars/upload: store one multipart file part as a new artifact."""
    _check_enabled(ctx)
    limit = int(ctx.cluster.configuration["rest.server.max-content-length"])
    request = ctx.request
    if request.content_length is not None and request.content_length > limit:
        await _drain(ctx)
        raise _too_large(limit)
    if not request.content_type.startswith("multipart/"):
        raise RestError(400, "Expected a multipart/form-data upload with one file part "
                             "(curl -F \"jarfile=@job.py\").")
    store = jar_store(ctx.cluster)
    try:
        reader = await request.multipart()
        with store.staging() as (staged, out):
            client_name: str | None = None
            files = 0
            total = 0
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise RestError(400, "Nested multipart bodies are not supported.")
                is_file = part.filename is not None
                files += is_file
                if files > 1:
                    raise RestError(400, "Exactly 1 file must be sent.")
                while chunk := await part.read_chunk(1 << 16):
                    total += len(chunk)
                    if total > limit:
                        await _drain(ctx)
                        raise _too_large(limit)
                    if is_file:
                        out.write(chunk)
                if is_file:
                    client_name = part.filename
            if not files:
                raise RestError(400, "Exactly 1 file must be sent, received 0.")
            out.flush()
            jar = await asyncio.to_thread(store.commit, staged, client_name)
    except InvalidArtifact as exc:
        raise RestError(400, f"Not a valid job artifact: {exc}") from exc
    except ValueError as exc:  # aiohttp's word for a malformed multipart body
        raise RestError(400, f"Malformed multipart request: {exc}") from exc
    return {"filename": str(jar.path), "status": "success"}


async def list_jars(ctx: HandlerContext) -> dict[str, Any]:
    """GET /jars: every uploaded artifact with its entry points."""
    _check_enabled(ctx)
    jars = await asyncio.to_thread(jar_store(ctx.cluster).list)
    return {"address": f"{ctx.request.scheme}://{ctx.request.host}",
            "files": [_file_info(j) for j in jars]}


async def delete_jar(ctx: HandlerContext) -> dict[str, Any]:
    """DELETE /jars/:jarid: remove an uploaded artifact (404 if unknown)."""
    _check_enabled(ctx)
    store = jar_store(ctx.cluster)
    jar_id = ctx.path["jarid"]
    try:
        await asyncio.to_thread(store.delete, jar_id)
    except JarNotFound as exc:
        raise RestError(404, f"File {jar_id} does not exist in {store.directory}.") from exc
    return {}


# -- plan and run -----------------------------------------------------------------------


def _typed(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    wrong_bool = isinstance(value, bool) and kind is int
    if value is not None and (not isinstance(value, kind) or wrong_bool):
        raise RestError(400, f"Request did not match expected format {what}: {key} has the "
                             "wrong type.")
    return value


def _program_args(ctx: HandlerContext, body: dict[str, Any], what: str) -> list[str]:
    as_list: list[str] | None = _typed(body, "programArgsList", list, what)
    if as_list is not None and not all(isinstance(a, str) for a in as_list):
        raise RestError(400, f"Request did not match expected format {what}: "
                             "programArgsList must be a list of strings.")
    if as_list is None and "programArg" in ctx.query:
        as_list = [str(a) for a in ctx.query["programArg"]]
    as_string = _typed(body, "programArgs", str, what)
    if as_string is None and "program-args" in ctx.query:
        as_string = ",".join(ctx.query["program-args"])
    if as_list and as_string:
        raise RestError(400, "Confusing request: programArgs and programArgsList are "
                             "specified, please, use only programArgsList.")
    for arg in as_list or ():
        no_nul(arg, "programArgsList")
    if as_string:
        no_nul(as_string, "programArgs")
    if as_list:
        return as_list
    if as_string:
        try:
            return shlex.split(as_string)
        except ValueError as exc:
            raise RestError(400, f"Cannot parse the program arguments: {exc}") from exc
    return []


def _parallelism(ctx: HandlerContext, body: dict[str, Any], what: str) -> int | None:
    value: int | None = _typed(body, "parallelism", int, what)
    if value is None:
        value = ctx.first("parallelism")
    if value is None or value == -1:
        return None
    if value < 1:
        raise RestError(400, f"Parallelism must be a positive number, got {value}.")
    return value


async def _job_graph(ctx: HandlerContext, what: str, body: dict[str, Any]) -> JobGraph:
    """Run the jar's program in a child process; the JobGraph it builds."""
    entry = _typed(body, "entryClass", str, what) or ctx.first("entry-class")
    if entry is not None:
        no_nul(entry, "entryClass")
    args = _program_args(ctx, body, what)
    parallelism = _parallelism(ctx, body, what)
    store = jar_store(ctx.cluster)
    jar_id = ctx.path["jarid"]
    try:
        jar = await asyncio.to_thread(store.get, jar_id)
    except JarNotFound as exc:
        raise RestError(400, f"Jar file {store.directory / os.path.basename(jar_id)} does not "
                             "exist") from exc
    timeout = int(ctx.cluster.configuration["web.submit.program-timeout"]) / 1000
    try:
        graph = await program_pool(ctx.cluster).run(
            extract_job_graph, jar.path, entry, args, display_name=jar.name,
            parallelism=parallelism, timeout=timeout, own_directory_on_path=False)
    except ProgramPoolBusy as exc:
        raise RestError(429, str(exc), headers={"Retry-After": "1"}) from exc
    except ProgramError as exc:
        raise RestError(400, str(exc)) from exc
    except JobGraphFormatError as exc:
        raise RestError(400, f"The program built an invalid job graph: {exc}") from exc
    return graph


async def jar_plan(ctx: HandlerContext) -> dict[str, Any]:
    """GET|POST /jars/:jarid/plan: the plan of the job the program builds (nothing runs)."""
    _check_enabled(ctx)
    what = "JarPlanRequestBody"
    graph = await _job_graph(ctx, what, await read_json_object(ctx, what))
    return {"plan": graph.plan()}


async def run_jar(ctx: HandlerContext) -> dict[str, Any]:
    """POST /jars/:jarid/run: build the program's job and submit it."""
    _check_enabled(ctx)
    what = "JarRunRequestBody"
    body = await read_json_object(ctx, what)
    job_id = _typed(body, "jobId", str, what)
    if job_id is not None and not is_hex_id(job_id.lower()):
        raise RestError(400, f"jobId {job_id!r} is not a 32-character hexadecimal id.")
    savepoint = _typed(body, "savepointPath", str, what) or ctx.first("savepointPath")
    if savepoint:
        absolute_location(savepoint, "savepointPath")
    allow = _typed(body, "allowNonRestoredState", bool, what)
    if allow is None:
        allow = ctx.first("allowNonRestoredState", False)
    graph = await _job_graph(ctx, what, body)  # checks are done: only now run the program
    if job_id is not None:
        graph.job_id = job_id.lower()
    if savepoint:
        graph.savepoint_path = savepoint
    graph.allow_non_restored_state = bool(allow)
    try:
        await ctx.cluster.submit_job(graph)
    except ValueError as exc:
        raise RestError(400, f"Job submission failed: {exc}") from exc
    except RuntimeError as exc:
        raise RestError(500, f"Job submission failed: {exc}") from exc
    return {"jobid": graph.job_id}
