"""``rayflow run FILE[:FlowClass] [--param VALUE ...]`` (and ``python flow.py run``)."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from .._configuse import ConfigInput
from .._errors import RunFailed
from .._loader import load_flow
from .._parameters import resolve_values
from .._prepare import plan_for
from ._common import datastore_url, display_path, parameter_options, run_options


def execute_run(flow_cls: type, flow_file: str | None, opts: dict[str, Any]) -> None:
    """Lint, resolve parameters, run; exit 0 on success, 1 on failure, 130 when interrupted
    (Ctrl-C), 143 when terminated (SIGTERM)."""
    from rayflow.scheduler import launch

    from .._launching import cli_fields, new_request

    started = opts.get("started") or time.time()
    if not opts.get("no_warm"):
        from rayflow.scheduler import prepare_warm

        prepare_warm(opts.get("cluster"))  # ray start, if needed, while the flow is prepared
    configs = ConfigInput(
        dict(opts.get("config_files") or ()), dict(opts.get("config_values") or ())
    )
    _, plan = plan_for(flow_cls, tuple(opts.get("with_") or ()), configs)
    given = {k: v for k, v in opts.get("params", {}).items() if v is not None}
    values = resolve_values(flow_cls, given)
    url = datastore_url(opts.get("datastore"))
    if opts.get("detach"):
        from .._detach import submit, tell

        tell(submit(flow_cls, flow_file, values, url, opts))
        return
    if opts.get("program"):  # the process ends after this run: see scheduler._connect.exit_now
        from rayflow.scheduler import linger_until_exit

        linger_until_exit()
    if not opts.get("quiet"):
        click.echo(
            f"rayflow: running {flow_cls.__name__} (datastore: {display_path(url) if '://' not in url else url})"
        )
    result = launch(new_request(flow_cls, flow_file, plan, values, url, **cli_fields(opts)))
    report(result, flow_file, started)


def with_group_options(ctx: click.Context, opts: dict[str, Any]) -> dict[str, Any]:
    """Merge options given before the command (``python flow.py --with retry run``)."""
    root = ctx.find_root().obj or {}
    if root.get("with_"):
        opts["with_"] = tuple(root["with_"]) + tuple(opts.get("with_") or ())
    if root.get("datastore") and not opts.get("datastore"):
        opts["datastore"] = root["datastore"]
    if root.get("quiet"):
        opts["quiet"] = True
    if root.get("started"):
        opts["started"] = root["started"]
    for key in ("config_files", "config_values"):  # ``python flow.py --config a a.json run``
        if root.get(key):
            opts[key] = tuple(root[key]) + tuple(opts.get(key) or ())
    if root.get("program"):
        opts["program"] = True
    return opts


def wall_time(result: Any, started: float | None) -> str:
    """What the user waited, from the command's start, with Ray's start-up named apart:
    ``6.2s (Ray start-up 4.8s)``; without ``started``, the run's own time."""
    total = time.time() - started if started else result.seconds
    notes = []
    ray_seconds = getattr(result, "ray_seconds", None)
    if ray_seconds is not None:
        what = "joining the Ray cluster" if getattr(result, "ray_joined", False) else "Ray start-up"
        notes.append(f"{what} {ray_seconds:.1f}s")
    if getattr(result, "cached", None):
        notes.append(f"{len(result.cached)} task(s) from the cache")
    return f"{total:.1f}s" + (f" ({'; '.join(notes)})" if notes else "")


def report(result: Any, flow_file: str | None = None, started: float | None = None) -> None:
    target = f" {display_path(flow_file)}" if flow_file else ""
    if result.successful:
        click.echo(f"run {result.pathspec} successful in {wall_time(result, started)}")
        return
    if result.status == "interrupted":
        # SIGTERM ends a run as Ctrl-C does; the exit code says which (143 or 130).
        signum = getattr(result, "signum", 0) or signal.SIGINT
        how = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
        kept = len(result.executed) + len(result.cloned) + len(getattr(result, "cached", ()))
        click.echo(
            f"run {result.pathspec} {how}; {kept} finished task(s) are kept "
            f"(resume with: rayflow resume{target} --origin-run-id {result.run_id})",
            err=True,
        )
        sys.exit(128 + signum)
    failed = ", ".join(label for label, _ in result.failures[:5])
    more = f" and {len(result.failures) - 5} more" if len(result.failures) > 5 else ""
    cancelled = getattr(result, "cancelled", None)
    also = f", {len(cancelled)} cancelled" if cancelled else ""
    click.echo(
        f"run {result.pathspec} failed: {len(result.failures)} task(s) failed ({failed}{more}){also}; "
        f"finished tasks are kept; resume with: rayflow resume{target} --origin-run-id {result.run_id}",
        err=True,
    )
    raise RunFailed(f"run {result.pathspec} failed")


class FlowCommand(click.Command):
    """A command whose options depend on the flow: its Parameters become options.

    The flow file is the first argument; it is loaded while parsing so ``--help`` can list the
    flow's parameters and unknown options are reported against them.
    """

    def __init__(
        self,
        name: str,
        callback: Callable[..., Any],
        base: list[Any],
        flow_cls: type | None = None,
        **kwargs: Any,
    ) -> None:
        self.base = base
        self.fixed_flow = flow_cls
        params: list[Any] = list(base)
        if flow_cls is None:
            params.insert(0, click.Argument(["target"], required=False, metavar="FILE[:FlowClass]"))
        else:
            params = _with_parameters(params, flow_cls)
        super().__init__(name, callback=callback, params=params, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if self.fixed_flow is None:
            params: list[Any] = [
                click.Argument(["target"], required=True, metavar="FILE[:FlowClass]")
            ]
            params += list(self.base)
            if args and not args[0].startswith("-") and not ctx.resilient_parsing:
                flow_cls, path = load_flow(args[0])
                ctx.meta["rayflow.flow"] = (flow_cls, path)
                params = _with_parameters(params, flow_cls)
            self.params = params
        return super().parse_args(ctx, args)


def _with_parameters(options: list[Any], flow_cls: type) -> list[Any]:
    """The command's options plus the flow's parameters; a parameter named like ``--config`` or
    ``--config-value`` (common before Metaflow had Configs, which take those names only before
    ``run`` on Metaflow's command line) keeps its name, and the Config option gives way to it
    (``python flow.py --config NAME FILE run`` still gives a config)."""
    params = parameter_options(flow_cls)
    taken = {name for p in params for name in p.opts}
    return [o for o in options if not (set(getattr(o, "opts", ())) & taken)] + params


def _split(kwargs: dict[str, Any], flow_cls: type) -> dict[str, Any]:
    from .._parameters import flow_parameters

    names = {p.attr for p in flow_parameters(flow_cls)}
    opts = {k: v for k, v in kwargs.items() if k not in names}
    opts["params"] = {k: v for k, v in kwargs.items() if k in names}
    return opts


def make_run_command(flow_cls: type | None = None, flow_file: str | None = None) -> click.Command:
    @click.pass_context
    def callback(ctx: click.Context, **kwargs: Any) -> None:
        if flow_cls is None:
            kwargs.pop("target", None)
            cls, path = ctx.meta["rayflow.flow"]
        else:
            cls, path = flow_cls, flow_file
        execute_run(cls, path, with_group_options(ctx, _split(kwargs, cls)))

    return FlowCommand(
        "run",
        callback,
        run_options(),
        flow_cls=flow_cls,
        help="Run the flow on Ray (an embedded local instance unless --cluster).",
    )
