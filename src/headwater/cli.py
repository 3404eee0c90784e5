"""The ``headwater`` command: start and stop a local cluster, run and manage jobs.

Verbs and options follow Flink's ``flink`` CLI where the concept is Flink's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import aiohttp
import click
import psutil

from headwater.client import OperationFailed, RestClient, RestError
from headwater.rest.security import ConfigurationError, read_token_file

DEFAULT_WORKDIR = ".headwater"


def _cluster_info(workdir: str) -> dict | None:
    path = Path(workdir) / "cluster.json"
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except ValueError:
        return None
    try:
        if psutil.Process(int(info.get("pid", -1))).status() == psutil.STATUS_ZOMBIE:
            return None  # killed, not yet reaped by its parent: gone all the same
    except (psutil.NoSuchProcess, ValueError):
        return None
    return info


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def _local_client(info: dict, timeout: float = 30.0) -> RestClient:
    """A client of the local cluster described by ``info`` (its ``cluster.json``): the
    token and CA it names unless ``--token`` / ``--ca-file`` say otherwise."""
    token = os.environ.get("HEADWATER_TOKEN")
    if not token and info.get("rest_token_file"):
        try:
            token = read_token_file(info["rest_token_file"])
        except ConfigurationError as exc:
            _fail(str(exc))
    ca_file = os.environ.get("HEADWATER_CA_FILE") or info.get("rest_ca_file") or None
    return RestClient(info["rest_url"], timeout=timeout, token=token, ca_file=ca_file)


def _client(jobmanager: str | None) -> RestClient:
    """A client of ``-m``, else of ``$HEADWATER_JOBMANAGER``, else of the local cluster
    (with the token and CA its ``cluster.json`` names), else of 127.0.0.1:8081."""
    if jobmanager:
        return RestClient(jobmanager if "://" in jobmanager else f"http://{jobmanager}")
    env = os.environ.get("HEADWATER_JOBMANAGER")
    if env:
        return RestClient(env)
    info = _cluster_info(DEFAULT_WORKDIR)
    return _local_client(info) if info else RestClient("http://127.0.0.1:8081")


jobmanager_option = click.option("-m", "--jobmanager", metavar="HOST:PORT",
                                 help="REST address of the cluster (default: the local one).")


@click.group()
@click.version_option(package_name="headwater")
@click.option("--token", envvar="HEADWATER_TOKEN", default=None, metavar="TOKEN",
              help="REST token of a cluster with security.rest.auth.token-file "
                   "(default: $HEADWATER_TOKEN).")
@click.option("--ca-file", envvar="HEADWATER_CA_FILE", default=None, metavar="PEM",
              help="Certificate authority to trust for an https cluster "
                   "(default: $HEADWATER_CA_FILE).")
def main(token: str | None, ca_file: str | None) -> None:
    """headwater: Python stream processing with Flink's REST API."""
    # Through the environment, so that job programs run by `headwater run` use them too.
    if token:
        os.environ["HEADWATER_TOKEN"] = token
    if ca_file:
        os.environ["HEADWATER_CA_FILE"] = ca_file


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
@click.option("--min-taskmanagers", type=click.IntRange(min=0), default=None,
              help="TaskManagers kept at least (default: --taskmanagers).")
@click.option("--max-taskmanagers", type=click.IntRange(min=1), default=None,
              help="TaskManagers started at most when jobs need more slots (default: the "
                   "minimum, a fixed-size cluster).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="auto", default=None,
              metavar="[ADDRESS]", help="Run the TaskManagers as actors on a running Ray "
              "cluster ('auto' or host:port; pip install 'headwater[ray]').")
@click.option("-D", "dynamic", multiple=True, metavar="KEY=VALUE", help="Config override.")
@click.option("--timeout", type=float, default=60.0, help="Seconds to wait for the cluster.")
def cluster_start(taskmanagers, slots, port, workdir, min_taskmanagers, max_taskmanagers,
                  ray_address, dynamic, timeout) -> None:
    """Start a JobManager and its TaskManagers in the background. With
    --max-taskmanagers above the minimum the cluster grows when a job needs more slots
    and releases TaskManagers idle for resourcemanager.taskmanager-timeout."""
    if _cluster_info(workdir):
        _fail(f"a cluster is already running from {workdir} (headwater cluster stop)")
    count = taskmanagers if taskmanagers is not None else (psutil.cpu_count() or 1)
    log_dir = Path(workdir) / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    stale = Path(workdir) / "cluster.json"
    if stale.exists():
        stale.unlink()
    cmd = [sys.executable, "-m", "headwater.cluster.entrypoint", "--workdir", workdir,
           "--taskmanagers", str(count), "-D", f"rest.port={port}",
           "-D", f"taskmanager.numberOfTaskSlots={slots}"]
    if ray_address is not None:
        cmd += ["-D", "deployment.target=ray", "-D", f"ray.address={ray_address}"]
    if min_taskmanagers is not None:
        cmd += ["-D", f"resourcemanager.taskmanagers.min={min_taskmanagers}"]
    if max_taskmanagers is not None:
        cmd += ["-D", f"resourcemanager.taskmanagers.max={max_taskmanagers}"]
    for d in dynamic:
        cmd += ["-D", d]
    if Path("conf").is_dir():
        cmd += ["--conf-dir", "conf"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_dir / "jobmanager.out", "ab") as out:  # the log itself: jobmanager.log
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "".join(p.read_text(errors="replace")[-2000:] for p in
                           (log_dir / "jobmanager.log", log_dir / "jobmanager.out")
                           if p.is_file())
            _fail(f"the JobManager exited with code {proc.returncode}:\n{tail}")
        info = _cluster_info(workdir)
        if info:
            try:
                tms = _local_client(info, timeout=5).overview()["taskmanagers"]
            except (RestError, OSError):
                tms = -1
            if tms >= count:
                click.echo(f"Cluster started: REST API at {info['rest_url']} "
                           f"({count} TaskManagers x {slots} slots, JobManager pid {info['pid']}).")
                return
        time.sleep(0.1)
    _end_process_tree(proc.pid)  # nothing half-started is left running
    stale.unlink(missing_ok=True)
    _fail(f"the cluster did not come up within {timeout:.0f}s (it was stopped); see {log_dir}")


def _end_process_tree(pid: int, grace: float = 5.0) -> None:
    """Terminate a process and its children; kill what is left after ``grace`` s."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


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
        _local_client(info, timeout=10).shutdown_cluster()
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


def _rest_failure(exc: Exception) -> None:
    """Exit 1 with the server's messages (or the connection problem)."""
    if isinstance(exc, RestError):
        detail = "\n".join(exc.errors[1:] + exc.errors[0].splitlines()[1:]).strip()
        _fail(f"{exc}" + (f"\n{detail}" if detail else ""))
    _fail(f"could not reach the cluster: {exc}")


_PROGRAM_ARGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}
entry_option = click.option("-c", "--class", "entry", metavar="MODULE[:FUNCTION]",
                            help="Entry point: a module of the artifact (run as __main__) or "
                                 "module:function (called with the program arguments).")
parallelism_option = click.option("-p", "--parallelism", type=click.IntRange(min=1),
                                  help="Default parallelism of the job.")
savepoint_option = click.option("-s", "--fromSavepoint", "from_savepoint", metavar="PATH",
                                help="Savepoint to restore the job from.")
non_restored_option = click.option("-n", "--allowNonRestoredState", "allow_non_restored",
                                   is_flag=True, help="Allow savepoint state that cannot be "
                                   "mapped to the new program.")


@main.command(context_settings=_PROGRAM_ARGS)
@jobmanager_option
@parallelism_option
@click.option("-d", "--detached", is_flag=True, help="Submit and return; print the job id.")
@savepoint_option
@non_restored_option
@entry_option
@click.argument("program", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(jobmanager, parallelism, detached, from_savepoint, allow_non_restored, entry, program,
        args) -> None:
    """Run PROGRAM (a .py file or a zip/.pyz/.jar artifact) on the cluster.

    The program runs here; its execute() submits the job through POST /jobs. Attached
    (default) it waits for the job and prints the result; -d prints the job id and
    returns. Exit status 1 when the job or the submission fails.
    """
    from headwater.artifacts import executors
    from headwater.artifacts.program import EntryPointError, run_program
    from headwater.cluster import minicluster

    client = _client(jobmanager)  # the program's own client reads these variables
    os.environ[minicluster.JOBMANAGER_ENV] = client.base_url
    if client.token:
        os.environ["HEADWATER_TOKEN"] = client.token
    if client.ca_file:
        os.environ["HEADWATER_CA_FILE"] = client.ca_file
    if detached:
        os.environ[minicluster.DETACHED_ENV] = "1"
    if parallelism:
        os.environ[minicluster.PARALLELISM_ENV] = str(parallelism)
    if from_savepoint:
        os.environ[executors.SAVEPOINT_PATH_ENV] = from_savepoint
    if allow_non_restored:
        os.environ[executors.ALLOW_NON_RESTORED_ENV] = "1"
    try:
        run_program(Path(program), entry, list(args), display_name=program)
    except minicluster.JobExecutionException as exc:
        _fail(str(exc), 1)
    except (RestError, aiohttp.ClientError) as exc:
        _rest_failure(exc)
    except EntryPointError as exc:
        _fail(str(exc), 1)


@main.command(context_settings=_PROGRAM_ARGS)
@parallelism_option
@entry_option
@click.argument("program", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def info(parallelism, entry, program, args) -> None:
    """Print the plan (JSON) of the job PROGRAM builds, without running the job.

    The program runs in a separate process whose execute() only hands the job graph back.
    """
    from headwater.artifacts.extraction import ProgramError, extract_job_graph

    try:
        graph = extract_job_graph(Path(program), entry, list(args), display_name=program,
                                  parallelism=parallelism)
    except (ProgramError, ValueError) as exc:
        _fail(str(exc), 1)
    click.echo(json.dumps(graph.plan(), indent=2))


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


timeout_option = click.option("--timeout", type=float, default=600.0, show_default=True,
                              help="Seconds to wait for the savepoint.")


@main.command()
@jobmanager_option
@click.option("-s", "--withSavepoint", "savepoint_dir", metavar="DIR",
              help="Take a savepoint into DIR, then cancel (POST /jobs/:id/savepoints).")
@timeout_option
@click.argument("job_id")
def cancel(jobmanager, savepoint_dir, timeout, job_id) -> None:
    """Cancel the job JOB_ID (optionally with a savepoint)."""
    client = _client(jobmanager)
    try:
        if savepoint_dir:
            location = client.savepoint(job_id, savepoint_dir, cancel_job=True, timeout=timeout)
            click.echo(f"Cancelled job {job_id}. Savepoint stored in {location}.")
            return
        client.cancel_job(job_id)
    except (RestError, OSError, OperationFailed) as exc:
        _rest_failure(exc)
    click.echo(f"Cancelled job {job_id}.")


@main.command()
@jobmanager_option
@click.option("-d", "--dispose", "dispose_path", metavar="PATH",
              help="Dispose of the savepoint at PATH instead of taking one.")
@timeout_option
@click.argument("job_id", required=False)
@click.argument("target_directory", required=False)
def savepoint(jobmanager, dispose_path, timeout, job_id, target_directory) -> None:
    """Trigger a savepoint of JOB_ID (into TARGET_DIRECTORY, else the cluster default)."""
    client = _client(jobmanager)
    try:
        if dispose_path:
            client.dispose_savepoint(dispose_path, timeout=timeout)
            click.echo(f"Savepoint '{dispose_path}' disposed.")
            return
        if not job_id:
            raise click.UsageError("JOB_ID is required (or --dispose PATH).")
        click.echo(f"Triggering savepoint for job {job_id}.", err=True)
        location = client.savepoint(job_id, target_directory, timeout=timeout)
    except (RestError, OSError, OperationFailed) as exc:
        _rest_failure(exc)
    click.echo(f"Savepoint completed. Path: {location}")


@main.command()
@jobmanager_option
@click.option("-p", "--savepointPath", "--savepoint-path", "savepoint_path", metavar="DIR",
              help="Directory for the savepoint (else the cluster default).")
@click.option("-d", "--drain", is_flag=True,
              help="Emit MAX_WATERMARK before stopping (end event time windows).")
@timeout_option
@click.argument("job_id")
def stop(jobmanager, savepoint_path, drain, timeout, job_id) -> None:
    """Stop JOB_ID gracefully with a savepoint (POST /jobs/:id/stop)."""
    try:
        location = _client(jobmanager).stop_job(job_id, savepoint_path, drain, timeout=timeout)
    except (RestError, OSError, OperationFailed) as exc:
        _rest_failure(exc)
    click.echo(f"Savepoint completed. Path: {location}")


@main.command()
@jobmanager_option
@click.option("-p", "--parallelism", type=click.IntRange(min=1), required=True,
              help="The new parallelism of every vertex.")
@timeout_option
@click.argument("job_id")
def rescale(jobmanager, parallelism, timeout, job_id) -> None:
    """Rescale the running job JOB_ID: savepoint, redeploy at PARALLELISM, restore
    (PATCH /jobs/:id/rescaling)."""
    try:
        _client(jobmanager).rescale(job_id, parallelism, timeout=timeout)
    except (RestError, OSError, OperationFailed) as exc:
        _rest_failure(exc)
    click.echo(f"Rescaled job {job_id} to parallelism {parallelism}.")


# -- jars -------------------------------------------------------------------------------


@main.group()
def jars() -> None:
    """Upload, list, run and delete job artifacts on the cluster (/jars)."""


@jars.command("upload")
@jobmanager_option
@click.argument("artifact", type=click.Path(exists=True, dir_okay=False))
def jars_upload(jobmanager, artifact) -> None:
    """Upload ARTIFACT (.py, .zip, .pyz or .jar); prints its jar id."""
    try:
        click.echo(_client(jobmanager).upload_jar(artifact))
    except (RestError, OSError) as exc:
        _rest_failure(exc)


@jars.command("list")
@jobmanager_option
def jars_list(jobmanager) -> None:
    """List uploaded artifacts: id, name and entry points."""
    try:
        files = _client(jobmanager).list_jars()["files"]
    except (RestError, OSError) as exc:
        _rest_failure(exc)
    if not files:
        click.echo("No uploaded jars.")
    for f in files:
        entries = ", ".join(e["name"] for e in f["entry"]) or "-"
        click.echo(f"{f['id']}\t{f['name']}\tentry points: {entries}")


@jars.command("plan", context_settings=_PROGRAM_ARGS)
@jobmanager_option
@parallelism_option
@entry_option
@click.argument("jar_id")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def jars_plan(jobmanager, parallelism, entry, jar_id, args) -> None:
    """Print the plan (JSON) of the job an uploaded artifact builds."""
    try:
        plan = _client(jobmanager).jar_plan(jar_id, entry, list(args), parallelism)
    except (RestError, OSError) as exc:
        _rest_failure(exc)
    click.echo(json.dumps(plan["plan"], indent=2))


@jars.command("run", context_settings=_PROGRAM_ARGS)
@jobmanager_option
@parallelism_option
@savepoint_option
@non_restored_option
@entry_option
@click.argument("jar_id")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def jars_run(jobmanager, parallelism, from_savepoint, allow_non_restored, entry, jar_id,
             args) -> None:
    """Run an uploaded artifact on the cluster (POST /jars/:id/run); prints the job id."""
    try:
        job_id = _client(jobmanager).run_jar(jar_id, entry, list(args), parallelism,
                                             from_savepoint, allow_non_restored or None)
    except (RestError, OSError) as exc:
        _rest_failure(exc)
    click.echo(f"Job has been submitted with JobID {job_id}")


@jars.command("delete")
@jobmanager_option
@click.argument("jar_id")
def jars_delete(jobmanager, jar_id) -> None:
    """Delete an uploaded artifact."""
    try:
        _client(jobmanager).delete_jar(jar_id)
    except (RestError, OSError) as exc:
        _rest_failure(exc)
    click.echo(f"Deleted jar {jar_id}.")


if __name__ == "__main__":
    main()
