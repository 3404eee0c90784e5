"""The TaskManager's request table."""

from __future__ import annotations

import inspect

from headwater.runtime.rpc import messages
from headwater.runtime.rpc.messages import Request, RequestLogList
from headwater.runtime.taskmanager.task_executor import TaskExecutor


def request_types() -> set[type]:
    return {cls for _, cls in inspect.getmembers(messages, inspect.isclass)
            if issubclass(cls, Request) and cls is not Request}


def test_every_request_a_jobmanager_sends_has_a_handler(tmp_path):
    executor = TaskExecutor(("127.0.0.1", 1), "127.0.0.1", slots=1, log_dir=str(tmp_path))
    try:
        assert request_types()  # RequestMetrics, RequestLogList, ...
        assert set(executor.request_handlers) == request_types()
        (tmp_path / "taskmanager.log").write_text("x")
        names = [f["name"] for f in executor.request_handlers[RequestLogList](RequestLogList())]
        assert names == ["taskmanager.log"]
    finally:
        executor.data_server.close()
