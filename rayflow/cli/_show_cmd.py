"""``rayflow show FILE | PATHSPEC``: a flow's graph, or what a past run, step, task or artifact
holds.

A target that is an existing file or names a ``.py`` file is a flow: its graph is printed (nothing
runs). Anything else is a pathspec read from the datastore: ``Flow`` (its runs), ``Flow/run_id``
(status, parameters, lineage, steps with task counts and times; ``--code`` prints the flow source
that ran, ``--stats`` its parallelism report), ``Flow/run_id/step`` (its tasks), ``Flow/run_id/step/task_id`` (artifacts with types
and sizes) or ``Flow/run_id/step/task_id/artifact`` (its value).
"""

from __future__ import annotations

import inspect
import os
import sys

import click

from .._flowspec import FlowSpec
from .._graph import FlowGraph
from .._loader import load_flow
from .._prepare import checked_graph
from ._reading import datastore_option, reading


def render_graph(graph: FlowGraph, doc: str | None = None) -> str:
    lines = [f"{graph.flow_name}  ({len(graph.nodes)} steps)"]
    if doc and doc.strip():
        lines += [f"  {line}".rstrip() for line in inspect.cleandoc(doc).splitlines()]
    lines.append("")
    for node in graph.nodes.values():
        decos = " ".join(repr(d) for d in node.decorators)
        head = f"step {node.name}"
        if node.type not in ("linear", "start", "end"):
            head += f"  [{node.type}]"
        if decos:
            head += f"  {decos}"
        lines.append(head)
        if node.doc:
            lines += [f"    {line}".rstrip() for line in inspect.cleandoc(node.doc).splitlines()]
        if node.foreach:
            lines.append(f"    => foreach {node.foreach!r} -> {node.out[0]}")
        elif node.switch:
            cases = ", ".join(f"{k!r}: {v}" for k, v in node.switch.items())
            lines.append(f"    => switch on {node.condition!r} -> {{{cases}}}")
        elif node.out:
            lines.append(f"    => {', '.join(node.out)}")
        if node.closes:
            lines.append(f"    (joins the branches of {node.closes})")
    return "\n".join(lines)


def show_flow(flow_cls: type) -> None:
    doc = flow_cls.__doc__ if flow_cls.__doc__ != FlowSpec.__doc__ else None
    click.echo(render_graph(checked_graph(flow_cls), doc))


def is_flow_file(target: str) -> bool:
    path = target.rsplit(":", 1)[0] if ".py:" in target else target
    return os.path.isfile(target) or os.path.isfile(path) or path.endswith(".py")


def show_pathspec(pathspec: str, code: bool, stats: bool = False, whole: bool = False) -> None:
    from .._client import DamagedRecord, Flow, NotFound, Run, Step, Task
    from ._runs_cmd import run_rows
    from ._show_run import show_artifact, show_run, show_step, show_task

    parts = pathspec.strip("/").split("/")
    if code and len(parts) != 2:
        raise NotFound(f"--code needs a run pathspec Flow/run_id, got {pathspec!r}")
    if stats and len(parts) != 2:
        raise NotFound(f"--stats needs a run pathspec Flow/run_id, got {pathspec!r}")
    if stats:
        from .._statstext import stats_text

        click.echo(stats_text(Run(pathspec)))
        return
    if len(parts) == 1:
        from ._reading import print_table

        print_table(
            ["run id", "status", "started", "duration", "tags", "parameters"],
            run_rows(Flow(parts[0]).runs()),
        )
    elif len(parts) == 2:
        show_run(Run(pathspec), code)
    elif len(parts) == 3:
        show_step(Step(pathspec))
    elif len(parts) == 4:
        try:
            task = Task(pathspec)
        except DamagedRecord as exc:
            click.echo(f"error: {exc}", err=True)
            show_step(Step("/".join(parts[:3])), skip=parts[3])
            sys.exit(1)
        show_task(task)
    elif len(parts) == 5:
        show_artifact(Task("/".join(parts[:4])), parts[4], whole)
    else:
        raise NotFound(f"not a flow file or pathspec: {pathspec!r}")


@click.command("show")
@click.argument("target", metavar="FILE[:FlowClass] | PATHSPEC")
@click.option("--code", is_flag=True, help="For a run: print the flow source that ran.")
@click.option(
    "--stats",
    is_flag=True,
    help="For a run: wall time, task time, parallel efficiency, scheduling latency and "
    "critical path (the numbers above `rayflow timeline`).",
)
@click.option(
    "--all",
    "whole",
    is_flag=True,
    help="For an artifact: print all of its value (by default, the first 4096 characters).",
)
@datastore_option()
def show_command(target: str, code: bool, stats: bool, whole: bool, datastore: str | None) -> None:
    """Show a flow file's graph, or a past run, step, task or artifact (Flow/run_id[/step[/task]])."""
    if is_flow_file(target):
        flow_cls, _ = load_flow(target)
        show_flow(flow_cls)
        return
    with reading(datastore):
        show_pathspec(target, code, stats, whole)
