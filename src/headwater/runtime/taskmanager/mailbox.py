"""The task's mailbox (Flink's ``TaskMailbox``): how other threads reach a task.

A task's state (its operator chain, timers, checkpointing) belongs to the task thread.
Other threads never call into it: the TaskExecutor's asyncio thread (trigger checkpoint,
checkpoint complete/aborted, cancel) and a source task's source thread (the source
ended) post a :class:`Mail`, and the task thread runs it between two buffers. The mails
share the input gate's queue, so a task waits for input and for mails in one place, and
a mail is never overtaken by buffers that arrived after it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from headwater.runtime.network.buffers import QueueItem
from headwater.runtime.network.partition import TaskCancelled


class Mail(QueueItem):
    """An action for the task thread. ``reject`` runs instead (in the thread that closes
    the mailbox) when the task stops before the mail ran."""

    __slots__ = ("action", "description", "reject")

    def __init__(self, action: Callable[[], None], description: str,
                 reject: Callable[[], None] | None = None) -> None:
        self.channel = -1
        self.action = action
        self.description = description
        self.reject = reject

    def __repr__(self) -> str:
        return f"Mail({self.description})"


def _raise_cancelled() -> None:
    raise TaskCancelled()


class Mailbox:
    """Posts mails into a task's queue until the task thread closes it."""

    def __init__(self, items: queue.SimpleQueue[QueueItem]) -> None:
        self._items = items
        self._lock = threading.Lock()
        self._open = True

    def post(self, mail: Mail) -> bool:
        """Queue a mail for the task thread (any thread); False after :meth:`close`
        (then the mail's ``reject`` has run)."""
        with self._lock:
            if self._open:
                self._items.put(mail)
                return True
        if mail.reject is not None:
            mail.reject()
        return False

    def post_cancel(self) -> None:
        """Wake the task thread and make it raise TaskCancelled."""
        self.post(Mail(_raise_cancelled, "cancel"))

    def close(self) -> list[Mail]:
        """Stop taking mails (task thread, when it stops running them): rejects and
        returns the mails still queued; buffers still queued are dropped."""
        with self._lock:
            self._open = False
        left: list[Mail] = []
        while True:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                break
            if type(item) is Mail:
                left.append(item)
                if item.reject is not None:
                    item.reject()
        return left
