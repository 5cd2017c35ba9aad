"""``rayflow sweep FILE --space NAME=SPEC ... --objective ARTIFACT`` and ``rayflow sweep show``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ._common import datastore_url
from ._run_cmd import FlowCommand, _split


def sweep_options() -> list[Any]:
    """The ``sweep`` command's options, in the order ``--help`` lists them."""
    return _search_options() + _study_options()


def _search_options() -> list[Any]:
    """What to search and how much: the space, the objective, the trials and their concurrency."""
    return [
        click.Option(
            ["--space", "space"],
            multiple=True,
            metavar="NAME=SPEC",
            help="Search space entry: float:LOW:HIGH[:log], int:LOW:HIGH[:STEP], categorical:a,b,c.",
        ),
        click.Option(
            ["--space-file"], default=None, metavar="FILE", help="YAML mapping NAME: SPEC."
        ),
        click.Option(
            ["--objective"],
            required=True,
            metavar="ARTIFACT",
            help="Artifact of the end step (or step.artifact) to optimise.",
        ),
        click.Option(
            ["--direction"],
            type=click.Choice(["minimize", "maximize"]),
            default="minimize",
            show_default=True,
        ),
        click.Option(
            ["--trials"],
            type=click.IntRange(min=1),
            default=20,
            show_default=True,
            help="Finished trials the study should have in total.",
        ),
        click.Option(
            ["--concurrency"],
            type=click.IntRange(min=1),
            default=4,
            show_default=True,
            help="Flow runs at once.",
        ),
    ]


def _study_options() -> list[Any]:
    """Where the study lives, how it samples and prunes, and how its driver runs."""
    return [
        click.Option(["--study"], default=None, help="Study name (default: the flow's name)."),
        click.Option(
            ["--storage"],
            default=None,
            metavar="URL",
            help="Optuna storage URL (default: sqlite file in the datastore).",
        ),
        click.Option(
            ["--sampler"],
            type=click.Choice(["tpe", "random", "grid", "cmaes", "qmc"]),
            default="tpe",
            show_default=True,
        ),
        click.Option(
            ["--pruner"],
            type=click.Choice(["none", "median", "hyperband", "successive-halving"]),
            default="none",
            show_default=True,
        ),
        click.Option(
            ["--timeout"],
            type=float,
            default=None,
            metavar="SECONDS",
            help="Stop asking for new trials after this long.",
        ),
        click.Option(["--datastore"], default=None, metavar="URL"),
        click.Option(["--cluster"], default=None, metavar="ADDRESS"),
        click.Option(
            ["--heartbeat-interval"],
            type=click.IntRange(min=1),
            default=10,
            show_default=True,
            metavar="SECONDS",
            help="How often this driver records that its trials are alive.",
        ),
        click.Option(
            ["--grace-period"],
            type=click.IntRange(min=2),
            default=60,
            show_default=True,
            metavar="SECONDS",
            help="A trial with no heartbeat for this long belongs to a "
            "driver that stopped: it is marked failed and tried again.",
        ),
    ]


def execute_sweep(flow_cls: type, flow_file: str | None, opts: dict[str, Any]) -> None:
    from rich.console import Console

    from rayflow.sweeps import Sweep, load_space_file, parse_space
    from rayflow.sweeps._display import SweepProgress, trials_table

    space = parse_space(opts.get("space") or ())
    if opts.get("space_file"):
        space.update(load_space_file(opts["space_file"]))
    if not space:
        raise click.UsageError("give at least one --space NAME=SPEC (or --space-file)")
    fixed = {k: v for k, v in opts["params"].items() if v is not None}
    progress = SweepProgress(opts["direction"])
    sweep = Sweep(
        flow_cls if flow_file is None else f"{flow_file}:{flow_cls.__name__}",
        space=space,
        objective=opts["objective"],
        direction=opts["direction"],
        concurrency=opts["concurrency"],
        storage=opts.get("storage"),
        study_name=opts.get("study"),
        sampler=opts["sampler"],
        pruner=opts["pruner"],
        params=fixed,
        datastore=datastore_url(opts.get("datastore")),
        cluster=opts.get("cluster"),
        on_event=progress.event,
        heartbeat_interval=opts["heartbeat_interval"],
        grace_period=opts["grace_period"],
    )
    click.echo(
        f"sweep: study {sweep.study_name!r} in {sweep.storage_url}, {opts['trials']} trials, "
        f"{opts['concurrency']} at once"
    )
    try:
        with progress:
            study = sweep.run(n_trials=opts["trials"], timeout=opts.get("timeout"))
    except KeyboardInterrupt:
        click.echo(
            f"sweep interrupted: this driver's running trials are marked failed in study "
            f"{sweep.study_name!r}; the same command continues the study",
            err=True,
        )
        sys.exit(130)
    Console().print(trials_table(study, limit=5))
    try:
        best = study.best_trial
        click.echo(
            f"best: {best.value:.6g} with {best.params} ({best.user_attrs.get('run_pathspec', '')})"
        )
    except ValueError:
        click.echo("no trial completed")
        raise SystemExit(1) from None


def make_sweep_command() -> click.Command:
    @click.pass_context
    def callback(ctx: click.Context, **kwargs: Any) -> None:
        kwargs.pop("target", None)
        cls, path = ctx.meta["rayflow.flow"]
        execute_sweep(cls, path, _split(kwargs, cls))

    return SweepCommand(
        "sweep",
        callback,
        sweep_options(),
        help="Optuna sweep: each trial is a flow run. "
        "`rayflow sweep show STUDY` shows a study's trials and plots.",
    )


class SweepCommand(FlowCommand):
    """``sweep FILE ...`` runs a sweep; ``sweep show STUDY ...`` shows one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] == "show":
            ctx.meta["rayflow.sweep_show"] = args[1:]
            return []
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        rest = ctx.meta.get("rayflow.sweep_show")
        if rest is not None:
            return sweep_show_command.main(
                args=rest, prog_name=f"{ctx.command_path} show", standalone_mode=False
            )
        return super().invoke(ctx)


@click.command("show")
@click.argument("study_name", metavar="STUDY")
@click.option("--storage", default=None, metavar="URL", help="Optuna storage URL.")
@click.option("--datastore", default=None, metavar="URL")
@click.option(
    "--plots",
    "plots_dir",
    default=None,
    metavar="DIR",
    help="Write optimization history, parallel coordinates and slice plots here.",
)
def sweep_show_command(
    study_name: str, storage: str | None, datastore: str | None, plots_dir: str | None
) -> None:
    """Show a study: its trials, the best trial, parameter importances, and plots."""
    import optuna
    from rich.console import Console

    from rayflow.sweeps import default_storage
    from rayflow.sweeps._display import run_status_reader, trials_table

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage or default_storage(datastore_url(datastore))
    try:
        study = optuna.load_study(study_name=study_name, storage=url)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage=url)]
        raise click.ClickException(
            f"no study {study_name!r} in {url} (studies: {', '.join(names) or 'none'})"
        ) from None
    Console().print(
        trials_table(
            study, best_first=False, run_status=run_status_reader(datastore_url(datastore))
        )
    )
    try:
        best = study.best_trial
    except ValueError:
        click.echo("no completed trial yet")
        return
    click.echo(
        f"best trial {best.number}: {best.value:.6g} {best.params} {best.user_attrs.get('run_pathspec', '')}"
    )
    try:
        importances = optuna.importance.get_param_importances(study)
        click.echo("importances: " + ", ".join(f"{k}={v:.2f}" for k, v in importances.items()))
    except (RuntimeError, ValueError, ImportError):
        pass
    from rayflow.sweeps._plots import write_plots

    folder = plots_dir or os.path.join(os.getcwd(), f"{study_name}-plots")
    written = write_plots(study, folder)
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("no plots written (they need plotly installed and at least one finished trial)")
