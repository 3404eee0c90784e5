"""Thread dumps of a Python process, in the shape of Java's ``ThreadInfo.toString``.

Flink's ``/taskmanagers/:id/thread-dump`` answers ``{"threadInfos": [{"threadName",
"stringifiedThreadInfo"}]}``; here each entry is built from a real thread of this
process (:func:`threading.enumerate` plus :func:`sys._current_frames`), innermost frame
first::

    "Map (1/2)" daemon Id=4242 WAITING
    \tat threading.Condition.wait(threading.py:327)
    \tat threading.Event.wait(threading.py:629)
    \tat __main__.stuck(job.py:7)
    ...

``Id`` is the OS thread id. Python does not expose a thread's scheduling state, so the
state is ``WAITING`` when the innermost frame is one of the standard library's blocking
calls (lock, condition, queue, selector, sleep) and ``RUNNABLE`` otherwise.
"""

from __future__ import annotations

import os
import sys
import threading
from types import FrameType
from typing import Any

#: Frames printed per thread before ``...`` (Flink prints 8; Python stacks are deeper).
MAX_DEPTH = 32

_BLOCKING = {
    "threading": {"wait", "acquire", "join", "_wait_for_tstate_lock", "wait_for"},
    "queue": {"get", "put"},
    "selectors": {"select"},
    "subprocess": {"wait", "_wait", "communicate"},
    "socket": {"accept", "recv", "recv_into"},
    "concurrent.futures._base": {"result", "wait"},
    "concurrent.futures.thread": {"_worker"},
}


def _frame_line(frame: FrameType) -> str:
    code = frame.f_code
    module = frame.f_globals.get("__name__", "?")
    qualname = getattr(code, "co_qualname", code.co_name)
    return f"\tat {module}.{qualname}({os.path.basename(code.co_filename)}:{frame.f_lineno})"


def thread_state(frame: FrameType | None) -> str:
    """``NEW`` without a frame, ``WAITING`` when ``frame`` (a thread's innermost) is one of
    the standard library's blocking calls, ``RUNNABLE`` otherwise."""
    if frame is None:
        return "NEW"
    module = frame.f_globals.get("__name__", "")
    return "WAITING" if frame.f_code.co_name in _BLOCKING.get(module, ()) else "RUNNABLE"


def stringify(thread: threading.Thread, frame: FrameType | None,
              max_depth: int = MAX_DEPTH) -> str:
    """One thread as Java's ``ThreadInfo.toString`` prints it."""
    thread_id = thread.native_id if thread.native_id is not None else thread.ident
    daemon = " daemon" if thread.daemon else ""
    lines = [f'"{thread.name}"{daemon} Id={thread_id} {thread_state(frame)}']
    depth = 0
    while frame is not None:
        if depth == max_depth:
            lines.append("\t...")
            break
        lines.append(_frame_line(frame))
        frame = frame.f_back
        depth += 1
    return "\n".join(lines) + "\n\n"


def thread_dump(max_depth: int = MAX_DEPTH) -> list[dict[str, Any]]:
    """Flink's ``ThreadDumpInfo.threadInfos`` for every live thread of this process."""
    frames = sys._current_frames()
    infos = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident) if thread.ident is not None else None
        infos.append({"threadName": thread.name,
                      "stringifiedThreadInfo": stringify(thread, frame, max_depth)})
    return infos
