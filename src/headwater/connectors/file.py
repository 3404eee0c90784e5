"""Files: a resumable text-line source and an exactly-once row-format file sink.

Source (Flink's ``FileSource`` with a text-line format)::

    lines = env.from_source(FileSource.for_path("/data/in"), None, "lines")
    lines = env.read_text_file("/data/in/part-0")          # the same, named like Flink

A path is a file or a directory (read recursively; names starting with "." or "_" are
skipped, as Flink's default filter does). Files are dealt out round-robin among the
subtasks, in name order. Each subtask checkpoints its remaining splits ``(path, byte
offset)`` as "split" operator state, so a restored job, also at another parallelism,
reads every line exactly once. Lines are decoded with an ASCII-compatible charset
(default UTF-8); "\\n", "\\r\\n" and a missing final newline all end a line.

Sink (Flink's ``FileSink``/``StreamingFileSink`` in row format)::

    stream.sink_to(FileSink.for_row_format("/data/out", encoder=str).build())

Each subtask writes ``encoder(record)`` plus a newline into a hidden in-progress part file
``.part-<subtask>-<n>.inprogress``. At a checkpoint it flushes, fsyncs and renames the file
to ``.part-<subtask>-<n>.pending`` and records it in its state; when the checkpoint is
complete (``notify_checkpoint_complete``) the pending files of it and of earlier
checkpoints are committed: renamed to their final name ``part-<subtask>-<n>``. After a
restore, the pending files recorded in the restored state are committed (their checkpoint
completed) and every other hidden file of the subtask is deleted (written after that
checkpoint, its records come again). Readers of the directory see only committed parts,
so the committed output of a job that failed and recovered equals that of a clean run.

Continuous monitoring (``FileSource.for_record_stream_format(fmt, dir)
.monitor_continuously(Duration.of_seconds(1)).build()``): after reading what is there,
each subtask lists the paths every interval and reads the files it has not seen (a file
belongs to subtask ``crc32(path) % parallelism``); the set of seen files is checkpointed
(union operator state), so a restored job reads every file once. Such a source never
ends. Write files elsewhere and move them in (or give them a hidden name while writing):
a file is read once, when it is first seen.

Rolling (``with_rolling_policy``): ``RollingPolicy.on_checkpoint_rolling_policy()`` (the
default) rolls part files at checkpoints only; ``RollingPolicy.default_rolling_policy(
part_size, rollover_interval, inactivity_interval)`` also rolls a part file when it
reaches ``part_size`` bytes, is older than ``rollover_interval`` ms or was not written to
for ``inactivity_interval`` ms (checked when records arrive). Unlike Flink's row formats,
headwater rolls at every checkpoint under every policy (its in-progress files are not
resumable), and writes into the base path itself (Flink's default bucket assigner makes
``yyyy-MM-dd--HH`` subdirectories; ``BucketAssigner.base_path_bucket_assigner()`` is the
behaviour here).

Paths may be fsspec URLs (``s3://bucket/prefix``...). The source lists and reads them at
the same checkpointed offsets. The sink cannot rename there: it writes the in-progress
part to a local temporary file, uploads it at the checkpoint as the hidden object
``.part-<subtask>-<n>.pending`` (one upload: the object appears only once complete) and
commits by copying it to ``part-<subtask>-<n>`` and deleting the staged object; a commit
repeated after a restore finds the final object and does nothing.

Deviation from Flink 1.12: at the end of a bounded input the sink commits everything it
wrote (Flink leaves the last files pending without a final checkpoint). Without
checkpointing, an unbounded job therefore never commits, as in Flink. One sink per
directory: a sink deletes the hidden files of its subtasks that it does not know.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from headwater.connectors.base import Sink, Source
from headwater.runtime import filesystem
from headwater.runtime.operators.base import (
    OperatorStateSnapshot,
    SourceOutput,
    StreamOperator,
    Timestamps,
)
from headwater.runtime.operators.sources import ChunkSizer, SplitSource, _checkpoint_lock

log = logging.getLogger(__name__)

#: Bytes read from a file per step of the source.
READ_BLOCK = 64 * 1024


def _local_path(path: str | os.PathLike) -> str:
    """A local path without ``file://``; a URL of another file system stays a URL."""
    text = os.fspath(path)
    if text.startswith("file://"):
        text = text[len("file://"):]
    if not filesystem.is_local(text):
        filesystem.resolve(text)  # fail early on an unknown scheme
        return text.rstrip("/")
    return text


def _visible(name: str) -> bool:
    return not (name.startswith(".") or name.startswith("_"))


def list_files(paths: Iterable[str]) -> list[str]:
    """The files under ``paths`` (files themselves, directories recursively), sorted,
    without hidden names."""
    out: list[str] = []
    for path in paths:
        path = _local_path(path)
        if not filesystem.is_local(path):
            out.extend(_list_remote(path))
        elif os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if _visible(d))
                out.extend(os.path.join(root, f) for f in sorted(files) if _visible(f))
        elif os.path.exists(path):
            out.append(path)
        else:
            raise FileNotFoundError(f"File source path {path!r} does not exist")
    return out


def _list_remote(url: str) -> list[str]:
    """The visible files under ``url`` on an fsspec file system, as URLs."""
    fs, root = filesystem.resolve(url)
    if fs.isfile(root):
        return [url]
    if not fs.isdir(root):
        raise FileNotFoundError(f"File source path {url!r} does not exist")
    found = sorted(fs.find(root))
    prefix = root.rstrip("/") + "/"
    return [fs.unstrip_protocol(f) for f in found
            if f.startswith(prefix) and all(_visible(n) for n in f[len(prefix):].split("/"))]


def _open_read(location: str) -> Any:
    """A binary, seekable reader of a local or remote file."""
    if filesystem.is_local(location):
        return open(location, "rb")
    fs, path = filesystem.resolve(location)
    return fs.open(path, "rb")


# -- source -------------------------------------------------------------------------------


class StreamFormat:
    """How a file's bytes become records (PyFlink's ``StreamFormat``): text lines."""

    def __init__(self, charset: str = "UTF-8") -> None:
        "".encode(charset)  # fail early on an unknown charset
        self.charset = charset

    @staticmethod
    def text_line_format(charset_name: str = "UTF-8") -> StreamFormat:
        """One record per line, decoded with ``charset_name`` (ASCII-compatible)."""
        return StreamFormat(charset_name)


class FileSource(Source):
    """A source of the text lines of files and directories: bounded, or monitoring the
    paths for new files with ``monitor_continuously``. Its builder methods return the
    source itself, so PyFlink's ``FileSource.for_record_stream_format(...)...build()``
    works."""

    def __init__(self, paths: list[str], stream_format: StreamFormat | None = None) -> None:
        if not paths:
            raise ValueError("a FileSource needs at least one path")
        self.paths = [_local_path(p) for p in paths]
        self.format = stream_format or StreamFormat()
        #: Milliseconds between listings for new files (None: bounded).
        self.monitor_interval: int | None = None

    def monitor_continuously(self, discovery_interval: Any) -> FileSource:
        """Keep watching the paths: every ``discovery_interval`` (a Duration or ms) read
        files that appeared since (the source then never ends)."""
        from headwater.api.time import to_millis

        interval = to_millis(discovery_interval, "discovery interval")
        if interval <= 0:
            raise ValueError("the discovery interval must be positive")
        self.monitor_interval = interval
        return self

    def process_static_file_set(self) -> FileSource:
        """Read the files that exist when the job starts, then end (the default)."""
        self.monitor_interval = None
        return self

    def is_bounded(self) -> bool:
        """Whether the source ends (not when monitoring continuously)."""
        return self.monitor_interval is None

    @staticmethod
    def for_path(*paths: str | os.PathLike, charset: str = "UTF-8") -> FileSource:
        """Lines of the given files or directories."""
        return FileSource([os.fspath(p) for p in paths], StreamFormat(charset))

    @staticmethod
    def for_record_stream_format(stream_format: StreamFormat, *paths: str | os.PathLike
                                 ) -> FileSource:
        """PyFlink's spelling: records of ``stream_format`` from ``paths``."""
        return FileSource([os.fspath(p) for p in paths], stream_format)

    def build(self) -> FileSource:
        """This source (builder compatibility)."""
        return self

    def create_operator(self) -> FileSourceOperator:
        """The source operator the environment adds to the job."""
        return FileSourceOperator(self.paths, self.format.charset, self.monitor_interval)


#: PyFlink's builder class: here the source is its own builder.
FileSourceBuilder = FileSource


class FileSourceOperator(SplitSource):
    """Reads the lines of its splits; checkpoints ``(path, byte offset)`` per split (and,
    when monitoring, the paths it has seen)."""

    state_name = "file-source-splits"
    seen_state_name = "file-source-seen"

    def __init__(self, paths: list[str], charset: str = "UTF-8",
                 monitor_interval: int | None = None) -> None:
        super().__init__()
        self.paths = list(paths)
        self.charset = charset
        self.monitor_interval = monitor_interval
        self._seen: set[str] = set()

    def _mine(self, files: list[str]) -> list[str]:
        """The files of this subtask (monitoring: by a hash of the path)."""
        i, p = self.ctx.subtask_index, self.ctx.parallelism
        if self.monitor_interval is None:
            return files[i::p]
        return [f for f in files if zlib.crc32(f.encode()) % p == i]

    def initial_splits(self) -> list[list[Any]]:
        """This subtask's files, each from offset 0."""
        files = self._mine(list_files(self.paths))
        self._seen.update(files)
        return [[f, 0] for f in files]

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Resume the restored splits (None: read everything from the start)."""
        entry = state.get(self.state_name) if state else None
        self._splits = None if entry is None else [[p, int(o)] for p, o in entry[1]]
        seen = state.get(self.seen_state_name) if state else None
        self._seen = set(seen[1]) if seen else set()

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot:
        """The unfinished splits as "split" list state ``(path, offset)`` (and the seen
        paths as union state when monitoring)."""
        state: OperatorStateSnapshot = {
            self.state_name: ("split", [(p, o) for p, o in self._positions()])}
        if self.monitor_interval is not None:
            state[self.seen_state_name] = ("union", sorted(self._seen))
        return state

    def _discover(self, lock: Any) -> None:
        """Add the files of this subtask that were not seen yet as splits."""
        try:
            files = list_files(self.paths)
        except FileNotFoundError:
            return
        new = [f for f in self._mine(files) if f not in self._seen]
        if new:
            with lock:
                self._seen.update(new)
                self._positions().extend([f, 0] for f in new)

    def _decode(self, data: bytes) -> list[str]:
        text = data.decode(self.charset)
        lines = text.split("\n")
        if "\r" in text:
            lines = [x[:-1] if x.endswith("\r") else x for x in lines]
        return lines

    def run(self, output: SourceOutput) -> None:
        """Read every split to its end, a chunk of lines per ``collect_batch`` (the chunk
        size adapts so that the checkpoint lock is never held long)."""
        lock = _checkpoint_lock(output)
        sizer = ChunkSizer()
        while True:
            self._read_splits(output, lock, sizer)
            if self.monitor_interval is None:
                return
            deadline = time.monotonic() + self.monitor_interval / 1000
            while time.monotonic() < deadline:
                if self._cancelled or output.cancelled:
                    return
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            self._discover(lock)

    def _read_splits(self, output: SourceOutput, lock: Any, sizer: ChunkSizer) -> None:
        clock = time.perf_counter
        splits = self._positions()
        while splits:
            split = splits[0]
            with _open_read(split[0]) as f:
                f.seek(split[1])
                buf = b""
                pos = 0  # buf[pos:] is not emitted yet; it starts at file offset split[1]
                while True:
                    if self._cancelled or output.cancelled:
                        return
                    end = buf.find(b"\n", pos)
                    if end < 0:
                        block = f.read(READ_BLOCK)
                        if block:
                            buf = buf[pos:] + block
                            pos = 0
                            continue
                        with lock:  # end of file: the last line may lack its newline
                            rest = buf[pos:]
                            if rest:
                                output.collect_batch(self._decode(rest))
                                split[1] += len(rest)
                            splits.pop(0)
                        break
                    count, limit = 1, sizer.size
                    while count < limit:
                        nxt = buf.find(b"\n", end + 1)
                        if nxt < 0:
                            break
                        end = nxt
                        count += 1
                    t0 = clock()
                    with lock:
                        output.collect_batch(self._decode(buf[pos:end]))
                        split[1] += end + 1 - pos
                    pos = end + 1
                    sizer.observe(count, clock() - t0)
                    sizer.pause()


# -- sink ---------------------------------------------------------------------------------


class Encoder:
    """Turns a record into the text (or bytes) of one line (PyFlink's ``Encoder``)."""

    @staticmethod
    def simple_string_encoder(charset_name: str = "UTF-8") -> Callable[[Any], str]:
        """``str(record)``, as Flink's SimpleStringEncoder."""
        return str


class OutputFileConfig:
    """Part file names: ``<prefix>-<subtask>-<counter><suffix>`` (defaults "part", "")."""

    def __init__(self, part_prefix: str = "part", part_suffix: str = "") -> None:
        if not part_prefix or "/" in part_prefix or "/" in part_suffix:
            raise ValueError("part prefix and suffix must be plain file name parts")
        self.part_prefix = part_prefix
        self.part_suffix = part_suffix

    def get_part_prefix(self) -> str:
        """The part file name prefix."""
        return self.part_prefix

    def get_part_suffix(self) -> str:
        """The part file name suffix."""
        return self.part_suffix

    @staticmethod
    def builder() -> OutputFileConfig:
        """A config to refine with ``with_part_prefix``/``with_part_suffix``."""
        return OutputFileConfig()

    def with_part_prefix(self, prefix: str) -> OutputFileConfig:
        """Set the prefix."""
        return OutputFileConfig(prefix, self.part_suffix)

    def with_part_suffix(self, suffix: str) -> OutputFileConfig:
        """Set the suffix."""
        return OutputFileConfig(self.part_prefix, suffix)

    def build(self) -> OutputFileConfig:
        """This config."""
        return self


class RollingPolicy:
    """When a part file is closed and becomes pending (committed with the next
    checkpoint): see the module docstring."""

    def __init__(self, part_size: int | None = None, rollover_interval: int | None = None,
                 inactivity_interval: int | None = None) -> None:
        self.part_size = part_size
        self.rollover_interval = rollover_interval
        self.inactivity_interval = inactivity_interval

    @staticmethod
    def default_rolling_policy(part_size: int = 1024 * 1024 * 128,
                               rollover_interval: int = 60 * 1000,
                               inactivity_interval: int = 60 * 1000) -> RollingPolicy:
        """Roll at ``part_size`` bytes, after ``rollover_interval`` ms, or after
        ``inactivity_interval`` ms without records (and at checkpoints)."""
        for name, value in (("part_size", part_size), ("rollover_interval", rollover_interval),
                            ("inactivity_interval", inactivity_interval)):
            if int(value) <= 0:
                raise ValueError(f"{name} must be positive")
        return RollingPolicy(int(part_size), int(rollover_interval), int(inactivity_interval))

    @staticmethod
    def on_checkpoint_rolling_policy() -> RollingPolicy:
        """Roll at checkpoints only."""
        return RollingPolicy()

    def __repr__(self) -> str:
        if self.part_size is None:
            return "OnCheckpointRollingPolicy()"
        return (f"DefaultRollingPolicy(part_size={self.part_size}, rollover_interval="
                f"{self.rollover_interval}, inactivity_interval={self.inactivity_interval})")


class BucketAssigner:
    """Which subdirectory of the base path a record goes to. headwater writes every
    record into the base path (``base_path_bucket_assigner``)."""

    @staticmethod
    def base_path_bucket_assigner() -> BucketAssigner:
        """All records in the base path."""
        return BucketAssigner()

    @staticmethod
    def date_time_bucket_assigner(format_str: str = "yyyy-MM-dd--HH",
                                  timezone_id: str | None = None) -> BucketAssigner:
        """Not supported: headwater does not bucket by time."""
        raise NotImplementedError("BucketAssigner.date_time_bucket_assigner is not supported: "
                                  "headwater's FileSink writes into the base path "
                                  "(BucketAssigner.base_path_bucket_assigner())")


class FileSink(Sink):
    """An exactly-once sink writing part files into a directory (row format)."""

    def __init__(self, base_path: str | os.PathLike, encoder: Any = str) -> None:
        encode = encoder if callable(encoder) else getattr(encoder, "encode", None)
        if not callable(encode):
            raise TypeError("encoder must be a callable record -> str/bytes or have an "
                            "encode(record) method")
        self.base_path = _local_path(base_path)
        self.encoder = encode
        self.output_file_config = OutputFileConfig()
        self.max_part_size: int | None = None
        self.rolling_policy = RollingPolicy.on_checkpoint_rolling_policy()

    @staticmethod
    def for_row_format(base_path: str | os.PathLike, encoder: Any = str) -> FileSink:
        """A sink writing one line ``encoder(record)`` per record under ``base_path``."""
        return FileSink(base_path, encoder)

    def with_output_file_config(self, config: OutputFileConfig) -> FileSink:
        """Part file name prefix and suffix."""
        self.output_file_config = config
        return self

    def with_max_part_size(self, max_bytes: int) -> FileSink:
        """Roll to a new part file once one reaches ``max_bytes`` (it is committed with
        the next checkpoint). Default: roll at checkpoints only."""
        if int(max_bytes) <= 0:
            raise ValueError("max part size must be positive")
        self.max_part_size = int(max_bytes)
        return self

    def with_rolling_policy(self, rolling_policy: RollingPolicy) -> FileSink:
        """When part files roll (see RollingPolicy)."""
        if not isinstance(rolling_policy, RollingPolicy):
            raise TypeError("expected a RollingPolicy")
        self.rolling_policy = rolling_policy
        if rolling_policy.part_size is not None:
            self.max_part_size = rolling_policy.part_size
        return self

    def with_bucket_assigner(self, bucket_assigner: BucketAssigner) -> FileSink:
        """Accepted: records go into the base path."""
        if not isinstance(bucket_assigner, BucketAssigner):
            raise TypeError("expected a BucketAssigner")
        return self

    def with_bucket_check_interval(self, interval: int) -> FileSink:
        """Accepted: rolling by time is checked when records arrive."""
        return self

    def build(self) -> FileSink:
        """This sink (builder compatibility)."""
        return self

    def create_operator(self) -> FileSinkOperator:
        """The sink operator the stream adds to the job."""
        cfg = self.output_file_config
        policy = self.rolling_policy
        return FileSinkOperator(self.base_path, self.encoder, cfg.part_prefix,
                                cfg.part_suffix, self.max_part_size,
                                policy.rollover_interval, policy.inactivity_interval)


#: Flink's older name of the row-format file sink (``add_sink`` takes it too).
StreamingFileSink = FileSink


class FileSinkOperator(StreamOperator):
    """The two-phase commit of :class:`FileSink` for one subtask (see the module doc)."""

    PENDING = "file-sink-pending"
    COUNTERS = "file-sink-counters"

    def __init__(self, base_path: str, encoder: Callable[[Any], Any], prefix: str = "part",
                 suffix: str = "", max_part_size: int | None = None,
                 rollover_interval: int | None = None,
                 inactivity_interval: int | None = None) -> None:
        self.base_path = base_path
        self.encoder = encoder
        self.prefix = prefix
        self.suffix = suffix
        self.max_part_size = max_part_size
        self.rollover_interval = rollover_interval
        self.inactivity_interval = inactivity_interval
        self._opened_at = self._written_at = 0.0
        self._file: Any = None
        #: On a remote file system in-progress parts are local files in this directory.
        self._staging: str | None = None
        self._reset()

    def _reset(self) -> None:
        self._file = None
        self._current: int | None = None  # counter of the in-progress file
        self._written = 0
        self._counter = 0
        #: Pending files: [subtask, counter, checkpoint id or None (rolled, not yet
        #: part of a checkpoint)].
        self._pending: list[list[Any]] = []
        self._initialized = False

    # -- names --------------------------------------------------------------------------

    def final_name(self, subtask: int, n: int) -> str:
        """The committed name of part ``n`` of ``subtask``."""
        return f"{self.prefix}-{subtask}-{n}{self.suffix}"

    @property
    def _remote(self) -> bool:
        return not filesystem.is_local(self.base_path)

    def _path(self, name: str) -> str:
        return filesystem.join(self.base_path, name)

    def _in_progress(self, subtask: int, n: int) -> str:
        name = f".{self.final_name(subtask, n)}.inprogress"
        if self._remote:
            if self._staging is None:
                self._staging = tempfile.mkdtemp(prefix="headwater-file-sink-")
            return os.path.join(self._staging, name)
        return self._path(name)

    def _pending_path(self, subtask: int, n: int) -> str:
        return self._path(f".{self.final_name(subtask, n)}.pending")

    def _parse(self, name: str) -> tuple[int, int, str] | None:
        """(subtask, counter, "final"|"inprogress"|"pending") of one of our file names."""
        m = re.fullmatch(rf"(\.)?{re.escape(self.prefix)}-(\d+)-(\d+){re.escape(self.suffix)}"
                         r"(?:\.(inprogress|pending))?", name)
        if m is None or bool(m.group(1)) != bool(m.group(4)):
            return None
        return int(m.group(2)), int(m.group(3)), m.group(4) or "final"

    # -- lifecycle ----------------------------------------------------------------------

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Commit the restored pending files this subtask owns, delete its other hidden
        files, and continue the part counter."""
        self._reset()
        self._initialized = True
        if not self._remote:
            os.makedirs(self.base_path, exist_ok=True)
        me, p = self.ctx.subtask_index, self.ctx.parallelism
        pending = state.get(self.PENDING) if state else None
        counters = state.get(self.COUNTERS) if state else None
        # old subtask s belongs to new subtask s % p (at unchanged parallelism: itself)
        for s, n, _ in (pending[1] if pending else ()):
            if s % p == me:
                self._commit(s, n)
        counter = max((c for s, c in (counters[1] if counters else ()) if s == me), default=0)
        for name in self._names():
            parsed = self._parse(name)
            if parsed is None:
                continue
            s, n, kind = parsed
            if kind != "final" and s % p == me:
                log.info("file sink: deleting %s (written after the restored checkpoint)",
                         name)
                self._remove(self._path(name))
            elif s == me:
                counter = max(counter, n + 1)
        self._counter = counter
        self._sync()

    def _names(self) -> list[str]:
        """The names in the base directory (none when it does not exist yet)."""
        if not self._remote:
            return os.listdir(self.base_path)
        fs, path = filesystem.resolve(self.base_path)
        try:
            return [p.rstrip("/").rpartition("/")[2] for p in fs.ls(path, detail=False)]
        except FileNotFoundError:
            return []

    def _remove(self, location: str) -> None:
        if not self._remote:
            os.remove(location)
            return
        fs, path = filesystem.resolve(location)
        fs.rm_file(path)

    def _sync(self) -> None:
        if not self._remote:
            _fsync_dir(self.base_path)

    def open(self) -> None:
        """Prepare the directory (fresh start unless the task restored state)."""
        if not self._initialized:
            self.initialize_state(None)

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Append the records to the in-progress part file."""
        if not values:
            return [], None
        parts = list(map(self.encoder, values))
        now = time.monotonic()
        if self._file is not None and self._time_to_roll(now):
            self._roll()
        if self.max_part_size is None:  # one write per batch
            self._write(_lines(parts), now)
            return [], None
        for part in parts:  # the size limit applies per record, as in Flink
            self._write(_lines([part]), now)
            if self._written >= self.max_part_size:
                self._roll()
        return [], None

    def _write(self, data: bytes, now: float) -> None:
        if self._file is None:
            self._current = self._counter
            self._counter += 1
            self._file = open(self._in_progress(self.ctx.subtask_index, self._current), "wb")
            self._written = 0
            self._opened_at = now
        self._file.write(data)
        self._written += len(data)
        self._written_at = now

    def _time_to_roll(self, now: float) -> bool:
        """Whether the rolling policy's intervals say the open part file is done."""
        rollover, inactivity = self.rollover_interval, self.inactivity_interval
        return (rollover is not None and (now - self._opened_at) * 1000 >= rollover) or \
            (inactivity is not None and (now - self._written_at) * 1000 >= inactivity)

    def _roll(self) -> None:
        """Close the in-progress file durably and make it pending."""
        f, self._file = self._file, None
        if f is None:
            return
        me, current = self.ctx.subtask_index, self._current
        assert current is not None  # set together with the open file
        if self._remote:
            # One upload to a hidden staging object: it appears only once complete (a
            # single PUT, or a multipart upload that completes at its end).
            f.close()
            local = self._in_progress(me, current)
            fs, pending = filesystem.resolve(self._pending_path(me, current))
            fs.put_file(local, pending)
            os.remove(local)
        else:
            f.flush()
            os.fsync(f.fileno())
            f.close()
            os.replace(self._in_progress(me, current), self._pending_path(me, current))
        self._pending.append([me, current, None])
        self._current = None

    def _commit(self, subtask: int, n: int) -> None:
        src = self._pending_path(subtask, n)
        dst = self._path(self.final_name(subtask, n))
        if self._remote:
            # No rename on object stores: copy the staged object to its final key, then
            # drop the staged one. Repeating it after a restore is harmless.
            fs, src_path = filesystem.resolve(src)
            _, dst_path = filesystem.resolve(dst)
            if fs.exists(src_path):
                fs.copy(src_path, dst_path)
                fs.rm_file(src_path)
            elif not fs.exists(dst_path):
                log.warning("file sink: pending part %s is missing; its records are lost",
                            src)
        elif os.path.exists(src):
            os.replace(src, dst)
        elif not os.path.exists(dst):
            log.warning("file sink: pending part file %s is missing; its records are lost",
                        src)

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot:
        """Make the in-progress file pending for ``checkpoint_id``; the state lists every
        uncommitted pending file and the part counter."""
        self._roll()
        for entry in self._pending:
            if entry[2] is None:
                entry[2] = checkpoint_id
        self._sync()
        me = self.ctx.subtask_index
        return {self.PENDING: ("union", [tuple(e) for e in self._pending]),
                self.COUNTERS: ("union", [(me, self._counter)])}

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Commit the pending files of checkpoints up to ``checkpoint_id``."""
        keep = []
        for entry in self._pending:
            s, n, cid = entry
            if cid is not None and cid <= checkpoint_id:
                self._commit(s, n)
            else:
                keep.append(entry)
        if len(keep) != len(self._pending):
            self._pending = keep
            self._sync()

    def end_input(self) -> tuple[list, Timestamps]:
        """Bounded input done: commit everything written (see the module doc)."""
        self._roll()
        for s, n, _ in self._pending:
            self._commit(s, n)
        self._pending = []
        self._sync()
        return [], None

    def close(self) -> None:
        """Close the in-progress file (it stays hidden; a restore deletes it)."""
        f, self._file = self._file, None
        if f is not None:
            f.close()
        staging, self._staging = self._staging, None
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("ctx", None)
        state["_file"] = None
        state["_staging"] = None
        state["_pending"] = []
        state["_initialized"] = False
        return state


def _lines(parts: list) -> bytes:
    """The encoded records as newline-terminated lines."""
    if isinstance(parts[0], str):
        return ("\n".join(parts) + "\n").encode("utf-8")
    return b"\n".join(parts) + b"\n"


def _fsync_dir(path: str) -> None:
    """Make renames in ``path`` durable (best effort; not every OS supports it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
