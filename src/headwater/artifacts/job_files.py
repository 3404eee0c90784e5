"""Files that come with a ``POST /jobs`` submission: jars and distributed-cache artifacts.

Flink's client uploads them next to the serialized JobGraph. Here each named part is
checked (a jar must be a valid job artifact) and kept in ``<directory>/<job id>/`` under a
server-chosen name, ``jar-<n>_<name>`` or ``artifact-<n>_<name>``: the client's file name
only contributes its harmless characters (:func:`plain_file_name`), never a path.
Operators travel inside the JobGraph by value, so TaskManagers do not need these files.
"""

from __future__ import annotations

import os
from pathlib import Path

from headwater.artifacts.inspection import InvalidArtifact, inspect_artifact
from headwater.artifacts.store import plain_file_name, safe_file_name


def save_job_files(directory: Path, job_id: str, files: dict[str, bytes], jars: list[str],
                   artifacts: list[str]) -> list[Path]:
    """Validate and store the named parts; their stored paths. InvalidArtifact if one is
    not acceptable (then nothing is kept)."""
    planned = [(f"jar-{i}_{safe_file_name(name)}", name, True) for i, name in enumerate(jars)]
    planned += [(f"artifact-{i}_{plain_file_name(name)}", name, False)
                for i, name in enumerate(artifacts)]
    target_dir = Path(directory).absolute() / job_id
    target_dir.mkdir(parents=True, exist_ok=True)
    stored: list[Path] = []
    try:
        for stored_name, client_name, is_jar in planned:
            path = target_dir / stored_name
            if path.parent != target_dir:
                raise InvalidArtifact(f"Invalid file name {client_name!r}.")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_NOFOLLOW", 0), 0o600)
            stored.append(path)
            with os.fdopen(fd, "wb") as f:
                f.write(files[client_name])
            if is_jar:
                inspect_artifact(path, stored_name.split("_", 1)[1])
    except BaseException:
        for path in stored:
            path.unlink(missing_ok=True)
        if not any(target_dir.iterdir()):
            target_dir.rmdir()
        raise
    return stored
