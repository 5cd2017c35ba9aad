"""``python flow.py run|resume|check|show|logs|dump``: the same commands, bound to the flow in
``__main__``; ``logs`` and ``dump`` take Metaflow's ``RUN_ID/STEP[/TASK_ID]``."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable

import click

from ._card_cmd import make_card
from ._check_cmd import check_flow
from ._common import handle_errors, process_started
from ._flow_cmds import make_dump, make_logs, make_tag
from ._resume_cmd import make_resume_command
from ._run_cmd import make_run_command
from ._show_cmd import show_flow


def _group_options() -> list:
    """The group's options, top to bottom: rayflow's own, then Metaflow's accepted ones."""
    return [
        click.option(
            "--with",
            "with_",
            multiple=True,
            metavar="DECORATOR",
            help="Add a decorator to every step (as `run --with`).",
        ),
        click.option(
            "--datastore-root",
            default=None,
            metavar="URL",
            help="Datastore URL (as `run --datastore`).",
        ),
        click.option("--quiet", is_flag=True, help="Print only errors and the result."),
        click.option(
            "--pylint/--no-pylint",
            default=True,
            hidden=True,
            help="Accepted for Metaflow compatibility.",
        ),
        click.option(
            "--metadata", default=None, hidden=True, help="Accepted for Metaflow compatibility."
        ),
        click.option(
            "--environment", default=None, hidden=True, help="Accepted for Metaflow compatibility."
        ),
        click.option(
            "--datastore",
            "datastore_kind",
            default=None,
            hidden=True,
            help="Accepted for Metaflow compatibility; use --datastore-root URL.",
        ),
        click.option(
            "--event-logger", default=None, hidden=True, help="Accepted for Metaflow compatibility."
        ),
        click.option(
            "--monitor", default=None, hidden=True, help="Accepted for Metaflow compatibility."
        ),
        click.option(
            "--config",
            "config_files",
            type=(str, str),
            multiple=True,
            metavar="NAME FILE",
            help="Read the flow's Config NAME from FILE (as `run --config`).",
        ),
        click.option(
            "--config-value",
            "config_values",
            type=(str, str),
            multiple=True,
            metavar="NAME JSON",
            help="Give the flow's Config NAME as JSON text (as `run --config-value`).",
        ),
    ]


def _as_group(callback: Callable[..., None], flow_cls: type) -> click.Group:
    """Turn ``callback`` into the flow's click group, applying the options bottom-up exactly as
    stacked ``@click.option`` decorators would (so ``--help`` lists them in the same order)."""
    command: Callable[..., None] = click.pass_context(callback)
    for option in reversed(_group_options()):
        command = option(command)
    return click.group(
        context_settings={"help_option_names": ["-h", "--help"]},
        help=f"{flow_cls.__name__}: run it on Ray with rayflow.",
    )(command)


def flow_main(flow_cls: type) -> None:
    try:
        flow_file = os.path.abspath(inspect.getsourcefile(flow_cls) or sys.argv[0])
    except TypeError:
        flow_file = os.path.abspath(sys.argv[0])
    prog = os.path.basename(sys.argv[0])
    started = process_started()

    def group(
        ctx: click.Context,
        with_: tuple[str, ...],
        datastore_root: str | None,
        quiet: bool,
        pylint: bool,
        metadata: str | None,
        environment: str | None,
        datastore_kind: str | None,
        event_logger: str | None,
        monitor: str | None,
        config_files: tuple[tuple[str, str], ...],
        config_values: tuple[tuple[str, str], ...],
    ) -> None:
        """Metaflow's top-level options are accepted so its commands lines keep working."""
        if environment and environment != "local":
            click.echo(
                f"note: --environment={environment} is ignored; steps run in this Python "
                "environment on Ray",
                err=True,
            )
        ctx.obj = {
            "with_": with_,
            "datastore": datastore_root,
            "quiet": quiet,
            "started": started,
            "config_files": config_files,
            "config_values": config_values,
        }

    cli = _as_group(group, flow_cls)

    @cli.command("check")
    def check() -> None:
        """Check the flow's graph without running anything."""
        check_flow(flow_cls)

    @cli.command("show")
    def show() -> None:
        """Print the flow's graph."""
        show_flow(flow_cls)

    cli.add_command(make_logs(flow_cls))
    cli.add_command(make_dump(flow_cls))
    cli.add_command(make_tag(flow_cls))
    cli.add_command(make_card(flow_cls))
    cli.add_command(make_run_command(flow_cls, flow_file))
    cli.add_command(make_resume_command(flow_cls, flow_file))
    handle_errors(lambda: cli.main(args=sys.argv[1:], prog_name=prog, standalone_mode=False), prog)
    sys.exit(0)
