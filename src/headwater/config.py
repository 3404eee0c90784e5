"""Cluster configuration: Flink's keys, headwater's defaults, YAML files and overrides.

Keys are Flink's (``rest.port``, ``taskmanager.numberOfTaskSlots``...). A configuration is
a flat mapping of key -> value; values keep their YAML types. ``Configuration.load``
reads ``headwater.yaml`` (or ``flink-conf.yaml``) from a directory and applies
``-Dkey=value`` style overrides.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

#: headwater's defaults. Every key the engine reads has an entry here.
DEFAULTS: dict[str, Any] = {
    "rest.port": 8081,
    "rest.address": "127.0.0.1",
    "rest.bind-address": "127.0.0.1",
    "rest.server.max-content-length": 104857600,
    "jobmanager.rpc.address": "127.0.0.1",
    "jobmanager.rpc.port": 0,
    # "region": a failed task restarts only its pipelined region (BATCH jobs; STREAMING
    # jobs whose regions are independent, from the latest checkpoint); "full": the whole
    # job.
    "jobmanager.execution.failover-strategy": "region",
    "taskmanager.numberOfTaskSlots": 1,
    "taskmanager.count": 0,  # 0: one TaskManager per CPU core
    "taskmanager.host": "127.0.0.1",
    "heartbeat.interval": 1000,
    "heartbeat.timeout": 10000,
    "slot.request.timeout": 60000,
    # Where TaskManagers run: "process" (local subprocesses) or "ray" (actors on the Ray
    # cluster at ray.address: "auto" or host:port; see docs/ray.md), each reserving
    # num_cpus = its slots plus ray.taskmanager.resources (a JSON object, e.g. {"gpu": 1}).
    "deployment.target": "process",
    "ray.address": "auto",
    "ray.taskmanager.resources": "",
    # The active ResourceManager (see headwater.runtime.jobmanager.resource_manager): an idle
    # TaskManager is released after this many ms while more than the minimum run...
    "resourcemanager.taskmanager-timeout": 30000,
    # ...a requested one that has not registered after this many ms is given up on...
    "resourcemanager.taskmanager-registration.timeout": 300000,
    # ...and the cluster keeps between min and max TaskManagers ("": min = the number
    # started, max = min, i.e. a fixed-size cluster).
    "resourcemanager.taskmanagers.min": "",
    "resourcemanager.taskmanagers.max": "",
    # A task that does not stop within this time after a cancel takes its TaskManager
    # process down with it (Flink's cancellation watchdog); 0 disables it.
    "task.cancellation.timeout": 180000,
    "execution.buffer-timeout": 100,
    # ALL_EXCHANGES_BLOCKING: every non-FORWARD exchange writes BLOCKING partitions (files
    # under taskmanager.tmp.dirs, read after the producer finished); see
    # headwater.runtime.jobmanager.shuffle_mode.
    "execution.batch-shuffle-mode": "ALL_EXCHANGES_PIPELINED",
    "taskmanager.network.batch-size": 512,
    "taskmanager.network.credits-per-channel": 16,
    "taskmanager.network.max-frame-size": 256 * 1024 * 1024,  # largest data frame read
    # A TaskManager process growing past this fails its tasks (Flink's MemorySize format);
    # "" for no limit.
    "taskmanager.memory.process.size": "",
    # What the keyed operators of BATCH jobs may hold before they spill to
    # taskmanager.tmp.dirs (per TaskManager, shared by its slots).
    "taskmanager.memory.managed.size": "128m",
    # An idle TaskManager whose memory stays above this after its job is replaced by a
    # fresh one ("" for never).
    "taskmanager.memory.recycle-threshold": "",
    "web.submit.enable": True,
    # headwater's: false also refuses POST /jobs (web.submit.enable only hides /jars).
    "web.job-submission.enable": True,
    "web.upload.dir": "",  # "": <cluster workdir>/web-upload
    "web.submit.program-timeout": 60000,  # ms a job program may take to call execute()
    "web.program.max-concurrent": 2,  # job programs run at once for /jars plan and run
    # What inspecting one uploaded artifact may cost the JobManager (zip bombs).
    "web.upload.max-uncompressed-size": 256 * 1024 * 1024,
    "web.upload.max-compression-ratio": 200,
    "web.upload.max-module-size": 4 * 1024 * 1024,
    "web.cancel.enable": True,
    # Origins whose pages may call the REST API from a browser ("*": any, as Flink).
    "web.access-control-allow-origin": "",
    "web.refresh-interval": 3000,
    # headwater's event stream (GET /events): open streams at most (more answer 429), and
    # the ms between keep-alive comments on a quiet stream.
    "rest.events.max-subscribers": 64,
    "rest.events.keepalive-interval": 15000,
    # Flame graphs (GET /jobs/:jobid/vertices/:vertexid/flamegraph), Flink's keys and
    # defaults except "enabled" (Flink 1.13: false): nothing is sampled until a flame graph
    # is asked for, so headwater turns the endpoint on; false answers {"endTimestamp": -2}.
    "rest.flamegraph.enabled": True,
    "rest.flamegraph.refresh-interval": 60000,  # ms a vertex's samples are served as they are
    "rest.flamegraph.cleanup-interval": 600000,  # ms samples nobody asks for are kept
    "rest.flamegraph.num-samples": 100,  # samples per subtask and sampling
    "rest.flamegraph.delay-between-samples": 50,  # ms
    "rest.flamegraph.stack-depth": 100,  # innermost frames kept per stack
    "jobstore.max-capacity": 1000,
    "jobstore.expiration-time": 3600,  # s a finished job is kept for the REST API
    # JobManager failover: "NONE" (Flink's default) or "embedded" (headwater's SQLite store
    # in high-availability.storageDir, default <workdir>/ha).
    "high-availability": "NONE",
    "high-availability.storageDir": "",
    # ms a TaskManager that lost its JobManager waits for it to come back (HA only).
    "high-availability.jobmanager.reconnect-timeout": 30000,
    "metrics.fetcher.update-interval": 1000,
    "metrics.system.enabled": True,  # false: tasks report no metrics, nothing is fetched
    "metrics.reporter.prom.port": "9249",  # Prometheus endpoint of the JobManager; 0: off
    "cluster.workdir": ".headwater",
    # The cluster secret authenticating every RPC and data connection; "": generated as
    # cluster.secret in the workdir.
    "security.cluster.secret-file": "",
    # REST authentication and TLS (see headwater.rest.security).
    "security.rest.auth.token-file": "",
    "security.ssl.rest.enabled": False,
    "security.ssl.rest.cert": "",
    "security.ssl.rest.key": "",
    "security.ssl.rest.ca": "",
}


class Configuration(Mapping[str, Any]):
    """An immutable view of defaults plus user settings."""

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self._user: dict[str, Any] = dict(settings or {})

    @classmethod
    def load(cls, conf_dir: str | os.PathLike | None = None,
             overrides: Mapping[str, Any] | None = None) -> Configuration:
        """Read ``headwater.yaml`` / ``flink-conf.yaml`` from ``conf_dir`` (if any) and
        apply ``overrides``."""
        settings: dict[str, Any] = {}
        if conf_dir is not None:
            for name in ("flink-conf.yaml", "headwater.yaml"):
                path = Path(conf_dir) / name
                if path.is_file():
                    data = yaml.safe_load(path.read_text()) or {}
                    if not isinstance(data, dict):
                        raise ValueError(f"{path}: expected a mapping of config keys")
                    settings.update(flatten(data))
        settings.update(overrides or {})
        return cls(settings)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Configuration:
        """A copy with more settings applied."""
        merged = dict(self._user)
        merged.update(overrides)
        return Configuration(merged)

    def user_settings(self) -> dict[str, Any]:
        """Only what was set explicitly (not the defaults)."""
        return dict(self._user)

    def __getitem__(self, key: str) -> Any:
        if key in self._user:
            return self._user[key]
        return DEFAULTS[key]

    def __iter__(self) -> Iterator[str]:
        seen = dict.fromkeys(DEFAULTS)
        seen.update(dict.fromkeys(self._user))
        return iter(seen)

    def __len__(self) -> int:
        return len(set(DEFAULTS) | set(self._user))

    def get_bool(self, key: str) -> bool:
        """The value as bool (accepts "true"/"false")."""
        v = self[key]
        if isinstance(v, str):
            return v.strip().lower() in ("1", "true", "yes", "on")
        return bool(v)

    def as_string_map(self) -> dict[str, str]:
        """Every key with its value as a string, as Flink's config endpoints report."""
        out = {}
        for k in self:
            v = self[k]
            out[k] = str(v).lower() if isinstance(v, bool) else str(v)
        return out


_MEMORY_UNITS = {
    "": 1, "b": 1, "bytes": 1,
    "k": 1 << 10, "kb": 1 << 10, "kibibytes": 1 << 10,
    "m": 1 << 20, "mb": 1 << 20, "mebibytes": 1 << 20,
    "g": 1 << 30, "gb": 1 << 30, "gibibytes": 1 << 30,
    "t": 1 << 40, "tb": 1 << 40, "tebibytes": 1 << 40,
}


def is_batch(config: Mapping[str, Any]) -> bool:
    """Whether ``execution.runtime-mode`` in ``config`` is BATCH (the environment writes
    the resolved mode into a job's configuration)."""
    return str(config.get("execution.runtime-mode") or "").strip().upper() == "BATCH"


def tmp_dirs(config: Mapping[str, Any]) -> list[str]:
    """``taskmanager.tmp.dirs`` as a list (separated by ``,`` or the OS path separator);
    empty when unset (callers fall back to the system temp directory)."""
    raw = str(config.get("taskmanager.tmp.dirs") or "")
    return [d.strip() for d in raw.replace(os.pathsep, ",").split(",") if d.strip()]


def parse_memory_size(value: Any) -> int:
    """Bytes of a Flink ``MemorySize``: an int of bytes, or ``"512m"``, ``"1 gb"``,
    ``"1728mb"`` (units are powers of 1024, as in Flink); ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    unit = text[len(text.rstrip("abcdefghijklmnopqrstuvwxyz")):].strip()
    if unit not in _MEMORY_UNITS or not number.isdigit():
        raise ValueError(f"not a memory size: {value!r} (expected e.g. 1024, 512m, 2 gb)")
    return int(number) * _MEMORY_UNITS[unit]


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested YAML mappings into dotted keys (``{rest: {port: 1}}`` -> ``rest.port``)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def parse_dynamic_properties(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings (from ``-D``) with YAML typing of the value."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v) if v.strip() else ""
    return out
