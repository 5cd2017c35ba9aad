"""``rayflow show FILE``: the flow's graph as text (steps, transitions, decorators)."""

from __future__ import annotations

import click

from .._graph import FlowGraph
from .._loader import load_flow
from .._prepare import checked_graph


def render_graph(graph: FlowGraph) -> str:
    lines = [f"{graph.flow_name}  ({len(graph.nodes)} steps)", ""]
    for node in graph.nodes.values():
        decos = " ".join(repr(d) for d in node.decorators)
        head = f"step {node.name}"
        if node.type not in ("linear", "start", "end"):
            head += f"  [{node.type}]"
        if decos:
            head += f"  {decos}"
        lines.append(head)
        if node.doc:
            lines.append(f"    {node.doc.splitlines()[0]}")
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
    click.echo(render_graph(checked_graph(flow_cls)))


@click.command("show")
@click.argument("target", metavar="FILE[:FlowClass]")
def show_command(target: str) -> None:
    """Print the flow's graph: steps, transitions and decorators."""
    flow_cls, _ = load_flow(target)
    show_flow(flow_cls)
