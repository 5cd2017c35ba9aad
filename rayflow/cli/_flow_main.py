"""``python flow.py run|check|show``: the same commands, bound to the flow in ``__main__``."""

from __future__ import annotations

import inspect
import os
import sys

import click

from ._check_cmd import check_flow
from ._common import handle_errors
from ._resume_cmd import make_resume_command
from ._run_cmd import make_run_command
from ._show_cmd import show_flow


def flow_main(flow_cls: type) -> None:
    try:
        flow_file = os.path.abspath(inspect.getsourcefile(flow_cls) or sys.argv[0])
    except TypeError:
        flow_file = os.path.abspath(sys.argv[0])
    prog = os.path.basename(sys.argv[0])

    @click.group(context_settings={"help_option_names": ["-h", "--help"]},
                 help=f"{flow_cls.__name__}: run it on Ray with rayflow.")
    def group() -> None:
        pass

    @group.command("check")
    def check() -> None:
        """Check the flow's graph without running anything."""
        check_flow(flow_cls)

    @group.command("show")
    def show() -> None:
        """Print the flow's graph."""
        show_flow(flow_cls)

    group.add_command(make_run_command(flow_cls, flow_file))
    group.add_command(make_resume_command(flow_cls, flow_file))
    handle_errors(lambda: group.main(args=sys.argv[1:], prog_name=prog, standalone_mode=False), prog)
    sys.exit(0)
