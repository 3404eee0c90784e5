"""ExecutionConfig: per-job settings the runtime reads (``env.get_config()``).

    env.get_config().set_auto_watermark_interval(1000)   # watermarks every second

Besides the watermark interval it carries PyFlink's other settings so programs that set
them run: parallelism and max parallelism (the environment's defaults), and settings
that are recorded but change nothing in headwater, which pickles records and never
reuses objects (object reuse, closure cleaner, Kryo/Avro/generic types, auto-generated
uids, latency tracking, task cancellation, snapshot compression, execution mode).
"""

from __future__ import annotations

import json
from typing import Any

#: The configuration key of the job's global parameters (a JSON object here).
JOB_PARAMETERS = "pipeline.global-job-parameters"


def parse_job_parameters(value: Any) -> dict[str, str]:
    """The job parameters of a configuration value: a JSON object, or Flink's
    ``k1:v1,k2:v2``."""
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        parsed = dict(item.split(":", 1) for item in str(value).split(",") if ":" in item)
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}


#: Flink's ``pipeline.auto-watermark-interval`` default (ms).
DEFAULT_AUTO_WATERMARK_INTERVAL = 200


class ExecutionConfig:
    """Settings of a job's execution (PyFlink's ExecutionConfig, the parts we use)."""

    def __init__(self, auto_watermark_interval: int = DEFAULT_AUTO_WATERMARK_INTERVAL) -> None:
        self._auto_watermark_interval = int(auto_watermark_interval)
        #: Settings beyond the watermark interval (see the module docstring).
        self._settings: dict[str, Any] = {}

    def set_auto_watermark_interval(self, interval: int) -> ExecutionConfig:
        """Emit watermarks every ``interval`` ms (0 disables periodic watermarks)."""
        if int(interval) < 0:
            raise ValueError("Auto watermark interval must not be negative.")
        self._auto_watermark_interval = int(interval)
        return self

    def get_auto_watermark_interval(self) -> int:
        """The periodic watermark interval in ms."""
        return self._auto_watermark_interval

    # -- the environment's defaults -----------------------------------------------------

    def set_parallelism(self, parallelism: int) -> ExecutionConfig:
        """The default parallelism (as ``env.set_parallelism``)."""
        if int(parallelism) < 1 and int(parallelism) != -1:
            raise ValueError("parallelism must be at least 1")
        self._settings["parallelism"] = int(parallelism)
        return self

    def get_parallelism(self) -> int:
        """The default parallelism set here (-1: the environment's)."""
        return self._settings.get("parallelism", -1)

    def set_max_parallelism(self, max_parallelism: int) -> ExecutionConfig:
        """The default max parallelism (as ``env.set_max_parallelism``)."""
        if not 0 < int(max_parallelism) <= 32768:
            raise ValueError("The maximum parallelism must be between 1 and 32768.")
        self._settings["max_parallelism"] = int(max_parallelism)
        return self

    def get_max_parallelism(self) -> int:
        """The max parallelism set here (-1: not set)."""
        return self._settings.get("max_parallelism", -1)

    def set_restart_strategy(self, restart_strategy_configuration: Any) -> ExecutionConfig:
        """The restart strategy (as ``env.set_restart_strategy``)."""
        self._settings["restart_strategy"] = restart_strategy_configuration
        return self

    def get_restart_strategy(self) -> Any:
        """The restart strategy set here (None: the cluster's)."""
        return self._settings.get("restart_strategy")

    def set_global_job_parameters(self, global_job_parameters_dict: dict) -> ExecutionConfig:
        """Parameters of the job (recorded in the job's configuration as
        ``pipeline.global-job-parameters``)."""
        self._settings["global_job_parameters"] = {str(k): str(v) for k, v in
                                                   dict(global_job_parameters_dict).items()}
        return self

    def get_global_job_parameters(self) -> dict[str, str]:
        """The job parameters."""
        return dict(self._settings.get("global_job_parameters", {}))

    # -- recorded, no effect ------------------------------------------------------------

    def _flag(self, name: str, value: Any) -> ExecutionConfig:
        self._settings[name] = value
        return self

    def enable_object_reuse(self) -> ExecutionConfig:
        """Recorded (records are never reused across operators here)."""
        return self._flag("object_reuse", True)

    def disable_object_reuse(self) -> ExecutionConfig:
        """Recorded."""
        return self._flag("object_reuse", False)

    def is_object_reuse_enabled(self) -> bool:
        """Whether object reuse was enabled."""
        return bool(self._settings.get("object_reuse", False))

    def enable_closure_cleaner(self) -> ExecutionConfig:
        """Recorded (functions travel with cloudpickle)."""
        return self._flag("closure_cleaner", True)

    def disable_closure_cleaner(self) -> ExecutionConfig:
        """Recorded."""
        return self._flag("closure_cleaner", False)

    def is_closure_cleaner_enabled(self) -> bool:
        """Whether the closure cleaner is enabled (Flink's default: yes)."""
        return bool(self._settings.get("closure_cleaner", True))

    def enable_auto_generated_uids(self) -> ExecutionConfig:
        """Recorded (operator ids are generated unless ``uid`` is set)."""
        return self._flag("auto_generated_uids", True)

    def disable_auto_generated_uids(self) -> ExecutionConfig:
        """Recorded."""
        return self._flag("auto_generated_uids", False)

    def has_auto_generated_uids_enabled(self) -> bool:
        """Whether auto-generated uids are enabled."""
        return bool(self._settings.get("auto_generated_uids", True))

    def enable_force_kryo(self) -> ExecutionConfig:
        """Recorded (records are pickled)."""
        return self._flag("force_kryo", True)

    def disable_force_kryo(self) -> ExecutionConfig:
        """Recorded."""
        return self._flag("force_kryo", False)

    def is_force_kryo_enabled(self) -> bool:
        """Whether Kryo was forced."""
        return bool(self._settings.get("force_kryo", False))

    def enable_force_avro(self) -> ExecutionConfig:
        """Recorded (records are pickled)."""
        return self._flag("force_avro", True)

    def disable_force_avro(self) -> ExecutionConfig:
        """Recorded."""
        return self._flag("force_avro", False)

    def is_force_avro_enabled(self) -> bool:
        """Whether Avro was forced."""
        return bool(self._settings.get("force_avro", False))

    def enable_generic_types(self) -> ExecutionConfig:
        """Recorded."""
        return self._flag("generic_types_disabled", False)

    def disable_generic_types(self) -> ExecutionConfig:
        """Recorded."""
        return self._flag("generic_types_disabled", True)

    def has_generic_types_disabled(self) -> bool:
        """Whether generic types were disabled."""
        return bool(self._settings.get("generic_types_disabled", False))

    def set_latency_tracking_interval(self, interval: int) -> ExecutionConfig:
        """Recorded (no latency markers)."""
        return self._flag("latency_tracking_interval", int(interval))

    def get_latency_tracking_interval(self) -> int:
        """The latency tracking interval set (0: off)."""
        return int(self._settings.get("latency_tracking_interval", 0))

    def set_task_cancellation_interval(self, interval: int) -> ExecutionConfig:
        """Recorded."""
        return self._flag("task_cancellation_interval", int(interval))

    def get_task_cancellation_interval(self) -> int:
        """The task cancellation interval (ms)."""
        return int(self._settings.get("task_cancellation_interval", 30000))

    def set_task_cancellation_timeout(self, timeout: int) -> ExecutionConfig:
        """Recorded."""
        return self._flag("task_cancellation_timeout", int(timeout))

    def get_task_cancellation_timeout(self) -> int:
        """The task cancellation timeout (ms)."""
        return int(self._settings.get("task_cancellation_timeout", 180000))

    def set_use_snapshot_compression(self, use_snapshot_compression: bool) -> ExecutionConfig:
        """Recorded."""
        return self._flag("snapshot_compression", bool(use_snapshot_compression))

    def is_use_snapshot_compression(self) -> bool:
        """Whether snapshot compression was asked for."""
        return bool(self._settings.get("snapshot_compression", False))

    def set_execution_mode(self, execution_mode: Any) -> ExecutionConfig:
        """Recorded (data is always exchanged pipelined)."""
        return self._flag("execution_mode", execution_mode)

    def get_execution_mode(self) -> Any:
        """The ExecutionMode set (PIPELINED by default)."""
        from headwater.api.execution_mode import ExecutionMode

        return self._settings.get("execution_mode", ExecutionMode.PIPELINED)

    def set_default_input_dependency_constraint(self, constraint: Any) -> ExecutionConfig:
        """Recorded."""
        return self._flag("input_dependency_constraint", constraint)

    def get_default_input_dependency_constraint(self) -> Any:
        """The InputDependencyConstraint set (ANY by default)."""
        from headwater.api.execution_mode import InputDependencyConstraint

        return self._settings.get("input_dependency_constraint", InputDependencyConstraint.ANY)
