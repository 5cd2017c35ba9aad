"""``rayflow logs Flow/run/step[/task]``: the saved stdout/stderr of a task or of a whole step.

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
    numbers = [last] if record.origin else taskrecords.attempts(storage, flow, run_id, step, task_id)
    base = f"{task.step_name}/{task.id}"
    out = []
    for n in numbers or [last]:
        label = base if len(numbers) <= 1 else f"{base} attempt {n}"
        for stream in streams:
            out.append((label, stream, records.read_log(storage, flow, run_id, step, task_id, stream, n)))
    return out


@click.command("logs")
@click.argument("pathspec", metavar="FLOW/RUN_ID/STEP[/TASK_ID]")
@click.option("--stdout", "only_stdout", is_flag=True, help="Only stdout.")
@click.option("--stderr", "only_stderr", is_flag=True, help="Only stderr.")
@datastore_option()
def logs_command(pathspec: str, only_stdout: bool, only_stderr: bool, datastore: str | None) -> None:
    """Print the stdout and stderr of a task, or of every task of a step."""
    from .._client import NotFound, Step, Task

    streams = ["stdout", "stderr"]
    if only_stdout != only_stderr:
        streams = ["stdout"] if only_stdout else ["stderr"]
    parts = pathspec.strip("/").split("/")
    with reading(datastore):
        if len(parts) == 4:
            tasks = [Task(pathspec)]
        elif len(parts) == 3:
            tasks = Step(pathspec).tasks()
        else:
            raise NotFound(f"logs need a step or task pathspec (Flow/run_id/step[/task_id]), got {pathspec!r}")
        printed = False
        for task in tasks:
            for label, stream, text in _attempt_logs(task, streams):
                if text:
                    printed = True
                    _emit(label, text, err=stream == "stderr")
        if not printed:
            click.echo(f"no {' or '.join(streams)} saved for {pathspec}", err=True)
