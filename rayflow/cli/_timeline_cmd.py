"""``rayflow timeline Flow[/run_id] [-o timeline.html]``: how parallel a run was, as one HTML file.

The file is self-contained (inline SVG and JS, nothing fetched), so it opens offline and can be
mailed or attached to an issue. ``Flow`` alone means the flow's latest run. The run's numbers
(wall time, task time, efficiency, scheduling latency, critical path) are printed too.
"""

from __future__ import annotations

import os

import click

from ._reading import datastore_option, reading


@click.command("timeline")
@click.argument("pathspec", metavar="FLOW[/RUN_ID]")
@click.option(
    "-o",
    "--output",
    default="timeline.html",
    show_default=True,
    metavar="FILE",
    help="Where to write the HTML file.",
)
@datastore_option()
def timeline_command(pathspec: str, output: str, datastore: str | None) -> None:
    """Write a run's timeline (one bar per task attempt, per worker) as a self-contained HTML file."""
    from .._client import Flow, NotFound, Run
    from .._statstext import summary_lines
    from .._timeline import write_timeline

    parts = pathspec.strip("/").split("/")
    with reading(datastore):
        if len(parts) == 1:
            run = Flow(parts[0]).latest_run
            if run is None:
                raise NotFound(f"flow {parts[0]} has no runs")
        elif len(parts) == 2:
            run = Run(pathspec)
        else:
            raise NotFound(f"timeline needs a run pathspec Flow/run_id (or Flow), got {pathspec!r}")
        try:
            stats = write_timeline(run, output)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    width = max(len(label) for label, _ in summary_lines(stats))
    click.echo(f"run {stats.flow}/{stats.run_id}  ({stats.status})")
    for label, value in summary_lines(stats):
        click.echo(f"  {label.ljust(width)}  {value}")
    click.echo(f"wrote {os.path.abspath(output)} ({len(stats.attempts)} task attempts)")
