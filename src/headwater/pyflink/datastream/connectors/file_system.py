"""PyFlink's ``pyflink.datastream.connectors.file_system``: headwater's classes under PyFlink's module path."""

from __future__ import annotations

from headwater.api import (
    BucketAssigner,
    FileSink,
    FileSource,
    FileSourceBuilder,
    OutputFileConfig,
    RollingPolicy,
    StreamFormat,
    StreamingFileSink,
)

__all__ = [
    "OutputFileConfig",
    "FileSource",
    "FileSourceBuilder",
    "FileSink",
    "StreamingFileSink",
    "StreamFormat",
    "RollingPolicy",
    "BucketAssigner",
]
