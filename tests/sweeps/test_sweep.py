"""Sweeps on real Optuna studies (SQLite in a temp folder) and a real local Ray."""

from __future__ import annotations

import os
import signal

import optuna
import pytest
from optuna.trial import TrialState

from rayflow import Run
from rayflow.sweeps import SpaceError, Sweep, SweepError, parse_space

from .drivers import Driver, gate_args, wait_for
from .flows import CurveFlow, QuadFlow, TimedFlow

HERE = os.path.dirname(os.path.abspath(__file__))


def _sweep(flow, tmp_path, datastore, **kwargs):
    kwargs.setdefault("storage", f"sqlite:///{tmp_path / 'study.db'}")
    return Sweep(flow, datastore=datastore, **kwargs)


def test_sweep_finds_the_minimum_of_a_quadratic(ray_session, datastore, tmp_path):
    space = parse_space(["x=float:-5:5", "y=float:-5:5"])
    study = _sweep(
        QuadFlow,
        tmp_path,
        datastore,
        space=space,
        objective="start.loss",
        sampler=optuna.samplers.TPESampler(seed=1),
        concurrency=4,
    ).run(n_trials=40)
    assert len(study.trials) == 40
    assert study.best_value < 1.0
    assert abs(study.best_params["x"] - 2) < 1.0 and abs(study.best_params["y"] + 1) < 1.0
    best = study.best_trial
    run = Run(best.user_attrs["run_pathspec"])
    assert run.successful
    assert f"trial:{best.number}" in run.tags and "study:QuadFlow" in run.tags
    assert run["start"].task.data.trial["number"] == best.number
    assert run["start"].task.data.loss == pytest.approx(best.value)


def test_concurrency_really_runs_k_flows_at_once(ray_session, datastore, tmp_path):
    space = parse_space(["x=float:0:1"])
    study = _sweep(
        TimedFlow,
        tmp_path,
        datastore,
        space=space,
        objective="start.loss",
        concurrency=2,
        params={"sleep": 1.0},
    ).run(n_trials=4)
    spans = []
    for t in study.trials:
        task = Run(t.user_attrs["run_pathspec"])["start"].task
        spans.append((task.data.began, task.data.ended))
    spans.sort()
    overlaps = sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1])
    assert overlaps >= 1
    concurrency_1 = _sweep(
        TimedFlow,
        tmp_path,
        datastore,
        space=space,
        objective="start.loss",
        study_name="serial",
        concurrency=1,
        params={"sleep": 0.3},
    ).run(n_trials=3)
    serial = sorted(
        (
            Run(t.user_attrs["run_pathspec"])["start"].task.data.began,
            Run(t.user_attrs["run_pathspec"])["start"].task.data.ended,
        )
        for t in concurrency_1.trials
    )
    assert all(b[0] >= a[1] for a, b in zip(serial, serial[1:]))


def test_pruning_stops_bad_trials_early(ray_session, datastore, tmp_path):
    folder = tmp_path / "marks"
    folder.mkdir()
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    space = parse_space(["x=categorical:0,0.1,0.2,5,6,7,8,9"])
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    ordered = optuna.create_study(study_name="CurveFlow", storage=storage)
    for x in (0, 0.1, 0.2, 5, 6, 7, 8, 9):  # good trials first, so the median is a good one
        ordered.enqueue_trial({"x": x})
    sweep = _sweep(
        CurveFlow,
        tmp_path,
        datastore,
        space=space,
        objective="loss",
        storage=storage,
        pruner=pruner,
        concurrency=1,
        params={"folder": str(folder)},
    )
    study = sweep.run(n_trials=8)
    states = {t.params["x"]: t.state for t in study.trials}
    assert states[0] == TrialState.COMPLETE
    pruned = [x for x, s in states.items() if s == TrialState.PRUNED]
    assert pruned and all(x >= 5 for x in pruned)
    for x in pruned:
        assert not (folder / f"done-{x}").exists()  # the end step of a pruned run never ran
        run = Run(next(t for t in study.trials if t.params["x"] == x).user_attrs["run_pathspec"])
        assert run.status == "pruned"


def test_a_failing_trial_does_not_stop_the_sweep(ray_session, datastore, tmp_path):
    space = parse_space(["x=categorical:1,2,3,4"])
    study = _sweep(
        QuadFlow,
        tmp_path,
        datastore,
        space=space,
        objective="start.loss",
        sampler="grid",
        params={"fail_above": 2.5},
        concurrency=2,
    ).run(n_trials=4)
    by_x = {t.params["x"]: t for t in study.trials}
    assert by_x[3].state == TrialState.FAIL and "x too large" in by_x[3].user_attrs["fail_reason"]
    assert by_x[4].state == TrialState.FAIL
    assert by_x[1].state == TrialState.COMPLETE and by_x[2].state == TrialState.COMPLETE
    assert study.best_value == pytest.approx((2 - 2) ** 2 + 1)


def test_missing_objective_artifact_fails_the_trial_with_the_reason(
    ray_session, datastore, tmp_path
):
    space = parse_space(["x=float:0:1"])
    study = _sweep(QuadFlow, tmp_path, datastore, space=space, objective="nope", concurrency=1).run(
        n_trials=1
    )
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    assert "no artifact 'nope'" in trial.user_attrs["fail_reason"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("x=float:5:1", "LOW must be below HIGH"),
        ("x=float:a:1", "not a valid float"),
        ("x=int:1:5:0", "STEP >= 1"),
        ("x=normal:0:1", "unknown kind 'normal'"),
        ("x", "expected NAME=SPEC"),
        ("x=float:0:1:log", "log scale needs LOW > 0"),
    ],
)
def test_bad_space_specs_are_rejected_clearly(spec, message):
    with pytest.raises(SpaceError, match=message):
        parse_space([spec])


def test_space_forms_are_parsed():
    space = parse_space(["a=float:0.001:0.1:log", "b=int:1:9:2", "c=categorical:relu,tanh,3"])
    assert space["a"].log and space["a"].low == 0.001
    assert space["b"].step == 2 and space["b"].high == 9
    assert space["c"].choices == ("relu", "tanh", 3)


def test_unknown_parameter_name_in_space_is_rejected(datastore, tmp_path):
    with pytest.raises(SweepError, match="--space z: QuadFlow has no such parameter"):
        _sweep(QuadFlow, tmp_path, datastore, space=parse_space(["z=float:0:1"]), objective="loss")


@pytest.mark.timeout(300)
def test_killed_driver_then_rerun_finishes_without_duplicates(datastore, tmp_path):
    """SIGKILL the only driver mid-sweep, run the same command again: the restart fails the dead
    driver's trials once their heartbeats are older than the grace period, tries their
    parameters again, and the study ends with exactly the asked number of complete trials."""
    storage, gate = f"sqlite:///{tmp_path / 'study.db'}", str(tmp_path / "gate")
    args = gate_args(storage, "GateFlow", datastore, gate, 4)
    first = Driver(args)
    try:
        before = wait_for(
            storage,
            "GateFlow",
            lambda ts: (
                sum(
                    1
                    for t in ts
                    if t.state == TrialState.RUNNING and t.user_attrs.get("run_pathspec")
                )
                == 2
            ),
            [first],
        )
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait(timeout=30)
    finally:
        first.kill()
    running = {t.number: t.params["x"] for t in before if t.state == TrialState.RUNNING}
    open(gate, "w").close()
    again = Driver(args)
    try:
        code = again.finish()
    finally:
        again.kill()
    assert code == 0, again.output
    assert "marked failed and queued again" in again.output
    after = optuna.load_study(study_name="GateFlow", storage=storage).trials
    complete = [t for t in after if t.state == TrialState.COMPLETE]
    assert len(complete) == 4
    assert sorted(t.number for t in after if t.state == TrialState.FAIL) == sorted(running)
    assert sorted(t.params["x"] for t in complete if "failed_trial" in t.system_attrs) == sorted(
        running.values()
    )


@pytest.mark.timeout(300)
def test_ctrl_c_finishes_the_driver_s_running_trials_as_failed_and_exits_130(datastore, tmp_path):
    storage, gate = f"sqlite:///{tmp_path / 'study.db'}", str(tmp_path / "gate")
    driver = Driver(gate_args(storage, "GateFlow", datastore, gate, 4))
    try:
        wait_for(
            storage,
            "GateFlow",
            lambda ts: (
                sum(
                    1
                    for t in ts
                    if t.state == TrialState.RUNNING and t.user_attrs.get("run_pathspec")
                )
                == 2
            ),
            [driver],
        )
        os.kill(driver.pid, signal.SIGINT)
        code = driver.finish(timeout=120)
    finally:
        driver.kill()
    assert code == 130, driver.output
    assert "marked failed in the study: interrupted (Ctrl-C)" in driver.output
    assert "sweep interrupted" in driver.output and "Traceback" not in driver.output
    trials = optuna.load_study(study_name="GateFlow", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all("interrupted (Ctrl-C)" in t.user_attrs["fail_reason"] for t in trials)
    assert [Run(t.user_attrs["run_pathspec"]).status for t in trials] == ["failed", "failed"]


def test_python_sweep_takes_the_cli_s_spec_strings(ray_session, datastore, tmp_path):
    study = _sweep(
        QuadFlow,
        tmp_path,
        datastore,
        space={"x": "float:-1:1", "y": "categorical:-1,0"},
        objective="start.loss",
        concurrency=2,
    ).run(n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert all(-1 <= t.params["x"] <= 1 and t.params["y"] in (-1, 0) for t in study.trials)


@pytest.mark.parametrize(
    "space, message",
    [
        ({"x": "float:5:1"}, "space['x'] = 'float:5:1': LOW must be below HIGH"),
        ({"x": (0, 1)}, "space['x'] = (0, 1): expected a SPEC string such as 'float:-1:1'"),
    ],
)
def test_python_sweep_says_which_space_form_it_expects(datastore, tmp_path, space, message):
    with pytest.raises(SweepError) as caught:
        _sweep(QuadFlow, tmp_path, datastore, space=space, objective="loss")
    assert str(caught.value).startswith(message)


def test_sweep_command_then_sweep_show_prints_trials_and_writes_offline_plots(
    ray_session, datastore, tmp_path
):
    from click.testing import CliRunner

    from rayflow.cli import cli

    storage = f"sqlite:///{tmp_path / 'cli.db'}"
    ran = CliRunner().invoke(
        cli,
        [
            "sweep",
            f"{HERE}/flows.py:QuadFlow",
            "--space",
            "x=float:-3:3",
            "--space",
            "y=categorical:-1,0",
            "--objective",
            "loss",
            "--trials",
            "5",
            "--concurrency",
            "2",
            "--storage",
            storage,
            "--study",
            "cli-study",
            "--sampler",
            "random",
            "--datastore",
            datastore,
        ],
    )
    assert ran.exit_code == 0, ran.output
    study = optuna.load_study(study_name="cli-study", storage=storage)
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) == 5
    assert {t.params["y"] for t in study.trials} <= {"-1", "0", -1, 0}

    plots = tmp_path / "plots"
    shown = CliRunner().invoke(
        cli, ["sweep", "show", "cli-study", "--storage", storage, "--plots", str(plots)]
    )
    assert shown.exit_code == 0, shown.output
    best = study.best_trial
    assert f"best trial {best.number}: {best.value:.6g}" in shown.output
    assert best.user_attrs["run_pathspec"] in shown.output
    written = sorted(p.name for p in plots.iterdir())
    assert written == ["optimization_history.html", "parallel_coordinate.html", "slice.html"]
    page = (plots / "optimization_history.html").read_text()
    assert '<script src="http' not in page and "Plotly.newPlot" in page

    missing = CliRunner().invoke(cli, ["sweep", "show", "nope", "--storage", storage])
    assert missing.exit_code != 0 and "no study 'nope'" in missing.output
    assert "cli-study" in missing.output


def test_a_space_function_naming_an_unknown_parameter_stops_the_sweep_and_leaves_nothing_running(
    ray_session, datastore, tmp_path
):
    sweep = _sweep(
        QuadFlow,
        tmp_path,
        datastore,
        space=lambda t: {"z": t.suggest_float("z", 0, 1)},
        objective="loss",
    )
    with pytest.raises(
        SweepError, match="space returned 'z', which is not a parameter of QuadFlow"
    ):
        sweep.run(n_trials=2)
    trials = optuna.load_study(study_name="QuadFlow", storage=sweep.storage_url).trials
    assert [t.state for t in trials] == [TrialState.FAIL]
    assert "space returned 'z'" in trials[0].user_attrs["fail_reason"]
