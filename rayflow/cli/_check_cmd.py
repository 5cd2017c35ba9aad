"""``rayflow check FILE``: lint the graph statically, report every problem with file and line."""

from __future__ import annotations

import click

from .._loader import load_flow
from .._prepare import checked_graph


def check_flow(flow_cls: type) -> None:
    graph = checked_graph(flow_cls)
    click.echo(f"{flow_cls.__name__}: the graph looks good ({len(graph.nodes)} steps)")


@click.command("check")
@click.argument("target", metavar="FILE[:FlowClass]")
def check_command(target: str) -> None:
    """Check the flow's graph without running anything."""
    flow_cls, _ = load_flow(target)
    check_flow(flow_cls)
