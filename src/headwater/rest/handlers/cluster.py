"""Cluster-wide endpoints: ``/config``, ``/overview``, ``/jobmanager/config``, ``DELETE
/cluster``.

``flink-version`` is the Flink API level headwater implements; ``flink-revision`` and
``flink-commit`` name headwater's own version and git commit (read once at import from
the source checkout, ``unknown`` when headwater is not running from one).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from headwater import FLINK_API_VERSION, __version__
from headwater.rest.context import HandlerContext

#: Long names Java prints for the zones Python only knows by abbreviation.
_ZONE_NAMES = {"UTC": "Coordinated Universal Time", "GMT": "Greenwich Mean Time"}


def _git_commit(start: Path) -> str:
    """The abbreviated commit of the git checkout containing ``start``, or 'unknown'."""
    try:
        for directory in (start, *start.parents):
            git = directory / ".git"
            if git.is_file():  # a worktree: "gitdir: <path>"
                git = (directory / git.read_text().split(":", 1)[1].strip()).resolve()
            if not git.is_dir():
                continue
            head = (git / "HEAD").read_text().strip()
            if not head.startswith("ref:"):
                return head[:7]
            ref = head[4:].strip()
            common = git
            if (git / "commondir").is_file():
                common = (git / (git / "commondir").read_text().strip()).resolve()
            for base in (git, common):
                if (base / ref).is_file():
                    return (base / ref).read_text().strip()[:7]
            packed = common / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0][:7]
            return "unknown"
    except OSError:
        pass
    return "unknown"


#: headwater's git commit, as Flink reports its own build commit.
COMMIT = _git_commit(Path(__file__).resolve().parent)
#: ``flink-revision`` of ``/config``.
REVISION = f"headwater {__version__} @ {COMMIT}"


def _timezone() -> tuple[str, int]:
    """(display name, offset in ms) of the local time zone, as ``/config`` reports them."""
    now = datetime.datetime.now().astimezone()
    offset = now.utcoffset() or datetime.timedelta(0)
    name = now.tzname() or "UTC"
    return _ZONE_NAMES.get(name, name), int(offset.total_seconds()) * 1000


async def dashboard_config(ctx: HandlerContext) -> dict[str, Any]:
    """GET /config: the web dashboard's configuration."""
    conf = ctx.cluster.configuration
    zone_name, zone_offset = _timezone()
    return {
        "refresh-interval": int(conf["web.refresh-interval"]),
        "timezone-name": zone_name,
        "timezone-offset": zone_offset,
        "flink-version": FLINK_API_VERSION,
        "flink-revision": REVISION,
        "features": {"web-submit": conf.get_bool("web.submit.enable")},
    }


async def cluster_overview(ctx: HandlerContext) -> dict[str, Any]:
    """GET /overview: TaskManagers, slots and jobs per state."""
    tms = ctx.cluster.task_managers()
    counts = {"running": 0, "finished": 0, "cancelled": 0, "failed": 0}
    for graph in ctx.cluster.execution_graphs():
        state = graph.state.value
        if state == "FINISHED":
            counts["finished"] += 1
        elif state == "CANCELED":
            counts["cancelled"] += 1
        elif state == "FAILED":
            counts["failed"] += 1
        else:
            counts["running"] += 1
    return {
        "taskmanagers": len(tms),
        "slots-total": sum(tm.slots_total for tm in tms),
        "slots-available": sum(tm.slots_free for tm in tms),
        "jobs-running": counts["running"],
        "jobs-finished": counts["finished"],
        "jobs-cancelled": counts["cancelled"],
        "jobs-failed": counts["failed"],
        "flink-version": FLINK_API_VERSION,
        "flink-commit": COMMIT,
    }


async def jobmanager_config(ctx: HandlerContext) -> list[dict[str, str]]:
    """GET /jobmanager/config: every configuration key with its value as a string."""
    return [{"key": k, "value": v}
            for k, v in ctx.cluster.configuration.as_string_map().items()]


async def shutdown_cluster(ctx: HandlerContext) -> dict[str, Any]:
    """DELETE /cluster: answer 200 first, then shut the cluster down."""
    ctx.after_response.append(ctx.cluster.shutdown_cluster)
    return {}
