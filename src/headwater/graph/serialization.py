"""JobGraph wire format.

The structure travels as msgpack; operators and key selectors (user code) travel as
opaque cloudpickle blobs that only TaskManagers unpickle. The JobManager therefore never
runs user code: it schedules a graph whose operators are bytes.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig

import cloudpickle
import msgspec

from headwater.graph.job_graph import JobEdge, JobGraph, JobVertex, OperatorSpec, ShipStrategy


def _is_user_module(module) -> bool:
    path = getattr(module, "__file__", None)
    if not path or module.__name__ == "__main__" or module.__name__.startswith("headwater"):
        return False
    path = os.path.realpath(path)
    return not any(path.startswith(p) for p in _SYSTEM_PATHS)


_SYSTEM_PATHS = tuple(
    os.path.realpath(p) for p in {
        sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"],
        sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
        *site.getsitepackages(), site.getusersitepackages(),
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    })


def ship_user_modules() -> None:
    """Pickle functions of the user's own modules by value, so that TaskManagers need
    only headwater and third-party packages installed, not the user's source tree (the
    way Flink ships the user's jar)."""
    for name, module in list(sys.modules.items()):
        if name not in _shipped and module is not None and _is_user_module(module):
            try:
                cloudpickle.register_pickle_by_value(module)
            except (ValueError, TypeError):
                pass
            _shipped.add(name)


_shipped: set[str] = set()


def _blob(obj) -> bytes | None:
    if obj is None or isinstance(obj, bytes):
        return obj
    return cloudpickle.dumps(obj, protocol=5)


def _edge_to_dict(e: JobEdge) -> dict:
    return {
        "source": e.source_vertex_id,
        "target": e.target_vertex_id,
        "ship_strategy": e.ship_strategy.value,
        "key_selector": _blob(e.key_selector),
        "num": e.input_number,
        "side_output_tag": e.side_output_tag,
        "type_number": e.type_number,
    }


def _edge_from_dict(d: dict) -> JobEdge:
    return JobEdge(
        source_vertex_id=d["source"],
        target_vertex_id=d["target"],
        ship_strategy=ShipStrategy(d["ship_strategy"]),
        key_selector=d["key_selector"],
        input_number=d["num"],
        side_output_tag=d.get("side_output_tag"),
        type_number=d.get("type_number", 0),
    )


def serialize_job_graph(job_graph: JobGraph) -> bytes:
    """Encode a JobGraph for submission (user code pickled into blobs)."""
    ship_user_modules()
    doc = {
        "job_id": job_graph.job_id,
        "name": job_graph.name,
        "execution_config": job_graph.execution_config,
        "configuration": job_graph.configuration,
        "savepoint_path": job_graph.savepoint_path,
        "allow_non_restored_state": job_graph.allow_non_restored_state,
        "vertices": [
            {
                "id": v.vertex_id,
                "name": v.name,
                "parallelism": v.parallelism,
                "max_parallelism": v.max_parallelism,
                "operators": [
                    {"id": o.operator_id, "name": o.name, "uid": o.uid, "blob": _blob(o.operator)}
                    for o in v.operators
                ],
                "inputs": [_edge_to_dict(e) for e in v.inputs],
                "outputs": [_edge_to_dict(e) for e in v.outputs],
                "cache_dataset_id": v.cache_dataset_id,
                "reads_cached_dataset": v.reads_cached_dataset,
            }
            for v in job_graph.vertices
        ],
    }
    return msgspec.msgpack.encode(doc)


#: Flink's upper bound for (max) parallelism (key groups are 2 bytes on the wire).
MAX_PARALLELISM = 32768


class JobGraphFormatError(ValueError):
    """The bytes are not a valid serialized JobGraph."""


def deserialize_job_graph(data: bytes) -> JobGraph:
    """Decode a JobGraph; operators and key selectors stay pickled bytes."""
    try:
        doc = msgspec.msgpack.decode(data)
        vertices = [
            JobVertex(
                vertex_id=v["id"],
                name=v["name"],
                parallelism=int(v["parallelism"]),
                max_parallelism=int(v["max_parallelism"]),
                operators=[
                    OperatorSpec(operator_id=o["id"], name=o["name"], uid=o["uid"], operator=o["blob"])
                    for o in v["operators"]
                ],
                inputs=[_edge_from_dict(e) for e in v["inputs"]],
                outputs=[_edge_from_dict(e) for e in v["outputs"]],
                cache_dataset_id=v.get("cache_dataset_id"),
                reads_cached_dataset=v.get("reads_cached_dataset"),
            )
            for v in doc["vertices"]
        ]
        jg = JobGraph(
            job_id=doc["job_id"],
            name=doc["name"],
            vertices=vertices,
            execution_config=doc.get("execution_config") or {},
            configuration=doc.get("configuration") or {},
            savepoint_path=doc.get("savepoint_path"),
            allow_non_restored_state=bool(doc.get("allow_non_restored_state")),
        )
    except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
        raise JobGraphFormatError(f"not a valid job graph: {exc}") from exc
    _validate(jg)
    return jg


def _validate(jg: JobGraph) -> None:
    from headwater.ids import is_hex_id

    if not is_hex_id(jg.job_id):
        raise JobGraphFormatError(f"invalid job id {jg.job_id!r}")
    if not jg.vertices:
        raise JobGraphFormatError("job graph has no vertices")
    ids = set()
    for v in jg.vertices:
        if not is_hex_id(v.vertex_id) or v.vertex_id in ids:
            raise JobGraphFormatError(f"invalid or duplicate vertex id {v.vertex_id!r}")
        if v.parallelism < 1 or v.max_parallelism < v.parallelism \
                or v.max_parallelism > MAX_PARALLELISM:
            raise JobGraphFormatError(
                f"invalid parallelism for vertex {v.name!r}: {v.parallelism} (max "
                f"parallelism {v.max_parallelism}; both must be in [1, {MAX_PARALLELISM}])")
        if not v.operators:
            raise JobGraphFormatError(f"vertex {v.name!r} has no operators")
        for dataset_id in (v.cache_dataset_id, v.reads_cached_dataset):
            if dataset_id is not None and not is_hex_id(dataset_id):
                raise JobGraphFormatError(f"invalid cached data set id {dataset_id!r} of "
                                          f"vertex {v.name!r}")
        ids.add(v.vertex_id)
    for v in jg.vertices:
        for e in v.inputs:
            if e.source_vertex_id not in ids:
                raise JobGraphFormatError(f"edge from unknown vertex {e.source_vertex_id!r}")
