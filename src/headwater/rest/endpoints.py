"""Every REST endpoint, declared once.

An :class:`Endpoint` says what Flink's ``MessageHeaders`` say: verb, path template (Flink's
``/jobs/:jobid`` form), success status, path and query parameters with their parsers,
a description, and the handler that answers it. The router, parameter validation, the
OpenAPI document and the tests are all driven by :data:`ENDPOINTS`::

    >>> ep = find("GET", "/jobs/:jobid")
    >>> [p.name for p in ep.path_params]
    ['jobid']
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from headwater.ids import parse_hex_id
from headwater.rest.context import HandlerContext
from headwater.rest.handlers import (
    accumulators,
    checkpoints,
    cluster,
    datasets,
    events,
    flame_graphs,
    jars,
    jobs,
    logs,
    metrics,
    openapi_document,
    rescaling,
    savepoints,
    taskmanagers,
    thread_dumps,
    vertices,
)

Handler = Callable[[HandlerContext], Awaitable[Any]]

_JAVA_INT_MAX = 2**31 - 1
_JAVA_LONG_MAX = 2**63 - 1


# -- parsers: str -> value, ValueError when malformed -----------------------------------


def parse_string(value: str) -> str:
    """Any string (Flink's String / ResourceID parameters)."""
    return value


def parse_non_negative_int(value: str) -> int:
    """A Java int >= 0 (subtask index, attempt number)."""
    if not re.fullmatch(r"\+?[0-9]+", value) or int(value) > _JAVA_INT_MAX:
        raise ValueError(f"not a non-negative integer: {value!r}")
    return int(value)


def parse_positive_int(value: str) -> int:
    """A Java int >= 1 (parallelism)."""
    number = parse_non_negative_int(value)
    if number < 1:
        raise ValueError(f"not a positive integer: {value!r}")
    return number


def parse_long(value: str) -> int:
    """Any Java long (checkpoint ids)."""
    if not re.fullmatch(r"[+-]?[0-9]+", value) or abs(int(value)) > _JAVA_LONG_MAX:
        raise ValueError(f"not a long: {value!r}")
    return int(value)


def parse_bool(value: str) -> bool:
    """``true`` or ``false`` (any case)."""
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"not a boolean: {value!r}")
    return lowered == "true"


def parse_aggregation(value: str) -> str:
    """One of Flink's metric aggregation modes: min, max, sum, avg."""
    lowered = value.lower()
    if lowered not in ("min", "max", "sum", "avg"):
        raise ValueError(f"unknown aggregation mode: {value!r}")
    return lowered


def parse_termination_mode(value: str) -> str:
    """Flink's TerminationMode: ``cancel`` or ``stop``."""
    lowered = value.lower()
    if lowered not in ("cancel", "stop"):
        raise ValueError(f"unknown termination mode: {value!r}")
    return lowered


def parse_int_range(value: str) -> range:
    """``5`` or ``5-9`` (inclusive), as used by the ``subtasks`` parameter."""
    m = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", value)
    if not m:
        raise ValueError(f"not an integer range: {value!r}")
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) is not None else start
    if end < start:
        raise ValueError(f"empty integer range: {value!r}")
    return range(start, end + 1)


# -- declarations -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PathParam:
    """A ``:name`` segment of a path template and how to parse it."""

    name: str
    parse: Callable[[str], Any]
    description: str


@dataclasses.dataclass(frozen=True)
class QueryParam:
    """A query parameter: a comma-separated list whose items ``parse`` converts."""

    name: str
    parse: Callable[[str], Any]
    description: str
    required: bool = False


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One REST endpoint: what it accepts, what it answers, and who answers it."""

    method: str
    path: str
    status: int
    handler: Handler
    path_params: tuple[PathParam, ...]
    query_params: tuple[QueryParam, ...]
    description: str
    #: False for the endpoints headwater adds beyond the 1.12 spec (logs, stdout...).
    in_spec: bool = True
    #: The media type of a successful answer.
    media_type: str = "application/json"
    #: The answer's schema (the spec's JSON-schema dialect) where the spec has none.
    response: Mapping[str, Any] | None = None

    @property
    def segments(self) -> tuple[str, ...]:
        """The template split at ``/`` (``:name`` marks a parameter)."""
        return tuple(s for s in self.path.split("/") if s)


PATH_PARAMS: dict[str, PathParam] = {
    p.name: p
    for p in (
        PathParam("jobid", parse_hex_id,
                  "32-character hexadecimal string value that identifies a job."),
        PathParam("vertexid", parse_hex_id,
                  "32-character hexadecimal string value that identifies a job vertex."),
        PathParam("triggerid", parse_hex_id,
                  "32-character hexadecimal string that identifies an asynchronous operation "
                  "trigger ID. The ID was returned then the operation was triggered."),
        PathParam("datasetid", parse_hex_id,
                  "32-character hexadecimal string value that identifies a cluster data set."),
        PathParam("checkpointid", parse_long, "Long value that identifies a checkpoint."),
        PathParam("subtaskindex", parse_non_negative_int,
                  "Positive integer value that identifies a subtask."),
        PathParam("attempt", parse_non_negative_int,
                  "Positive integer value that identifies an execution attempt."),
        PathParam("taskmanagerid", parse_string,
                  "32-character hexadecimal string that identifies a task manager."),
        PathParam("jarid", parse_string,
                  "String value that identifies a jar. When uploading the jar a path is "
                  "returned, where the filename is the ID. This value is equivalent to the "
                  "`id` field in the list of uploaded jars (/jars)."),
        PathParam("logname", parse_string, "The name of a log file."),
    )
}

_GET = QueryParam("get", parse_string,
                  "Comma-separated list of string values to select specific metrics.")
_AGG = QueryParam("agg", parse_aggregation,
                  "Comma-separated list of aggregation modes which should be calculated. "
                  'Available aggregations are: "min, max, sum, avg".')
_PROGRAM_ARGS = QueryParam("program-args", parse_string,
                           "Deprecated, please use 'programArg' instead. String value that "
                           "specifies the arguments for the program or plan")
_PROGRAM_ARG = QueryParam("programArg", parse_string,
                          "Comma-separated list of program arguments.")
_ENTRY_CLASS = QueryParam("entry-class", parse_string,
                          "String value that specifies the fully qualified name of the entry "
                          "point class. Overrides the class defined in the jar file manifest.")
_PARALLELISM = QueryParam("parallelism", parse_positive_int,
                          "Positive integer value that specifies the desired parallelism for "
                          "the job.")
_JAR_PLAN_QUERY = (_PROGRAM_ARGS, _PROGRAM_ARG, _ENTRY_CLASS, _PARALLELISM)


def _ep(method: str, path: str, status: int, handler: Handler, description: str,
        query: tuple[QueryParam, ...] = (), in_spec: bool = True,
        media_type: str = "application/json",
        response: Mapping[str, Any] | None = None) -> Endpoint:
    params = tuple(PATH_PARAMS[s[1:]] for s in path.split("/") if s.startswith(":"))
    return Endpoint(method, path, status, handler, params, query, description, in_spec,
                    media_type, response)


#: Every endpoint of the Flink 1.12 REST API plus the dashboard's log endpoints.
ENDPOINTS: tuple[Endpoint, ...] = (
    _ep("DELETE", "/cluster", 200, cluster.shutdown_cluster, "Shuts down the cluster"),
    _ep("GET", "/config", 200, cluster.dashboard_config,
        "Returns the configuration of the WebUI."),
    _ep("GET", "/datasets", 200, datasets.list_datasets, "Returns all cluster data sets."),
    _ep("GET", "/datasets/delete/:triggerid", 200, datasets.delete_status,
        "Returns the status for the delete operation of a cluster data set."),
    _ep("DELETE", "/datasets/:datasetid", 202, datasets.delete_dataset,
        "Triggers the deletion of a cluster data set."),
    _ep("GET", "/jars", 200, jars.list_jars, "Returns a list of all jars previously uploaded via "
        "'/jars/upload'."),
    _ep("POST", "/jars/upload", 200, jars.upload_jar, "Uploads a jar to the cluster."),
    _ep("DELETE", "/jars/:jarid", 200, jars.delete_jar, "Deletes a jar previously uploaded via "
        "'/jars/upload'."),
    _ep("GET", "/jars/:jarid/plan", 200, jars.jar_plan, "Returns the dataflow plan of a job contained "
        "in a jar previously uploaded via '/jars/upload'.", _JAR_PLAN_QUERY),
    _ep("POST", "/jars/:jarid/plan", 200, jars.jar_plan, "Returns the dataflow plan of a job contained "
        "in a jar previously uploaded via '/jars/upload'.", _JAR_PLAN_QUERY),
    _ep("POST", "/jars/:jarid/run", 200, jars.run_jar, "Submits a job by running a jar previously "
        "uploaded via '/jars/upload'.", (
            QueryParam("allowNonRestoredState", parse_bool,
                       "Boolean value that specifies whether the job submission should be "
                       "rejected if the savepoint contains state that cannot be mapped back "
                       "to the job."),
            QueryParam("savepointPath", parse_string,
                       "String value that specifies the path of the savepoint to restore the "
                       "job from."),
            *_JAR_PLAN_QUERY)),
    _ep("GET", "/jobmanager/config", 200, cluster.jobmanager_config,
        "Returns the cluster configuration."),
    _ep("GET", "/jobmanager/logs", 200, logs.jobmanager_logs, "Returns the list of log files on the JobManager."),
    _ep("GET", "/jobmanager/metrics", 200, metrics.jobmanager_metrics,
        "Provides access to job manager metrics.",
        (_GET,)),
    _ep("GET", "/jobs", 200, jobs.list_jobs,
        "Returns an overview over all jobs and their current state."),
    _ep("POST", "/jobs", 202, jobs.submit_job, "Submits a job. This call is primarily intended "
        "to be used by the Flink client."),
    _ep("GET", "/jobs/metrics", 200, metrics.aggregated_job_metrics,
        "Provides access to aggregated job metrics.", (
        _GET, _AGG,
        QueryParam("jobs", parse_hex_id, "Comma-separated list of 32-character hexadecimal "
                   "strings to select specific jobs."))),
    _ep("GET", "/jobs/overview", 200, jobs.jobs_overview, "Returns an overview over all jobs."),
    _ep("GET", "/jobs/:jobid", 200, jobs.job_details, "Returns details of a job."),
    _ep("PATCH", "/jobs/:jobid", 202, jobs.cancel_job, "Terminates a job.", (
        QueryParam("mode", parse_termination_mode, "String value that specifies the "
                   'termination mode. The only supported value is: "cancel".'),)),
    _ep("GET", "/jobs/:jobid/accumulators", 200, accumulators.job_accumulators,
        "Returns the accumulators for all tasks "
        "of a job, aggregated across the respective subtasks.", (
            QueryParam("includeSerializedValue", parse_bool, "Boolean value that specifies "
                       "whether serialized user task accumulators should be included in the "
                       "response."),)),
    _ep("GET", "/jobs/:jobid/checkpoints", 200, checkpoints.checkpointing_statistics,
        "Returns checkpointing statistics for a job."),
    _ep("GET", "/jobs/:jobid/checkpoints/config", 200, checkpoints.checkpoint_config,
        "Returns the checkpointing configuration."),
    _ep("GET", "/jobs/:jobid/checkpoints/details/:checkpointid", 200,
        checkpoints.checkpoint_details,
        "Returns details for a checkpoint."),
    _ep("GET", "/jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid", 200,
        checkpoints.task_checkpoint_details,
        "Returns checkpoint statistics for a task and its subtasks."),
    _ep("GET", "/jobs/:jobid/config", 200, jobs.job_config,
        "Returns the configuration of a job."),
    _ep("GET", "/jobs/:jobid/exceptions", 200, jobs.job_exceptions,
        "Returns the non-recoverable exceptions that have been observed by the job.", (
            QueryParam("maxExceptions", parse_non_negative_int, "Comma-separated list of "
                       "integer values that specifies the upper limit of exceptions to "
                       "return."),)),
    _ep("GET", "/jobs/:jobid/execution-result", 200, jobs.execution_result,
        "Returns the result of a job execution."),
    _ep("GET", "/jobs/:jobid/metrics", 200, metrics.job_metrics,
        "Provides access to job metrics.", (_GET,)),
    _ep("GET", "/jobs/:jobid/plan", 200, jobs.job_plan, "Returns the dataflow plan of a job."),
    _ep("PATCH", "/jobs/:jobid/rescaling", 200, rescaling.trigger_rescaling,
        "Triggers the rescaling of a job.", (
        QueryParam("parallelism", parse_positive_int, "Positive integer value that specifies "
                   "the desired parallelism.", required=True),)),
    _ep("GET", "/jobs/:jobid/rescaling/:triggerid", 200, rescaling.rescaling_status,
        "Returns the status of a rescaling operation."),
    _ep("POST", "/jobs/:jobid/savepoints", 202, savepoints.trigger_savepoint,
        "Triggers a savepoint, and optionally cancels the job afterwards."),
    _ep("GET", "/jobs/:jobid/savepoints/:triggerid", 200, savepoints.savepoint_status,
        "Returns the status of a savepoint operation."),
    _ep("POST", "/jobs/:jobid/stop", 202, savepoints.stop_with_savepoint,
        "Stops a job with a savepoint."),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid", 200, vertices.vertex_details,
        "Returns details for a task, with a summary for each of its subtasks."),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/accumulators", 200,
        accumulators.vertex_accumulators,
        "Returns user-defined accumulators of a task, aggregated across all subtasks."),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/backpressure", 200,
        metrics.vertex_backpressure,
        "Returns back-pressure information for a job."),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/metrics", 200, metrics.vertex_metrics,
        "Provides access to task metrics.", (_GET,)),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/accumulators", 200,
        accumulators.subtasks_accumulators,
        "Returns all user-defined accumulators for all subtasks of a task."),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/metrics", 200,
        metrics.aggregated_subtask_metrics,
        "Provides access to aggregated subtask metrics.", (
            _GET, _AGG,
            QueryParam("subtasks", parse_int_range, "Comma-separated list of integer ranges "
                       '(e.g. "1,3,5-9") to select specific subtasks.'))),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex", 200,
        vertices.subtask_current_attempt,
        "Returns details of the current or latest execution attempt of a subtask."),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt", 200,
        vertices.subtask_attempt, "Returns details of an execution attempt of a subtask."),
    _ep("GET",
        "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt/accumulators",
        200, accumulators.attempt_accumulators,
        "Returns the accumulators of an execution attempt of a subtask."),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/metrics", 200,
        metrics.subtask_metrics,
        "Provides access to subtask metrics.", (_GET,)),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/subtasktimes", 200, vertices.subtask_times,
        "Returns time-related information for all subtasks of a task."),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/taskmanagers", 200,
        vertices.vertex_taskmanagers, "Returns task information aggregated by task manager."),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/watermarks", 200,
        metrics.vertex_watermarks,
        "Returns the watermarks for all subtasks of a task."),
    _ep("GET", "/overview", 200, cluster.cluster_overview,
        "Returns an overview over the Flink cluster."),
    _ep("POST", "/savepoint-disposal", 200, savepoints.trigger_disposal,
        "Triggers the desposal of a savepoint."),
    _ep("GET", "/savepoint-disposal/:triggerid", 200, savepoints.disposal_status,
        "Returns the status of a savepoint disposal operation."),
    _ep("GET", "/taskmanagers", 200, taskmanagers.list_taskmanagers,
        "Returns an overview over all task managers."),
    _ep("GET", "/taskmanagers/metrics", 200, metrics.aggregated_taskmanager_metrics,
        "Provides access to aggregated task manager metrics.", (
            _GET, _AGG,
            QueryParam("taskmanagers", parse_string, "Comma-separated list of 32-character "
                       "hexadecimal strings to select specific task managers."))),
    _ep("GET", "/taskmanagers/:taskmanagerid", 200, taskmanagers.taskmanager_details,
        "Returns details for a task manager."),
    _ep("GET", "/taskmanagers/:taskmanagerid/logs", 200, logs.taskmanager_logs,
        "Returns the list of log files on a TaskManager."),
    _ep("GET", "/taskmanagers/:taskmanagerid/metrics", 200,
        metrics.taskmanager_metrics,
        "Provides access to task manager metrics.", (_GET,)),
    _ep("GET", "/taskmanagers/:taskmanagerid/thread-dump", 200,
        thread_dumps.taskmanager_thread_dump,
        "Returns the thread dump of the requested TaskManager."),
    # Beyond the spec: what the Flink dashboard also calls.
    _ep("GET", "/jobmanager/log", 200, logs.jobmanager_log, "Returns the JobManager's log file.",
        in_spec=False),
    _ep("GET", "/jobmanager/stdout", 200, logs.jobmanager_stdout, "Returns the JobManager's stdout file.",
        in_spec=False),
    _ep("GET", "/jobmanager/logs/:logname", 200, logs.jobmanager_log_file, "Returns one JobManager log file.",
        in_spec=False),
    _ep("GET", "/jobmanager/thread-dump", 200, thread_dumps.jobmanager_thread_dump, "Returns the JobManager's thread dump.",
        in_spec=False),
    _ep("GET", "/taskmanagers/:taskmanagerid/log", 200, logs.taskmanager_log, "Returns a TaskManager's log file.",
        in_spec=False),
    _ep("GET", "/taskmanagers/:taskmanagerid/stdout", 200, logs.taskmanager_stdout,
        "Returns a TaskManager's stdout file.", in_spec=False),
    _ep("GET", "/taskmanagers/:taskmanagerid/logs/:logname", 200,
        logs.taskmanager_log_file,
        "Returns one TaskManager log file.", in_spec=False),
    # Newer Flink endpoints that operators ask for (beyond the 1.12 spec).
    _ep("GET", "/jobs/:jobid/status", 200, jobs.job_status,
        "Returns the current status of a job execution (Flink 1.15).", in_spec=False),
    _ep("POST", "/jobs/:jobid/checkpoints", 202, checkpoints.trigger_checkpoint,
        "Triggers a checkpoint now (Flink 1.17).", in_spec=False),
    _ep("GET", "/jobs/:jobid/checkpoints/:triggerid", 200,
        checkpoints.checkpoint_trigger_status,
        "Returns the status of a manually triggered checkpoint (Flink 1.17).", in_spec=False),
    _ep("GET", "/jobs/:jobid/resource-requirements", 200, rescaling.resource_requirements,
        "Returns the parallelism bounds of the job's vertices (Flink 1.18).", in_spec=False),
    _ep("PUT", "/jobs/:jobid/resource-requirements", 200,
        rescaling.set_resource_requirements,
        "Sets the parallelism bounds of the job's vertices; headwater rescales the job "
        "(Flink 1.18).", in_spec=False),
    _ep("GET", "/jobs/:jobid/vertices/:vertexid/flamegraph", 200,
        flame_graphs.vertex_flame_graph,
        "Returns flame graph information for a vertex, and may initiate flame graph "
        "sampling if necessary (Flink 1.13).", (
            QueryParam("type", flame_graphs.parse_flame_graph_type,
                       "String value that specifies the Flame Graph type. Supported options "
                       'are: "[FULL, ON_CPU, OFF_CPU]".'),),
        in_spec=False, response=flame_graphs.FLAME_GRAPH_SCHEMA),
    _ep("GET", "/openapi.json", 200, openapi_document.openapi_document,
        "Returns the OpenAPI 3.1 document of this REST API.", in_spec=False),
    _ep("GET", "/events", 200, events.event_stream,
        "Streams cluster events as server-sent events (text/event-stream): job status "
        "changes, checkpoints, exceptions, TaskManager registrations and losses, and the "
        "values of subscribed metrics.", (
            QueryParam("topics", events.parse_topic,
                       "Comma-separated event types: job-status, checkpoint, exception, "
                       "taskmanager (default: all)."),
            QueryParam("jobs", parse_hex_id,
                       "Comma-separated job ids: only events of these jobs (TaskManager "
                       "events always pass)."),
            QueryParam("metrics", events.parse_metric_subscription,
                       "Comma-separated metric subscriptions <resource>/<metric>, the "
                       "resource a metrics path without /metrics (jobmanager, "
                       "taskmanagers/<id>, jobs/<jobid>, jobs/<jobid>/vertices/<vertexid>"
                       "[/subtasks/<index>]); values arrive as 'metrics' events."),
        ), in_spec=False, media_type="text/event-stream"),
)


def find(method: str, path: str) -> Endpoint:
    """The endpoint declared for ``method`` and template ``path`` (KeyError if none)."""
    for ep in ENDPOINTS:
        if ep.method == method and ep.path == path:
            return ep
    raise KeyError(f"{method} {path}")
