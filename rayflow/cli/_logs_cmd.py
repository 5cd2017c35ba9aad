"""``rayflow logs Flow/run[/step[/task]] [--follow]``: the saved stdout/stderr of a task, of a
whole step or of a whole run; ``--follow`` prints the logs of tasks as they finish until the run
ends (any run, a detached one too: it reads only the datastore).

Each line is prefixed with ``[step/task_id]`` as it was when the run printed it live; stderr
lines go to stderr. For a cloned task (resume) the log of the run that computed it is shown.
A retried task shows every attempt, oldest first, each labelled ``[step/task_id attempt N]``: the
output of the attempts that failed is what explains the retry.
"""

from __future__ import annotations

from typing import Any

import click

from ._reading import datastore_option, reading


def _emit(label: str, text: str, err: bool) -> None:
    for line in text.splitlines():
        click.echo(f"[{label}] {line}", err=err)


def _attempt_logs(task: Any, streams: list[str]) -> list[tuple[str, str, str]]:
    """(label, stream, text) of every attempt of the task that left a log, oldest first."""
    from .. import _namespace as ns
    from ..datastore import records, taskrecords

    storage = ns.storage()
    record = task._load()
    flow, run_id, step, task_id, last = record.logs_at
    numbers = (
        [last] if record.origin else taskrecords.attempts(storage, flow, run_id, step, task_id)
    )
    base = f"{task.step_name}/{task.id}"
    out = []
    for n in numbers or [last]:
        label = base if len(numbers) <= 1 else f"{base} attempt {n}"
        for stream in streams:
            out.append(
                (label, stream, records.read_log(storage, flow, run_id, step, task_id, stream, n))
            )
    return out


def _tasks(pathspec: str) -> list[Any]:
    from .._client import NotFound, Run, Step, Task

    parts = pathspec.strip("/").split("/")
    if len(parts) == 4:
        return [Task(pathspec)]
    if len(parts) == 3:
        return Step(pathspec).tasks()
    if len(parts) == 2:
        return [task for step in Run(pathspec).steps() for task in step.tasks()]
    raise NotFound(
        f"logs need a run, step or task pathspec (Flow/run_id[/step[/task_id]]), got {pathspec!r}"
    )


def _print_new(pathspec: str, streams: list[str], seen: dict[tuple[str, str], int]) -> bool:
    """Print what was not printed yet of each task's logs; True when anything was printed."""
    from .._client import NotFound

    printed = False
    for task in _tasks(pathspec):
        try:
            logs = _attempt_logs(task, streams)
        except NotFound:  # a task whose record is not written yet (or damaged): later
            continue
        for label, stream, text in logs:
            start = seen.get((label, stream), 0)
            if len(text) > start:
                printed = True
                _emit(label, text[start:], err=stream == "stderr")
                seen[(label, stream)] = len(text)
    return printed


FOLLOW_SECONDS = 1.0
START_WAIT_SECONDS = 300.0  # a run that never appears (its job failed before it started)


def _follow(pathspec: str, streams: list[str]) -> None:
    """Print logs as tasks finish until the run has ended (or reads crashed)."""
    import time

    from .._client import NotFound, Run

    run_pathspec = "/".join(pathspec.strip("/").split("/")[:2])
    seen: dict[tuple[str, str], int] = {}
    waiting = 0.0
    while True:
        try:
            status = Run(run_pathspec).status
        except NotFound:
            if not waiting:
                click.echo(f"waiting for run {run_pathspec} to start (Ctrl-C to stop)", err=True)
                waiting = time.monotonic()
            elif time.monotonic() - waiting > START_WAIT_SECONDS:
                raise NotFound(
                    f"run {run_pathspec} did not start within {START_WAIT_SECONDS:.0f} s "
                    f"(a detached run: 'rayflow status {run_pathspec} --cluster URL' asks "
                    "its Ray job)"
                ) from None
            time.sleep(FOLLOW_SECONDS)
            continue
        try:
            _print_new(pathspec, streams, seen)
        except NotFound:  # the step does not exist yet
            pass
        if status != "running":
            _print_new(pathspec, streams, seen)
            click.echo(f"run {run_pathspec} {status}", err=True)
            return
        time.sleep(FOLLOW_SECONDS)


@click.command("logs")
@click.argument("pathspec", metavar="FLOW/RUN_ID[/STEP[/TASK_ID]]")
@click.option("--stdout", "only_stdout", is_flag=True, help="Only stdout.")
@click.option("--stderr", "only_stderr", is_flag=True, help="Only stderr.")
@click.option(
    "--follow", "-f", is_flag=True, help="Print logs as tasks finish, until the run ends."
)
@datastore_option()
def logs_command(
    pathspec: str, only_stdout: bool, only_stderr: bool, follow: bool, datastore: str | None
) -> None:
    """Print the stdout and stderr of a task, of every task of a step, or of a whole run."""
    streams = ["stdout", "stderr"]
    if only_stdout != only_stderr:
        streams = ["stdout"] if only_stdout else ["stderr"]
    with reading(datastore):
        if follow:
            _follow(pathspec, streams)
            return
        if not _print_new(pathspec, streams, {}):
            click.echo(f"no {' or '.join(streams)} saved for {pathspec}", err=True)
