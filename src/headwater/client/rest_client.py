"""A Python client for the Flink-compatible REST API (works against headwater and Flink).

Usage::

    from headwater.client import RestClient
    client = RestClient("http://127.0.0.1:8081")
    for job in client.jobs_overview()["jobs"]:
        print(job["jid"], job["state"])

Every call is synchronous; errors raise :class:`RestError` with the server's messages.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp


class RestError(Exception):
    """The server answered with an error status."""

    def __init__(self, status: int, errors: list[str], url: str) -> None:
        self.status = status
        self.errors = errors
        self.url = url
        first = errors[0].splitlines()[0] if errors else "no message"
        super().__init__(f"{status} from {url}: {first}")


class RestClient:
    """Synchronous REST client; one short-lived aiohttp session per call."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        if "://" not in base_url:
            base_url = f"http://{base_url}"
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    # -- transport ----------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, params: dict | None = None,
                       json_body: Any = None, data: Any = None) -> Any:
        url = f"{self.base_url}{path}"
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(method, url, params=params, json=json_body,
                                       data=data) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    try:
                        errors = json.loads(text).get("errors", [text])
                    except (ValueError, AttributeError):
                        errors = [text]
                    raise RestError(resp.status, errors, url)
                if resp.content_type == "application/json":
                    return json.loads(text) if text else None
                return text

    def request(self, method: str, path: str, **kwargs) -> Any:
        """Send a request and return the decoded answer."""
        return asyncio.run(self._request(method, path, **kwargs))

    # -- cluster ------------------------------------------------------------------------

    def config(self) -> dict:
        """GET /config."""
        return self.request("GET", "/config")

    def overview(self) -> dict:
        """GET /overview."""
        return self.request("GET", "/overview")

    def shutdown_cluster(self) -> dict:
        """DELETE /cluster."""
        return self.request("DELETE", "/cluster")

    def taskmanagers(self) -> dict:
        """GET /taskmanagers."""
        return self.request("GET", "/taskmanagers")

    # -- jobs ---------------------------------------------------------------------------

    def jobs_overview(self) -> dict:
        """GET /jobs/overview."""
        return self.request("GET", "/jobs/overview")

    def job(self, job_id: str) -> dict:
        """GET /jobs/:jobid."""
        return self.request("GET", f"/jobs/{job_id}")

    def cancel_job(self, job_id: str) -> None:
        """PATCH /jobs/:jobid?mode=cancel."""
        self.request("PATCH", f"/jobs/{job_id}", params={"mode": "cancel"})

    def execution_result(self, job_id: str) -> dict:
        """GET /jobs/:jobid/execution-result."""
        return self.request("GET", f"/jobs/{job_id}/execution-result")

    def submit_job_graph(self, job_graph_bytes: bytes, file_name: str = "job.graph") -> str:
        """POST /jobs with a serialized job graph; returns the job id."""
        form = aiohttp.FormData()
        form.add_field("request", json.dumps({"jobGraphFileName": file_name,
                                              "jobJarFileNames": [],
                                              "jobArtifactFileNames": []}),
                       content_type="application/json")
        form.add_field(file_name, job_graph_bytes, filename=file_name,
                       content_type="application/octet-stream")
        answer = self.request("POST", "/jobs", data=form)
        return answer["jobUrl"].rstrip("/").rsplit("/", 1)[-1]

    def wait_for_result(self, job_id: str, poll: float = 0.2,
                        timeout: float | None = None) -> dict:
        """Poll execution-result until the job ends; returns its job-execution-result."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            answer = self.execution_result(job_id)
            if answer["status"]["id"] == "COMPLETED":
                return answer["job-execution-result"]
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not end within {timeout}s")
            time.sleep(poll)
