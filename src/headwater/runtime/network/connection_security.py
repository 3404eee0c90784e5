"""What every data connection of a TaskManager checks before it trusts a byte.

A consumer proves it knows the cluster secret (:mod:`headwater.runtime.rpc.handshake`)
before the data server reads its partition request, and the producer proves it back; no
frame longer than ``taskmanager.network.max-frame-size`` is ever allocated, whoever
announces it.
"""

from __future__ import annotations

import dataclasses

#: Default of ``taskmanager.network.max-frame-size``: one buffer of records may be large,
#: but not larger than this.
DEFAULT_MAX_FRAME_SIZE = 256 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ConnectionSecurity:
    """The cluster secret (None: connections are not authenticated) and the frame cap."""

    secret: bytes | None = None
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
