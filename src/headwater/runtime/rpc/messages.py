"""Control messages between the JobManager and TaskManagers.

Every message is a msgspec Struct in one tagged union, encoded as msgpack and framed by
:mod:`headwater.runtime.rpc.framing`. User code travels only inside ``bytes`` blobs.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Message(msgspec.Struct, tag=True, omit_defaults=True):
    """Base of every control message."""


# --- TaskManager -> JobManager -------------------------------------------------------


class RegisterTaskManager(Message):
    """First message of a TaskManager connection."""

    resource_id: str
    host: str
    data_port: int
    pid: int
    slots: int
    hardware: dict[str, int]
    log_dir: str | None = None
    #: Where it runs, as its deployment describes it (e.g. ``rayNodeId``); free form.
    attributes: dict[str, str] = {}


class TaskIOReport(Message):
    """I/O counters of one running attempt (also carried by heartbeats)."""

    attempt_id: str
    read_bytes: int
    write_bytes: int
    read_records: int
    write_records: int
    #: Free-form task metrics (per-operator counts, back-pressure time...).
    metrics: dict[str, Any] = {}


class Heartbeat(Message):
    """Periodic liveness signal with process figures and task I/O."""

    resource_id: str
    process: dict[str, Any]
    tasks: list[TaskIOReport] = []


class TaskStateUpdate(Message):
    """An attempt changed state (RUNNING, FINISHED, FAILED, CANCELED)."""

    attempt_id: str
    state: str
    io: TaskIOReport | None = None
    failure: str | None = None  # formatted traceback
    #: name -> base64 pickle of the accumulator's local value (on final states)
    accumulators: dict[str, str] = {}
    timestamp: int = 0


class Response(Message):
    """Answer to a request (either direction): ``payload`` on success, else ``error``."""

    request_id: int
    payload: Any = None
    error: str | None = None


class AcknowledgeCheckpoint(Message):
    """A subtask wrote its state for a checkpoint."""

    attempt_id: str
    checkpoint_id: int
    #: file name of the state inside the checkpoint directory ("" when stateless)
    state_file: str
    state_size: int
    sync_duration: int
    async_duration: int
    alignment_duration: int
    alignment_buffered: int
    processed_data: int
    #: when the barrier reached the subtask (ms since epoch)
    barrier_timestamp: int
    ack_timestamp: int


class DeclineCheckpoint(Message):
    """A subtask could not take part in a checkpoint."""

    attempt_id: str
    checkpoint_id: int
    reason: str
    #: True when the task is finishing or not yet running: like Flink's
    #: NOT_ALL_REQUIRED_TASKS_RUNNING, this does not count as a checkpoint failure.
    task_not_ready: bool = False


# --- JobManager -> TaskManager -------------------------------------------------------


class TriggerCheckpoint(Message):
    """Start a checkpoint at a source task: snapshot and inject a barrier."""

    attempt_id: str
    checkpoint_id: int
    timestamp: int
    #: directory (path) where subtasks write their state files
    directory: str
    checkpoint_type: str = "CHECKPOINT"  # SAVEPOINT, SYNC_SAVEPOINT
    #: stop-with-savepoint: end the source after the barrier
    stop: bool = False
    #: with stop: emit the MAX watermark before the barrier (timers fire)
    drain: bool = False


class NotifyCheckpointComplete(Message):
    """A checkpoint completed: tasks may commit side effects."""

    attempt_id: str
    checkpoint_id: int


class NotifyCheckpointAborted(Message):
    """A checkpoint will not complete."""

    attempt_id: str
    checkpoint_id: int


class TaskRestore(msgspec.Struct):
    """State a task restores before it opens its operators."""

    checkpoint_id: int
    #: directory of the checkpoint or savepoint
    directory: str
    #: state file of every old subtask of this vertex, in old subtask order ("" for a
    #: stateless subtask); operators are matched by operator id inside the files
    files: list[str]


class Request(Message):
    """Base of requests that expect a :class:`Response` with the same ``request_id``."""

    request_id: int = 0


class RequestThreadDump(Request):
    """Stacks of every thread of the TaskManager process."""


class RequestLogList(Request):
    """Files in the TaskManager's log directory."""


class RequestLogFile(Request):
    """Contents of one file of the TaskManager's log directory."""

    name: str = ""
    #: Return at most this many bytes from the end of the file (0: whole file).
    max_bytes: int = 0


class RequestMetrics(Request):
    """The TaskManager's current metric values."""


class RequestThreadInfoSamples(Request):
    """Samples of the Python stacks of some attempts' threads (Flink's
    ``ThreadInfoSamplesRequest``); answered with the counted samples of
    :class:`~headwater.runtime.taskmanager.thread_info_sampler.ThreadInfoSamples`."""

    attempt_ids: list[str] = []
    num_samples: int = 100
    #: ms between two samples
    delay_between_samples: int = 50
    #: innermost frames kept per stack
    max_stack_depth: int = 100


class RegistrationAck(Message):
    """The JobManager accepted a TaskManager."""

    heartbeat_interval: int
    configuration: dict[str, Any] = {}


class RegistrationRejected(Message):
    """The JobManager refused a TaskManager."""

    reason: str


class ChannelDescriptor(msgspec.Struct):
    """Where a consumer reads one input channel."""

    partition_id: str
    subpartition_index: int
    host: str
    data_port: int
    resource_id: str


class InputGateDescriptor(msgspec.Struct):
    """One input edge of a task: its channels."""

    input_number: int
    ship_strategy: str
    channels: list[ChannelDescriptor]


class PartitionDescriptor(msgspec.Struct):
    """One output edge of a task: the partition it produces."""

    partition_id: str
    ship_strategy: str
    num_subpartitions: int
    consumer_parallelism: int
    consumer_max_parallelism: int
    key_selector: bytes | None = None
    #: Set for edges that carry a side output (OutputTag id) instead of the main output.
    side_output_tag: str | None = None
    #: 1 or 2 for an edge into the first or second input of a two-input operator (its
    #: records travel tagged with their input), 0 otherwise.
    type_number: int = 0
    #: A BLOCKING partition (Flink's ``ResultPartitionType.BLOCKING``): written to files
    #: under ``taskmanager.tmp.dirs``, readable once the producer finished and until the
    #: JobManager releases it (:class:`ReleasePartitions`); else pipelined.
    blocking: bool = False


class OperatorBlob(msgspec.Struct):
    """A pickled operator of the chain."""

    operator_id: str
    name: str
    uid: str | None
    blob: bytes


class TaskDeploymentDescriptor(msgspec.Struct):
    """Everything a TaskManager needs to run one attempt of one subtask."""

    job_id: str
    job_name: str
    vertex_id: str
    vertex_name: str
    subtask_index: int
    parallelism: int
    max_parallelism: int
    attempt_number: int
    attempt_id: str
    slot_index: int
    operators: list[OperatorBlob]
    inputs: list[InputGateDescriptor]
    outputs: list[PartitionDescriptor]
    configuration: dict[str, Any] = {}
    restore: TaskRestore | None = None


class DeployTask(Message):
    """Run an attempt."""

    tdd: TaskDeploymentDescriptor


class CancelTask(Message):
    """Cancel an attempt (it answers with a CANCELED state update)."""

    attempt_id: str


class ReleasePartitions(Message):
    """Delete BLOCKING result partitions of a job on a TaskManager: those in
    ``partition_ids``, or, when it is empty, every one of the job except those in
    ``keep``."""

    job_id: str
    partition_ids: list[str] = []
    keep: list[str] = []


class ShutdownTaskManager(Message):
    """Stop the TaskManager process."""

    reason: str = ""


AnyMessage = (
    Response
    | AcknowledgeCheckpoint
    | DeclineCheckpoint
    | TriggerCheckpoint
    | NotifyCheckpointComplete
    | NotifyCheckpointAborted
    | RequestThreadDump
    | RequestLogList
    | RequestLogFile
    | RequestMetrics
    | RequestThreadInfoSamples
    | RegisterTaskManager
    | Heartbeat
    | TaskStateUpdate
    | RegistrationAck
    | RegistrationRejected
    | DeployTask
    | CancelTask
    | ReleasePartitions
    | ShutdownTaskManager
)
