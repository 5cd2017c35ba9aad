"""``rayflow ui``: a local, read-only web dashboard for the runs in a datastore."""

from __future__ import annotations

import click

from ._reading import datastore_option


@click.command("ui")
@datastore_option()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback exposes your runs to the network.",
)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--token",
    envvar="RAYFLOW_UI_TOKEN",
    default=None,
    metavar="TOKEN",
    help="Require this token on every request (also $RAYFLOW_UI_TOKEN).",
)
@click.option(
    "--sweeps-storage",
    default=None,
    metavar="URL",
    help="Optuna storage of the sweeps (default: the sweeps' default for the datastore).",
)
def ui_command(
    datastore: str | None, host: str, port: int, token: str | None, sweeps_storage: str | None
) -> None:
    """Browse flows, runs, tasks, logs and sweeps in a web browser (Ctrl-C stops it)."""
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401

        from rayflow.ui import is_loopback, serve
    except ImportError as exc:
        raise click.ClickException(
            f"rayflow ui needs the ui extra: pip install 'rayflow[ui]' ({exc})"
        ) from None
    if not is_loopback(host):
        click.echo(
            f"rayflow ui: warning: listening on {host}, not on loopback: anyone who can reach "
            f"this machine can read your runs" + ("" if token else "; set --token to require one"),
            err=True,
        )
    try:
        serve(datastore, host, port, token or None, sweeps_storage, echo=click.echo)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
