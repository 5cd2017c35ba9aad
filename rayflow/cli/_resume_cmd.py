"""``rayflow resume FILE [STEP] [--origin-run-id ID]``: re-run only what did not finish."""

from __future__ import annotations

import time
from typing import Any

import click

from .._errors import ConfigError
from .._launching import cli_fields
from .._resuming import resume_run
from ._common import datastore_url, run_options
from ._run_cmd import FlowCommand, _split, report, with_group_options


def resume_options() -> list[Any]:
    """Every option of ``rayflow run``, meaning the same (``_launching.cli_fields``), and which
    run to resume from which step; not the configs: a resume reads those its origin recorded."""
    keep = [o for o in run_options() if o.name not in ("config_files", "config_values")]
    return [
        click.Argument(["step"], required=False, metavar="[STEP]"),
        click.Option(
            ["--origin-run-id"],
            default=None,
            metavar="RUN_ID",
            help="Run to resume (default: the flow's latest run).",
        ),
        *keep,
    ]


def make_resume_command(
    flow_cls: type | None = None, flow_file: str | None = None
) -> click.Command:
    @click.pass_context
    def callback(ctx: click.Context, **kwargs: Any) -> None:
        started = time.time()
        if flow_cls is None:
            kwargs.pop("target", None)
            cls, path = ctx.meta["rayflow.flow"]
        else:
            cls, path = flow_cls, flow_file
        opts = with_group_options(ctx, _split(kwargs, cls))
        if opts.get("config_files") or opts.get("config_values"):  # ``python flow.py --config ...``
            raise ConfigError(
                "resume reads the configs its origin run recorded; --config and "
                "--config-value cannot be given to it"
            )
        quiet = bool(opts.get("quiet"))
        if opts.get("detach"):
            from .._detach import submit_resume, tell

            tell(
                submit_resume(
                    cls,
                    path,
                    datastore_url(opts.get("datastore")),
                    opts,
                    notify=None if quiet else click.echo,
                )
            )
            return
        result = resume_run(
            cls,
            path,
            datastore=datastore_url(opts.get("datastore")),
            origin_run_id=opts.get("origin_run_id"),
            step=opts.get("step"),
            given_params=opts["params"],
            with_=tuple(opts.get("with_") or ()),
            notify=None if quiet else click.echo,
            **cli_fields(opts),
        )
        if not quiet:
            click.echo(f"cloned {len(result.cloned)} task(s), ran {len(result.executed)}")
        report(result, path, opts.get("started") or started)

    return FlowCommand(
        "resume",
        callback,
        resume_options(),
        flow_cls=flow_cls,
        help="Resume a run: clone every finished task, run the rest.",
    )
