"""What ``rayflow show`` prints for a run, a step, a task or an artifact read from the datastore."""

from __future__ import annotations

from typing import Any

import click

from ._reading import duration, human_size, params_text, print_table, short, when


def _task_state(task: Any) -> str:
    if task.finished:
        return "cloned" if task.origin_pathspec else "done"
    return "failed" if task._load().failed else "running"


def _readable(tasks: list) -> tuple[list, list]:
    """The tasks whose record can be read, and the ids of the damaged ones (each named in one
    line on stderr): one damaged record must not hide every other task."""
    from .._client import DamagedRecord

    good, damaged = [], []
    for task in tasks:
        try:
            _task_state(task)
            good.append(task)
        except DamagedRecord as exc:
            click.echo(f"warning: {exc}", err=True)
            damaged.append(task.id)
    return good, damaged


def _crash_note(record: dict) -> str:
    if record.get("status") != "crashed":
        return ""
    return (
        f"  (its driver stopped without recording an end; last seen {when(record.get('last_heartbeat'))}; "
        "resume runs what did not finish)"
    )


def show_run(run: Any, code: bool) -> None:
    record = run.record
    if code:
        source = run.code
        if source is None:
            from .._client import NotFound

            raise NotFound(
                f"run {run.pathspec} has no recorded code (it was not stored with the run)"
            )
        click.echo(source, nl=not source.endswith("\n"))
        return
    created, finished = record.get("created_at"), record.get("finished_at")
    lines = [
        f"run       {run.pathspec}",
        f"status    {record.get('status', 'unknown')}{_crash_note(record)}",
        f"started   {when(created)}",
        f"finished  {when(finished)}  ({duration(created, finished)})",
        f"user      {record.get('user', '-')}@{record.get('host', '-')}",
        f"tags      {', '.join(sorted(record.get('tags', []))) or '-'}",
    ]
    if record.get("origin_run_id"):
        lines.append(f"origin    {run.flow_name}/{record['origin_run_id']} (resumed)")
    versions = [
        f"{n} {record[k]}"
        for n, k in (("python", "python"), ("ray", "ray_version"), ("rayflow", "rayflow_version"))
        if record.get(k)
    ]
    if versions:
        lines.append(f"versions  {', '.join(versions)}")
    if record.get("flow_file") or record.get("code_file"):
        where = record.get("flow_file") or record.get("code_file")
        if record.get("git_commit"):
            where += (
                f"  (git {record['git_commit'][:12]}{', dirty' if record.get('git_dirty') else ''})"
            )
        lines.append(f"code      {where}")
    lines.append(f"params    {params_text(record.get('parameters', {})) or '-'}")
    click.echo("\n".join(lines))
    rows = []
    any_damaged = False
    for step in run.steps():
        all_tasks = step.tasks()
        tasks, damaged = _readable(all_tasks)
        any_damaged = any_damaged or bool(damaged)
        states = [_task_state(t) for t in tasks]
        starts = [t.created_at for t in tasks if t.created_at]
        ends = [t.finished_at for t in tasks if t.finished_at]
        start, end = (min(starts) if starts else None), (max(ends) if ends else None)
        rows.append(
            [
                step.id,
                len(all_tasks),
                states.count("done") + states.count("cloned"),
                states.count("cloned"),
                states.count("failed"),
                len(damaged),
                when(start),
                duration(start, end),
            ]
        )
    click.echo("")
    columns = ["step", "tasks", "done", "cloned", "failed", "damaged", "started", "duration"]
    if not any_damaged:
        columns.pop(5)
        rows = [row[:5] + row[6:] for row in rows]
    print_table(columns, rows)


def show_step(step: Any, skip: str | None = None) -> None:
    rows = []
    tasks, damaged = _readable([t for t in step.tasks() if t.id != skip])
    for task in tasks:
        meta = task.record
        rows.append(
            [
                task.id,
                _task_state(task),
                meta.get("attempt", 0),
                when(task.created_at),
                duration(task.created_at, task.finished_at),
                meta.get("host") or "-",
            ]
        )
    rows += [[task_id, "damaged", "-", "-", "-", "-"] for task_id in damaged]
    click.echo(f"step {step.pathspec}: {len(rows)} task(s)")
    print_table(["task", "state", "attempt", "started", "duration", "host"], rows)


def _type_name(value: Any) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def show_task(task: Any) -> None:
    meta = task.record
    lines = [
        f"task      {task.pathspec}",
        f"state     {_task_state(task)}  (attempt {meta.get('attempt', 0)})",
        f"started   {when(task.created_at)}  ({duration(task.created_at, task.finished_at)})",
        f"node      {meta.get('host') or '-'} pid {meta.get('pid') or '-'} {(meta.get('node_id') or '')[:12]}",
    ]
    if task.origin_pathspec:
        lines.append(f"cloned    from {task.origin_pathspec}")
    if meta.get("exception"):  # also one @catch handled (then not ``task.exception``)
        from .._artifacts import TaskException

        exc = TaskException(meta["exception"])
        label = "exception" if task.exception else "caught   "
        lines.append(f"{label} {exc.type.removeprefix('builtins.')}: {exc.exception}")
    click.echo("\n".join(lines))
    rows = []
    for artifact in task:
        try:
            data = artifact.data
            rows.append([artifact.id, _type_name(data), human_size(artifact.size), short(data, 50)])
        except Exception as exc:  # noqa: BLE001 - unpickling and repr run the user's code
            rows.append([artifact.id, "?", "-", f"<cannot show: {_reason(exc)}>"])
    click.echo("")
    print_table(["artifact", "type", "size", "value"], rows)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


PREVIEW_CHARS = 4096


def show_artifact(task: Any, name: str, whole: bool = False) -> None:
    """The artifact's repr; at most PREVIEW_CHARS of it unless ``whole`` (a 200 MB string must
    not flood the terminal). One line naming the cause when it cannot be loaded or shown."""
    from .._client import NotFound

    if name not in task:
        raise KeyError(f"task {task.pathspec} has no artifact '{name}'")
    artifact = task[name]
    try:
        value = artifact.data
        if not whole and isinstance(value, (str, bytes, bytearray)):
            text = repr(value[: PREVIEW_CHARS + 1])  # never build the repr of all of it
        else:
            text = repr(value)
    except Exception as exc:  # noqa: BLE001 - unpickling and repr run the user's code
        raise NotFound(f"artifact {artifact.pathspec} cannot be shown: {_reason(exc)}") from None
    click.echo(f"{task.pathspec}/{name}: {_type_name(value)}")
    if whole or len(text) <= PREVIEW_CHARS:
        click.echo(text)
        return
    click.echo(text[:PREVIEW_CHARS] + "...")
    click.echo(
        f"(the first {PREVIEW_CHARS} characters of a {human_size(artifact.size)} artifact; "
        f"add --all to print all of it)",
        err=True,
    )
