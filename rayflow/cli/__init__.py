"""The ``rayflow`` command line: one module per command under a click group.

Heavy imports (Ray, Optuna, s3fs) happen inside the commands that need them, so ``--help`` and
``check`` answer quickly.
"""

from __future__ import annotations

import click

from ._check_cmd import check_command
from ._common import end_program, handle_errors, process_started
from ._compare_cmd import compare_command
from ._detach_cmd import cancel_command, status_command
from ._gc_cmd import gc_command
from ._logs_cmd import logs_command
from ._resume_cmd import make_resume_command
from ._run_cmd import make_run_command
from ._runs_cmd import runs_command
from ._show_cmd import show_command
from ._shutdown_cmd import shutdown_command
from ._sweep_cmd import make_sweep_command
from ._tag_cmd import tag_group
from ._timeline_cmd import timeline_command
from ._ui_cmd import ui_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rayflow")
def cli() -> None:
    """rayflow: Metaflow-style flows, executed on Ray, checkpointed step by step."""


cli.add_command(make_run_command())
cli.add_command(make_resume_command())
cli.add_command(make_sweep_command())
cli.add_command(check_command)
cli.add_command(show_command)
cli.add_command(runs_command)
cli.add_command(logs_command)
cli.add_command(tag_group)
cli.add_command(compare_command)
cli.add_command(ui_command)
cli.add_command(timeline_command)
cli.add_command(gc_command)
cli.add_command(status_command)
cli.add_command(cancel_command)
cli.add_command(shutdown_command)


def main(args: list[str] | None = None) -> None:
    """The ``rayflow`` program (``args`` None: from ``sys.argv``; then a run on the warm local
    Ray ends the process without Ray's slow disconnect, see ``end_program``)."""
    started = process_started()  # the wall time reported by run/resume counts from here
    program = args is None
    end_program(
        program,
        lambda: handle_errors(
            lambda: cli.main(
                args=args,
                prog_name="rayflow",
                standalone_mode=False,
                obj={"started": started, "program": program},
            ),
            "rayflow",
        ),
    )


__all__ = ["cli", "main"]
