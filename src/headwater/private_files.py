"""Files only their owner may read: the cluster secret and the REST token.

Written atomically with mode 600 (a reader never sees half a file, and there is no moment
in which others could read it); read back only when nobody else can read or write them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` (mode 600), replacing the file atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_private_text(path: str | os.PathLike[str], what: str) -> str:
    """The text of ``path``, stripped; PermissionError when others may access it (``what``
    names the file in the message)."""
    path = Path(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(f"{path}: {what} must be accessible by its owner only "
                              f"(mode {mode:o}; chmod 600 it)")
    return path.read_text().strip()
