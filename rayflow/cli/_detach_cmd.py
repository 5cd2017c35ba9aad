"""``rayflow status RUN`` and ``rayflow cancel RUN``: follow and stop a run from any machine.

Both read the datastore (run.json says where a run runs: for a detached run, the cluster's job
server and the Ray job's id), so they work from another machine than the one that started the
run. ``status`` prints the run's status, its progress per step and where it runs; ``cancel``
stops a detached run's Ray job (the driver ends the run as an interrupted run does, and it is
recorded ``cancelled``). A detached run whose job has not started yet has no run.json: with
``--cluster`` (or RAYFLOW_CLUSTER) both ask the cluster's job server instead.
"""

from __future__ import annotations

import time
from typing import Any

import click

from ._reading import datastore_option, print_table, reading, when

CANCEL_WAIT_SECONDS = 30.0


def _cluster_option() -> Any:
    return click.option(
        "--cluster",
        default=None,
        metavar="URL",
        help="The cluster's Ray dashboard, http://HEAD:8265 (default: where the "
        "run records it runs, else $RAYFLOW_CLUSTER).",
    )


def _split_run(pathspec: str) -> tuple[str, str]:
    from .._client import NotFound

    parts = pathspec.strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        raise NotFound(f"expected a run pathspec Flow/run_id, got {pathspec!r}")
    return parts[0], parts[1]


def _job_of(
    record: dict[str, Any] | None, flow: str, run_id: str, cluster: str | None
) -> tuple[Any, str] | None:
    """(job server, job id) of a detached run, or of the run id on the given cluster."""
    from rayflow.datastore import settings

    from .._jobserver import job_id, job_server

    detached = (record or {}).get("detached") or {}
    address = cluster or detached.get("cluster") or settings.cluster()
    if not address or not (detached or address.startswith(("http://", "https://"))):
        return None
    return job_server(address), detached.get("job_id") or job_id(flow, run_id)


def _record_or_none(flow: str, run_id: str) -> dict[str, Any] | None:
    from .._client import NotFound, Run

    try:
        return Run(f"{flow}/{run_id}", _namespace_check=False).record
    except NotFound as exc:
        if "damaged" in str(exc).lower():
            raise
        return None


def _step_rows(flow: str, run_id: str, record: dict[str, Any]) -> list[list[Any]]:
    from .._client import Run
    from ._show_run import _readable, _task_state

    run = Run(f"{flow}/{run_id}", _record=record, _namespace_check=False)
    present = {step.id: step for step in run.steps()}
    rows = []
    for name in list(record.get("plan") or {}) or list(present):
        step = present.get(name)
        tasks, damaged = _readable(step.tasks()) if step is not None else ([], [])
        states = [_task_state(t) for t in tasks]
        done = states.count("done") + states.count("cloned")
        rows.append([name, done, states.count("failed") + len(damaged), states.count("cloned")])
    return rows


def _where(record: dict[str, Any]) -> str:
    detached = record.get("detached")
    if detached:
        return (
            f"Ray job {detached.get('job_id')} on {detached.get('cluster')} (driver on "
            f"{record.get('host', '?')}; submitted from {detached.get('submitted_from', '?')})"
        )
    cluster = record.get("cluster") or "local"
    return f"{'a local Ray' if cluster == 'local' else 'cluster ' + cluster} on {record.get('host', '?')}"


def _job_line(job: tuple[Any, str] | None) -> str | None:
    """The Ray job's own status, when the cluster answers (it is extra: the datastore is truth)."""
    from .._errors import DetachError

    if job is None:
        return None
    server, submission = job
    try:
        state = server.job_state(submission)
    except DetachError as exc:
        return f"(not asked: {exc})"
    if state is None:
        return f"{submission}: unknown to {server.url}"
    status, message = state
    last = message.splitlines()[-1].strip() if message else ""
    return f"{status}" + (f" ({last})" if last and status != "RUNNING" else "")


@click.command("status")
@click.argument("pathspec", metavar="FLOW/RUN_ID")
@datastore_option()
@_cluster_option()
def status_command(pathspec: str, datastore: str | None, cluster: str | None) -> None:
    """A run's status, its progress per step and where it runs (detached runs too)."""
    from .._client import NotFound

    flow, run_id = _split_run(pathspec)
    with reading(datastore):
        record = _record_or_none(flow, run_id)
        job = _job_of(record, flow, run_id, cluster)
        if record is None:
            state = _job_line(job)
            if state is None:
                raise NotFound(
                    f"run {flow}/{run_id} not found (a detached run appears once its "
                    "Ray job starts; add --cluster http://HEAD:8265 to ask the cluster)"
                )
            click.echo(f"run       {flow}/{run_id}\nstatus    not started (Ray job {state})")
            return
        status = record.get("status", "unknown")
        if record.get("error"):
            status += f": {record['error']}"
        lines = [
            f"run       {flow}/{run_id}",
            f"status    {status}",
            f"started   {when(record.get('created_at'))}   finished {when(record.get('finished_at'))}",
            f"where     {_where(record)}",
        ]
        if record.get("detached"):
            lines.append(f"dashboard {record['detached'].get('job_url')}")
            if status == "running" or cluster:
                lines.append(f"ray job   {_job_line(job)}")
        click.echo("\n".join(lines) + "\n")
        print_table(["step", "done", "failed", "cloned"], _step_rows(flow, run_id, record))


def _wait_stopped(server: Any, submission: str) -> str:
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    status = "?"
    while time.monotonic() < deadline:
        state = server.job_state(submission)
        status = state[0] if state else "gone"
        if status in ("STOPPED", "SUCCEEDED", "FAILED", "gone"):
            return status
        time.sleep(0.5)
    return status


def _record_cancelled(flow: str, run_id: str) -> dict[str, Any] | None:
    """After the job stopped: a run still recorded running (its driver was killed before it
    recorded its end) or recorded as interrupted is ``cancelled``."""
    from .. import _namespace as ns
    from ..datastore import MissingRecordError, records

    storage = ns.storage()
    try:
        record = records.read_run(storage, flow, run_id)
    except MissingRecordError:
        return None
    if record.get("status") == "running" or (
        record.get("status") == "failed" and record.get("interrupted")
    ):
        record.update(status="cancelled", finished_at=record.get("finished_at") or time.time())
        records.write_run(storage, flow, run_id, record)
    return record


def _resume_hint(record: dict[str, Any], run_id: str) -> str:
    detached = record.get("detached") or {}
    return (
        f"rayflow resume {detached.get('flow_file') or 'FLOW_FILE'} --origin-run-id {run_id} "
        f"--cluster {detached.get('cluster')} --detach"
    )


@click.command("cancel")
@click.argument("pathspec", metavar="FLOW/RUN_ID")
@datastore_option()
@_cluster_option()
def cancel_command(pathspec: str, datastore: str | None, cluster: str | None) -> None:
    """Stop a detached run: its Ray job is stopped and the run is recorded cancelled."""
    from .._errors import DetachError

    flow, run_id = _split_run(pathspec)
    with reading(datastore):
        record = _record_or_none(flow, run_id)
        if record is not None and record.get("status") != "running":
            click.echo(f"run {flow}/{run_id} already ended: {record.get('status')}")
            return
        job = _job_of(record, flow, run_id, cluster)
        if job is None:
            where = "it was not started with --detach" if record else "it is not in the datastore"
            raise DetachError(
                f"cannot cancel {flow}/{run_id}: {where} (stop a run that is not "
                "detached with Ctrl-C where it runs; give --cluster for a detached "
                "run that has not started)"
            )
        server, submission = job
        stopped = server.stop(submission)
        status = _wait_stopped(server, submission)
        after = _record_cancelled(flow, run_id)
        kept = (
            ""
            if after is None
            else f"; finished tasks are kept (resume with: {_resume_hint(after, run_id)})"
        )
        what = "stopped" if stopped else f"had already ended ({status})"
        click.echo(f"cancelled {flow}/{run_id}: Ray job {submission} {what}{kept}")


__all__ = ["cancel_command", "status_command"]
