"""Pieces shared by the commands: flow parameters as click options, run options, error output."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import click

from .._errors import USER_ERRORS, LintError, ParameterError, RunFailed
from .._parameters import Parameter, flow_parameters


class ParameterType(click.ParamType):
    """Converts with the Parameter's own rules so CLI and ``Runner`` values agree."""

    def __init__(self, param: Parameter) -> None:
        self.param = param
        t = param.type
        if param.IS_FILE:
            self.name = "FILE"
        else:
            self.name = (getattr(t, "name", None) or getattr(t, "__name__", "TEXT")).upper()
            self.name = {"STR": "TEXT", "INT": "INTEGER", "BOOL": "BOOLEAN"}.get(
                self.name, self.name
            )

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        # Check the value here (so click reports it against the option) but hand on the raw
        # text: resolve_values converts it once, exactly as it does for Runner's values.
        try:
            self.param.convert(value)
        except ParameterError as exc:
            self.fail(str(exc).split(": ", 1)[-1], param, ctx)
        return value


RESERVED_OPTIONS = {
    "max_workers",
    "datastore",
    "tag",
    "run_id_file",
    "fail_fast",
    "with",
    "cluster",
    "quiet",
    "help",
    "origin_run_id",
    "cache",
    "max_num_splits",
    "shared_datastore",
    "detach",
    "run_id",
    "no_warm",
}


def parameter_options(flow_cls: type) -> list[click.Option]:
    options = []
    for p in flow_parameters(flow_cls):
        if p.name.replace("-", "_") in RESERVED_OPTIONS:
            raise ParameterError(
                f"parameter '{p.name}' clashes with the run option --{p.name}; rename it"
            )
        names = [f"--{p.name}"]
        if "_" in p.name:
            names.append(f"--{p.name.replace('_', '-')}")
        text = p.help or ""
        if p.show_default and p.default is not None and not callable(p.default):
            text = f"{text}  [default: {p.default}]".strip()
        options.append(
            click.Option(
                names + [p.attr],
                type=ParameterType(p),
                default=None,
                help=text or None,
                required=bool(p.required and p.default is None),
            )
        )
    return options


def run_options() -> list[click.Option]:
    return [
        click.Option(
            ["--datastore"],
            default=None,
            metavar="URL",
            help="Where runs are stored (default: nearest .rayflow/ or $RAYFLOW_DATASTORE).",
        ),
        click.Option(
            ["--cluster"],
            default=None,
            metavar="ADDRESS",
            help="Ray cluster to join: auto, host:port or ray://host:port (default: a local Ray).",
        ),
        click.Option(
            ["--shared-datastore"],
            is_flag=True,
            envvar="RAYFLOW_SHARED_DATASTORE",
            help="The local --datastore path is on a file system every cluster node "
            "mounts (else a multi-node cluster needs an s3:// datastore).",
        ),
        click.Option(
            ["--max-workers"],
            type=click.IntRange(min=1),
            default=None,
            help="Cap on tasks running at once (default: as many as Ray's CPUs allow).",
        ),
        click.Option(
            ["--tag", "tags"], multiple=True, metavar="TAG", help="Tag the run (repeatable)."
        ),
        click.Option(
            ["--with", "with_"],
            multiple=True,
            metavar="DECORATOR",
            help="Add a decorator to every step, e.g. --with retry:times=2.",
        ),
        click.Option(
            ["--run-id-file"], default=None, metavar="FILE", help="Write the run id to FILE."
        ),
        click.Option(
            ["--fail-fast"], is_flag=True, help="Cancel running tasks at the first failure."
        ),
        click.Option(
            ["--max-num-splits"],
            type=click.IntRange(min=1),
            default=None,
            help="Fail a foreach that fans out wider than this (default: no limit).",
        ),
        click.Option(
            ["--cache/--no-cache", "cache"],
            default=None,
            help="--cache: cache every step across runs; --no-cache: ignore every cache.",
        ),
        click.Option(
            ["--no-warm"],
            is_flag=True,
            help="Start a local Ray for this run only and stop it at the end (default: "
            "keep it warm for the next run; RAYFLOW_WARM=0 does the same).",
        ),
        click.Option(["--quiet", "-q"], is_flag=True, help="Print only errors and the result."),
        *config_options(),
        *detach_options(),
    ]


def config_options() -> list[click.Option]:
    """Metaflow's ``--config NAME FILE`` and ``--config-value NAME JSON`` (repeatable)."""
    return [
        click.Option(
            ["--config", "config_files"],
            type=(str, str),
            multiple=True,
            metavar="NAME FILE",
            help="Read the flow's Config NAME from FILE (repeatable).",
        ),
        click.Option(
            ["--config-value", "config_values"],
            type=(str, str),
            multiple=True,
            metavar="NAME JSON",
            help="Give the flow's Config NAME as JSON text (repeatable).",
        ),
    ]


def detach_options() -> list[click.Option]:
    """``--detach`` (the run's driver runs on the cluster as a Ray job) and ``--run-id``."""
    return [
        click.Option(
            ["--detach"],
            is_flag=True,
            help="Submit the run to --cluster http://HEAD:8265 as a Ray job and return; "
            "it goes on without this machine (rayflow status/logs/cancel RUN).",
        ),
        click.Option(
            ["--run-id"],
            default=None,
            metavar="RUN_ID",
            help="The new run's id (default: a fresh one); submitting a detached run "
            "with the same id again finds the first submission.",
        ),
    ]


def datastore_url(given: str | None) -> str:
    from rayflow.datastore import default_url

    return given or default_url()


def _help_target(where: str, prog: str) -> str:
    """``rayflow run flow.py`` when the command line names a flow file: its --help lists the
    flow's parameters, which is what a user who mistyped one needs."""
    args = sys.argv[1:]
    at = next((i for i, a in enumerate(args) if a.endswith(".py") or ".py:" in a), None)
    if at is not None and at <= 2 and not args[0].startswith("-"):
        return " ".join([prog, *args[: at + 1]])
    return where


FRESH_PROCESS_SECONDS = 60.0


def process_started() -> float:
    """When this process started (from /proc on Linux), so that the wall time reported to the
    user includes Python's start-up and the imports it waited for. Elsewhere, and in a process
    that was already running long before the command (a notebook, a test calling ``main``): now."""
    try:
        with open("/proc/self/stat") as f:
            after_name = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        ticks = int(after_name[19])  # field 22, starttime: clock ticks after boot
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.time()
    return time.time() - age if 0.0 <= age <= FRESH_PROCESS_SECONDS else time.time()


def handle_errors(invoke: Callable[[], Any], prog: str) -> None:
    """Run a click entry point; user errors become one line on stderr and an exit code."""
    try:
        invoke()
    except click.exceptions.NoArgsIsHelpError as exc:  # type: ignore[attr-defined]
        exc.show()
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = _help_target(exc.ctx.command_path if exc.ctx else prog, prog)
        click.echo(f"error: {exc.format_message()} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            _interrupted(exc.__cause__)
        click.echo("aborted", err=True)
        sys.exit(130)
    except RunFailed:
        sys.exit(1)
    except LintError as exc:
        for line in exc.problems:
            click.echo(line, err=True)
        click.echo(f"error: the flow has {len(exc.problems)} problem(s); nothing was run", err=True)
        sys.exit(1)
    except USER_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt as exc:
        _interrupted(exc)


def end_program(program: bool, invoke: Callable[[], Any]) -> None:
    """Run the command; a program whose run left its connection to the warm local Ray open
    (``execute_run``) then exits at once with the command's code (scheduler._connect.exit_now)."""
    code: Any = 0
    try:
        invoke()
    except SystemExit as exc:
        code = exc.code
        if not program or not isinstance(code, (int, type(None))):
            raise
    connect = sys.modules.get("rayflow.scheduler._connect")
    if program and connect is not None:
        connect.exit_now(code or 0)
    if code:
        sys.exit(code)


def _interrupted(exc: KeyboardInterrupt) -> NoReturn:
    """Ctrl-C (or SIGTERM: scheduler.Interrupted) outside a recorded run: nothing was run."""
    code = getattr(exc, "exit_code", 130)
    what = "terminated (SIGTERM)" if code == 143 else "interrupted"
    if hasattr(exc, "signum"):
        what += " before the run started; nothing was run"
    click.echo(what, err=True)
    sys.exit(code)


def display_path(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel
