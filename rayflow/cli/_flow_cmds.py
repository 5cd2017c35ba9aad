"""``python flow.py logs|dump|tag``: Metaflow's flow-level reading commands, with its options.

They take Metaflow's ``RUN_ID/STEP[/TASK_ID]`` pathspecs (the flow is the file's) and answer as
Metaflow's do, so scripts written against Metaflow's CLI keep working: ``logs`` of one task is
its raw output; ``dump --file F`` pickles ``{task: {name: value}}``; ``tag list --flat`` prints a
header and one tag a line on stderr.
"""

from __future__ import annotations

import pickle
from typing import Any

import click

from ._reading import reading


def _tasks(flow_name: str, pathspec: str) -> list[Any]:
    from .._client import NotFound, Step, Task

    full = f"{flow_name}/{pathspec.strip('/')}"
    parts = full.split("/")
    if len(parts) == 4:
        return [Task(full)]
    if len(parts) == 3:
        return Step(full).tasks()
    raise NotFound(f"expected RUN_ID/STEP[/TASK_ID], got {pathspec!r}")


def make_logs(flow_cls: type) -> click.Command:
    @click.command("logs")
    @click.argument("pathspec", metavar="RUN_ID/STEP[/TASK_ID]")
    @click.option("--stdout", "only_stdout", is_flag=True, help="Only stdout.")
    @click.option("--stderr", "only_stderr", is_flag=True, help="Only stderr.")
    @click.pass_context
    def logs(ctx: click.Context, pathspec: str, only_stdout: bool, only_stderr: bool) -> None:
        """Print the saved output of a task, or of every task of a step.

        One task's output (or any output with --quiet) is printed as it is; several tasks' lines
        are prefixed with ``[step/task_id]``. One stream asked for goes to stdout, as in Metaflow.
        """
        root = ctx.find_root().obj or {}
        streams = ["stdout", "stderr"]
        if only_stdout != only_stderr:
            streams = ["stdout"] if only_stdout else ["stderr"]
        with reading(root.get("datastore")):
            tasks = _tasks(flow_cls.__name__, pathspec)
            raw = len(tasks) == 1 or root.get("quiet")
            for task in tasks:
                for stream in streams:
                    text = getattr(task, stream)
                    err = stream == "stderr" and len(streams) == 2
                    if raw:
                        click.echo(text, nl=False, err=err)
                    else:
                        for line in text.splitlines():
                            click.echo(f"[{task.step_name}/{task.id}] {line}", err=err)

    return logs


def make_dump(flow_cls: type) -> click.Command:
    @click.command("dump")
    @click.argument("pathspec", metavar="RUN_ID/STEP[/TASK_ID]")
    @click.option("--private", is_flag=True, help="Include artifacts whose name starts with '_'.")
    @click.option(
        "--include", default="", metavar="NAMES", help="Only these artifacts (comma-separated)."
    )
    @click.option(
        "--max-value-size",
        type=int,
        default=1000,
        show_default=True,
        help="Leave out artifacts larger than this many bytes.",
    )
    @click.option(
        "--file",
        "out_file",
        default=None,
        metavar="PATH",
        help="Pickle {task pathspec: {name: value}} into PATH instead of printing.",
    )
    @click.pass_context
    def dump(
        ctx: click.Context,
        pathspec: str,
        private: bool,
        include: str,
        max_value_size: int,
        out_file: str | None,
    ) -> None:
        """Print (or pickle into --file, keyed ``RUN_ID/STEP/TASK_ID``) the artifacts of a task
        or of every task of a step."""
        root = ctx.find_root().obj or {}
        wanted = {n for n in include.split(",") if n}
        found: dict[str, dict[str, Any]] = {}
        too_large: dict[str, dict[str, int]] = {}
        with reading(root.get("datastore")):
            for task in _tasks(flow_cls.__name__, pathspec):
                values: dict[str, Any] = {}
                for name in sorted(task.artifact_keys):
                    if (wanted and name not in wanted) or (name.startswith("_") and not private):
                        continue
                    artifact = task[name]
                    if artifact.size > max_value_size:
                        too_large.setdefault(task.pathspec, {})[name] = artifact.size
                        continue
                    values[name] = artifact.data
                found[task.pathspec] = values
        if out_file:  # keyed RUN_ID/STEP/TASK_ID, as Metaflow's dump --file is
            keyed = {path.split("/", 1)[1]: values for path, values in found.items()}
            with open(out_file, "wb") as f:
                pickle.dump(keyed, f, protocol=pickle.HIGHEST_PROTOCOL)
            return
        for task_path, values in found.items():
            click.echo(f"{task_path}:")
            for name, value in values.items():
                text = repr(value)
                click.echo(
                    f"  {name} ({type(value).__name__}): {text if len(text) < 400 else text[:400] + '...'}"
                )
            for name, size in too_large.get(task_path, {}).items():
                click.echo(
                    f"  {name}: {size} bytes, over --max-value-size {max_value_size} (not shown)"
                )

    return dump


def make_tag(flow_cls: type) -> click.Group:
    @click.group("tag")
    def tag() -> None:
        """List, add, remove or replace the user tags of a run (``--run-id``)."""

    def run_of(ctx: click.Context, run_id: str) -> Any:
        from .._client import Run

        return Run(f"{flow_cls.__name__}/{run_id}")

    run_id_option = click.option("--run-id", required=True, metavar="RUN_ID", help="The run.")

    @tag.command("list")
    @run_id_option
    @click.option("--flat", is_flag=True, help="One tag a line.")
    @click.option("--hide-system-tags", is_flag=True, help="User tags only.")
    @click.pass_context
    def tag_list(ctx: click.Context, run_id: str, flat: bool, hide_system_tags: bool) -> None:
        """Print the run's tags on stderr: a header line, then one tag a line."""
        with reading(_datastore(ctx)):
            run = run_of(ctx, run_id)
            tags = run.user_tags if hide_system_tags else run.tags
            click.echo(
                f"Tags of run {run.pathspec}{'' if hide_system_tags else ' (user and system)'}:",
                err=True,
            )
            for name in sorted(tags):
                click.echo(name if flat else f"  {name}", err=True)

    @tag.command("add")
    @run_id_option
    @click.argument("tags", nargs=-1, required=True)
    @click.pass_context
    def tag_add(ctx: click.Context, run_id: str, tags: tuple[str, ...]) -> None:
        """Add user tags (a tag that is already a system tag is left out)."""
        with reading(_datastore(ctx)):
            run_of(ctx, run_id).add_tags(tags)

    @tag.command("remove")
    @run_id_option
    @click.argument("tags", nargs=-1, required=True)
    @click.pass_context
    def tag_remove(ctx: click.Context, run_id: str, tags: tuple[str, ...]) -> None:
        """Remove user tags; naming a system tag fails and removes nothing."""
        with reading(_datastore(ctx)):
            run_of(ctx, run_id).remove_tags(tags)

    @tag.command("replace")
    @run_id_option
    @click.option("--remove", "to_remove", multiple=True, metavar="TAG", help="A tag to remove.")
    @click.option("--add", "to_add", multiple=True, metavar="TAG", help="A tag to add.")
    @click.argument("pair", nargs=-1)
    @click.pass_context
    def tag_replace(
        ctx: click.Context,
        run_id: str,
        to_remove: tuple[str, ...],
        to_add: tuple[str, ...],
        pair: tuple[str, ...],
    ) -> None:
        """Remove then add tags: ``OLD NEW``, or ``--remove A --add B`` (each repeatable)."""
        from .._errors import RayflowError

        if pair:
            if len(pair) != 2 or to_remove or to_add:
                raise RayflowError("tag replace takes OLD NEW, or --remove/--add options, not both")
            to_remove, to_add = (pair[0],), (pair[1],)
        with reading(_datastore(ctx)):
            run_of(ctx, run_id).replace_tags(list(to_remove), list(to_add))

    return tag


def _datastore(ctx: click.Context) -> str | None:
    return (ctx.find_root().obj or {}).get("datastore")
