"""``rayflow runs FLOW``: the flow's runs, newest first, as a table."""

from __future__ import annotations

import click

from ._reading import datastore_option, duration, params_text, print_table, reading, when


def run_rows(runs: list) -> list[list[str]]:
    rows = []
    for run in runs:
        record = run._load()
        tags = ", ".join(sorted(record.get("tags", [])))
        end = record.get("finished_at")
        span = duration(record.get("created_at"), end) if end else "running"
        if record.get("status") != "running" and not end:
            span = "-"
        rows.append(
            [
                run.id,
                record.get("status", "unknown"),
                when(record.get("created_at")),
                span,
                tags,
                params_text(record.get("parameters", {})),
            ]
        )
    return rows


@click.command("runs")
@click.argument("flow")
@datastore_option()
@click.option(
    "--tag", "tags", multiple=True, metavar="TAG", help="Only runs with this tag (repeatable)."
)
@click.option(
    "--namespace",
    default=None,
    metavar="NS",
    help="Only runs in this namespace, e.g. user:alice (default: every run).",
)
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=None, help="Show at most N runs."
)
def runs_command(
    flow: str,
    datastore: str | None,
    tags: tuple[str, ...],
    namespace: str | None,
    limit: int | None,
) -> None:
    """List the runs of FLOW, newest first: id, status, start, duration, tags, parameters."""
    from .._client import Flow

    with reading(datastore, namespace):
        runs = Flow(flow).runs(*tags)
        if limit:
            runs = runs[:limit]
        if not runs:
            click.echo(f"no runs of {flow}" + (f" tagged {', '.join(tags)}" if tags else ""))
            return
        print_table(
            ["run id", "status", "started", "duration", "tags", "parameters"], run_rows(runs)
        )
