"""``rayflow shutdown``: stop the warm local Ray that local runs keep for the next one."""

from __future__ import annotations

import click


@click.command("shutdown")
def shutdown_command() -> None:
    """Stop the warm local Ray that local runs keep up, now (runs still using it fail)."""
    from rayflow.scheduler import stop_warm

    stopped = stop_warm()
    if not stopped:
        click.echo("no warm local Ray is running")
    for address in stopped:
        click.echo(f"stopped the warm local Ray at {address}")
