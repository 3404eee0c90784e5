"""The ``headwater`` command: start and stop a local cluster, run and manage jobs.

Verbs and options follow Flink's ``flink`` CLI where the concept is Flink's.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import click
import psutil

from headwater.client import RestClient, RestError

DEFAULT_WORKDIR = ".headwater"


def _cluster_info(workdir: str) -> dict | None:
    path = Path(workdir) / "cluster.json"
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except ValueError:
        return None
    if not psutil.pid_exists(int(info.get("pid", -1))):
        return None
    return info


def _rest_url(jobmanager: str | None, workdir: str = DEFAULT_WORKDIR) -> str:
    if jobmanager:
        return jobmanager if "://" in jobmanager else f"http://{jobmanager}"
    env = os.environ.get("HEADWATER_JOBMANAGER")
    if env:
        return env
    info = _cluster_info(workdir)
    if info:
        return info["rest_url"]
    return "http://127.0.0.1:8081"


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def _client(jobmanager: str | None) -> RestClient:
    return RestClient(_rest_url(jobmanager))


jobmanager_option = click.option("-m", "--jobmanager", metavar="HOST:PORT",
                                 help="REST address of the cluster (default: the local one).")


@click.group()
@click.version_option(package_name="headwater")
def main() -> None:
    """headwater: Python stream processing with Flink's REST API."""


# -- cluster ----------------------------------------------------------------------------


@main.group()
def cluster() -> None:
    """Start and stop a local cluster."""


@cluster.command("start")
@click.option("--taskmanagers", "-n", type=int, default=None,
              help="TaskManager processes (default: CPU cores).")
@click.option("--slots", "-s", type=int, default=1, help="Slots per TaskManager.")
@click.option("--port", "-p", type=int, default=8081, help="REST port.")
@click.option("--workdir", default=DEFAULT_WORKDIR, help="Cluster directory (logs, state).")
@click.option("-D", "dynamic", multiple=True, metavar="KEY=VALUE", help="Config override.")
@click.option("--timeout", type=float, default=60.0, help="Seconds to wait for the cluster.")
def cluster_start(taskmanagers, slots, port, workdir, dynamic, timeout) -> None:
    """Start a JobManager and its TaskManagers in the background."""
    if _cluster_info(workdir):
        _fail(f"a cluster is already running from {workdir} (headwater cluster stop)")
    count = taskmanagers if taskmanagers is not None else (psutil.cpu_count() or 1)
    log_dir = Path(workdir) / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    stale = Path(workdir) / "cluster.json"
    if stale.exists():
        stale.unlink()
    cmd = [sys.executable, "-m", "headwater.runtime.jobmanager.entrypoint", "--workdir", workdir,
           "--taskmanagers", str(count), "-D", f"rest.port={port}",
           "-D", f"taskmanager.numberOfTaskSlots={slots}"]
    for d in dynamic:
        cmd += ["-D", d]
    if Path("conf").is_dir():
        cmd += ["--conf-dir", "conf"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_dir / "jobmanager.out", "ab") as out, open(log_dir / "jobmanager.log", "ab") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (log_dir / "jobmanager.log").read_text()[-2000:]
            _fail(f"the JobManager exited with code {proc.returncode}:\n{tail}")
        info = _cluster_info(workdir)
        if info:
            try:
                tms = RestClient(info["rest_url"], timeout=5).overview()["taskmanagers"]
            except (RestError, OSError):
                tms = -1
            if tms >= count:
                click.echo(f"Cluster started: REST API and dashboard at {info['rest_url']} "
                           f"({count} TaskManagers x {slots} slots, JobManager pid {info['pid']}).")
                return
        time.sleep(0.1)
    _fail(f"the cluster did not come up within {timeout:.0f}s; see {log_dir}")


@cluster.command("stop")
@click.option("--workdir", default=DEFAULT_WORKDIR, help="Cluster directory.")
@click.option("--timeout", type=float, default=30.0)
def cluster_stop(workdir, timeout) -> None:
    """Stop the local cluster started from WORKDIR (every process of it)."""
    info = _cluster_info(workdir)
    if not info:
        _fail(f"no cluster is running from {workdir}")
    pid = int(info["pid"])
    try:
        RestClient(info["rest_url"], timeout=10).shutdown_cluster()
    except (RestError, OSError) as exc:
        click.echo(f"REST shutdown failed ({exc}); terminating processes", err=True)
    try:
        proc = psutil.Process(pid)
        children = proc.children(recursive=True)
        gone, alive = psutil.wait_procs([proc, *children], timeout=timeout)
    except psutil.NoSuchProcess:
        alive = []
    for p in alive:
        p.kill()
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    click.echo("Cluster stopped.")


# -- jobs -------------------------------------------------------------------------------


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@jobmanager_option
@click.option("-p", "--parallelism", type=int, help="Default parallelism of the job.")
@click.option("-d", "--detached", is_flag=True, help="Submit and return; print the job id.")
@click.argument("program", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(jobmanager, parallelism, detached, program, args) -> None:
    """Run PROGRAM (a Python job file) on the cluster; its execute() submits there."""
    from headwater.runtime import minicluster

    os.environ[minicluster.JOBMANAGER_ENV] = _rest_url(jobmanager)
    if detached:
        os.environ[minicluster.DETACHED_ENV] = "1"
    if parallelism:
        os.environ[minicluster.PARALLELISM_ENV] = str(parallelism)
    sys.argv = [program, *args]
    sys.path.insert(0, str(Path(program).parent.absolute()))
    try:
        runpy.run_path(program, run_name="__main__")
    except minicluster.JobExecutionException as exc:
        _fail(str(exc), 1)
    except RestError as exc:
        _fail(str(exc), 1)


def _format_job(job: dict) -> str:
    ts = datetime.fromtimestamp(job["start-time"] / 1000).strftime("%d.%m.%Y %H:%M:%S")
    return f"{ts} : {job['jid']} : {job['name']} ({job['state']})"


@main.command("list")
@jobmanager_option
@click.option("-r", "--running", is_flag=True, help="Only running jobs.")
@click.option("-s", "--scheduled", is_flag=True, help="Only scheduled (created) jobs.")
@click.option("-a", "--all", "show_all", is_flag=True, help="All jobs, also finished ones.")
def list_jobs(jobmanager, running, scheduled, show_all) -> None:
    """List jobs on the cluster."""
    try:
        jobs = _client(jobmanager).jobs_overview()["jobs"]
    except (RestError, OSError) as exc:
        _fail(f"could not reach the cluster: {exc}")
    jobs.sort(key=lambda j: j["start-time"])
    if not (running or scheduled or show_all):
        running = scheduled = True
    groups = []
    if running:
        groups.append(("Running/Restarting Jobs",
                       [j for j in jobs if j["state"] in ("RUNNING", "RESTARTING", "FAILING",
                                                          "CANCELLING")]))
    if scheduled:
        groups.append(("Scheduled Jobs", [j for j in jobs if j["state"] in ("CREATED",
                                                                           "INITIALIZING")]))
    if show_all:
        groups = [("All Jobs", jobs)]
    for title, members in groups:
        if not members:
            click.echo(f"No {title.lower()}.")
            continue
        click.echo(f"------------------ {title} -------------------")
        for j in members:
            click.echo(_format_job(j))
        click.echo("-" * (40 + len(title)))


@main.command()
@jobmanager_option
@click.argument("job_id")
def cancel(jobmanager, job_id) -> None:
    """Cancel the job JOB_ID."""
    try:
        _client(jobmanager).cancel_job(job_id)
    except RestError as exc:
        _fail(str(exc), 1)
    click.echo(f"Cancelled job {job_id}.")


if __name__ == "__main__":
    main()
