"""Parquet, CSV and JSON-lines files for columnar streams (Arrow record batches),
exactly once.

Source: :class:`BatchFileSource` reads Parquet files row group by row group, CSV and
JSON-lines files block by block (pyarrow's streaming readers), and checkpoints
``(path, next row group or block)`` per file, so a restore (also at another
parallelism) resumes exactly after the last emitted row group or block::

    env.from_batch_source(BatchFileSource.for_parquet("/data/trips"))
    env.from_batch_source(BatchFileSource.for_csv("/data/trips.csv"))

Sink:
The two-phase commit of :class:`~headwater.connectors.file.FileSink`, with batches written
by a ``pyarrow.parquet.ParquetWriter`` or ``pyarrow.csv.CSVWriter`` into the hidden
in-progress part file. A part is finished (its footer written) when it rolls at every
checkpoint, then committed when the checkpoint completes::

    batches.sink_to(BatchFileSink.for_parquet("/data/out"))   # part-<subtask>-<n>.parquet

Committed parts hold every batch exactly once, also after failures: a restore deletes
the hidden parts written after the restored checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from headwater.connectors.base import Sink, Source
from headwater.connectors.file import FileSinkOperator, _local_path, _open_read, list_files
from headwater.runtime.operators.base import OperatorStateSnapshot, SourceOutput, Timestamps
from headwater.runtime.operators.sources import SplitSource, _checkpoint_lock

FORMATS = ("parquet", "csv")


class BatchFileSink(Sink):
    """A sink for BatchStreams writing Parquet or CSV part files exactly once."""

    #: BatchStream.sink_to hands this sink the batches themselves.
    accepts_batches = True

    def __init__(self, base_path: str | os.PathLike, file_format: str,
                 prefix: str = "part") -> None:
        if file_format not in FORMATS:
            raise ValueError(f"file format must be one of {FORMATS}, got {file_format!r}")
        self.base_path = _local_path(base_path)
        self.file_format = file_format
        self.prefix = prefix

    @staticmethod
    def for_parquet(base_path: str | os.PathLike) -> BatchFileSink:
        """Parquet part files ``part-<subtask>-<n>.parquet`` under ``base_path``."""
        return BatchFileSink(base_path, "parquet")

    @staticmethod
    def for_csv(base_path: str | os.PathLike) -> BatchFileSink:
        """CSV part files (with a header line) ``part-<subtask>-<n>.csv``."""
        return BatchFileSink(base_path, "csv")

    def create_operator(self) -> BatchFileSinkOperator:
        """The sink operator the stream adds to the job."""
        return BatchFileSinkOperator(self.base_path, self.file_format, self.prefix)


class BatchFileSinkOperator(FileSinkOperator):
    """One subtask of :class:`BatchFileSink`: FileSink's commit protocol, Arrow writers."""

    def __init__(self, base_path: str, file_format: str, prefix: str = "part") -> None:
        super().__init__(base_path, repr, prefix, f".{file_format}")
        self.file_format = file_format
        self._writer: Any = None
        self._schema: Any = None

    def process_batch(self, values: list, timestamps: Timestamps) -> tuple[list, Timestamps]:
        """Append every batch to the in-progress part (opened on demand)."""
        import pyarrow as pa

        for batch in values:
            if type(batch) is not pa.RecordBatch:
                raise TypeError(f"operator '{self.ctx.operator_name}' expects "
                                f"pyarrow.RecordBatch records, got {type(batch).__name__}")
            if self._schema is None:
                self._schema = batch.schema
            elif not batch.schema.equals(self._schema):
                raise TypeError(f"operator '{self.ctx.operator_name}': schema mismatch "
                                f"between batches: got {batch.schema}, earlier batches had "
                                f"{self._schema}")
            if not batch.num_rows:
                continue
            if self._file is None:
                self._write(b"", time.monotonic())  # opens the in-progress part
            if self._writer is None:
                self._writer = self._open_writer(batch.schema)
            self._writer.write_batch(batch)
        return [], None

    def _open_writer(self, schema: Any) -> Any:
        if self.file_format == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(self._file, schema)
        import pyarrow.csv as csv

        return csv.CSVWriter(self._file, schema)

    def _roll(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()  # the footer; the part file itself stays open for the roll
        super()._roll()

    def close(self) -> None:
        """Drop the writer unfinished (the hidden part is deleted by a restore)."""
        self._writer = None
        super().close()

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_writer"] = None
        return state


#: The formats BatchFileSource reads.
SOURCE_FORMATS = ("parquet", "csv", "jsonl")
#: Bytes per CSV / JSON-lines block (one block is one batch), pyarrow's default.
DEFAULT_BLOCK_SIZE = 1 << 20


class BatchFileSource(Source):
    """A bounded source of Parquet row groups, or of the blocks of CSV or JSON-lines
    files, as RecordBatches."""

    def __init__(self, paths: list[str], columns: list[str] | None = None,
                 file_format: str = "parquet", block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        if file_format not in SOURCE_FORMATS:
            raise ValueError(f"file format must be one of {SOURCE_FORMATS}, "
                             f"got {file_format!r}")
        if block_size < 1:
            raise ValueError("block_size must be positive")
        self.paths = [_local_path(p) for p in paths]
        self.columns = columns
        self.file_format = file_format
        self.block_size = block_size

    @staticmethod
    def for_parquet(*paths: str | os.PathLike, columns: list[str] | None = None
                    ) -> BatchFileSource:
        """The Parquet files under ``paths`` (files or directories), optionally only
        ``columns``; files are dealt out to the subtasks."""
        if not paths:
            raise ValueError("for_parquet needs at least one path")
        return BatchFileSource([os.fspath(p) for p in paths], columns)

    @staticmethod
    def for_csv(*paths: str | os.PathLike, columns: list[str] | None = None,
                block_size: int = DEFAULT_BLOCK_SIZE) -> BatchFileSource:
        """The CSV files (a header line, then rows) under ``paths``, read by
        ``pyarrow.csv`` in blocks of ``block_size`` bytes (column types are inferred from
        a file's first block); optionally only ``columns``."""
        if not paths:
            raise ValueError("for_csv needs at least one path")
        return BatchFileSource([os.fspath(p) for p in paths], columns, "csv", block_size)

    @staticmethod
    def for_jsonl(*paths: str | os.PathLike, columns: list[str] | None = None,
                  block_size: int = DEFAULT_BLOCK_SIZE) -> BatchFileSource:
        """The JSON-lines files (one object per line) under ``paths``, read by
        ``pyarrow.json`` in blocks of ``block_size`` bytes; optionally only ``columns``."""
        if not paths:
            raise ValueError("for_jsonl needs at least one path")
        return BatchFileSource([os.fspath(p) for p in paths], columns, "jsonl", block_size)

    def create_operator(self) -> BatchFileSourceOperator:
        """The source operator the stream adds to the job."""
        return BatchFileSourceOperator(self.paths, self.columns, self.file_format,
                                       self.block_size)

    def is_bounded(self) -> bool:
        """The files are read once."""
        return True


class BatchFileSourceOperator(SplitSource):
    """Emits every row group (Parquet) or block (CSV, JSON lines) of its files;
    checkpoints ``(path, index of the next row group or block)`` per unfinished file.

    A block is what pyarrow's streaming reader returns for ``block_size`` bytes, so a
    restore with the same block size re-reads (and skips) exactly the blocks emitted."""

    state_name = "parquet-source-splits"

    def __init__(self, paths: list[str], columns: list[str] | None = None,
                 file_format: str = "parquet", block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        super().__init__()
        self.paths = list(paths)
        self.columns = columns
        self.file_format = file_format
        self.block_size = block_size

    def initial_splits(self) -> list[list[Any]]:
        """This subtask's files, each from row group / block 0."""
        files = list_files(self.paths)
        return [[f, 0] for f in files[self.ctx.subtask_index::self.ctx.parallelism]]

    def initialize_state(self, state: OperatorStateSnapshot | None) -> None:
        """Resume the restored splits in path order, as a fresh start reads them (None:
        read everything from the start)."""
        entry = state.get(self.state_name) if state else None
        self._splits = None if entry is None else sorted([p, int(g)] for p, g in entry[1])

    def snapshot_state(self, checkpoint_id: int) -> OperatorStateSnapshot:
        """The unfinished files as "split" list state ``(path, next row group/block)``."""
        return {self.state_name: ("split", [(p, g) for p, g in self._positions()])}

    def run(self, output: SourceOutput) -> None:
        """Emit the row groups or blocks in order, each under the checkpoint lock."""
        lock = _checkpoint_lock(output)
        splits = self._positions()
        while splits:
            split = splits[0]
            with _open_read(split[0]) as f:
                for batches in self._blocks(f, split):
                    if self._cancelled or output.cancelled:
                        return
                    with lock:
                        if batches:
                            output.collect_batch(batches)
                        split[1] += 1
            with lock:
                splits.pop(0)

    def _blocks(self, f: Any, split: list[Any]) -> Iterator[list[Any]]:
        """The batches of each row group / block of an open file from ``split[1]`` on."""
        if self.file_format == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(f)
            while split[1] < parquet.num_row_groups:
                table = parquet.read_row_group(split[1], columns=self.columns)
                yield table.combine_chunks().to_batches()
            return
        reader = self._open_blocks(f, split[0])
        for _ in range(split[1]):  # the blocks emitted before the checkpoint
            if _next_block(reader, split[0]) is None:
                return
        while (batch := _next_block(reader, split[0])) is not None:
            if self.columns is not None and self.file_format == "jsonl":
                missing = [c for c in self.columns if c not in batch.schema.names]
                if missing:
                    raise ValueError(f"{split[0]}: no column {missing[0]!r} in "
                                     f"{batch.schema.names}")
                batch = batch.select(self.columns)
            yield [batch] if batch.num_rows else []

    def _open_blocks(self, f: Any, path: str) -> Any:
        try:
            if self.file_format == "csv":
                import pyarrow.csv as pcsv

                return pcsv.open_csv(f, read_options=pcsv.ReadOptions(
                    block_size=self.block_size, use_threads=False),
                    convert_options=pcsv.ConvertOptions(include_columns=self.columns))
            import pyarrow.json as pjson

            return pjson.open_json(f, read_options=pjson.ReadOptions(
                block_size=self.block_size, use_threads=False))
        except Exception as exc:  # pyarrow's ArrowInvalid & co: name the file
            raise ValueError(f"cannot read {self.file_format} file {path}: {exc}") from exc


def _next_block(reader: Any, path: str) -> Any:
    """The reader's next batch, None at the end; parse errors name the file."""
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None
    except Exception as exc:  # pyarrow's ArrowInvalid & co: name the file
        raise ValueError(f"cannot read {path}: {exc}") from exc
