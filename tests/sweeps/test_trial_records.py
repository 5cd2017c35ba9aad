"""A sweep trial's run records what a CLI run records about its code: the flow's source (code_key)
and the git commit of the repository it lives in (trials used to record neither)."""

from __future__ import annotations

import subprocess
import textwrap

from rayflow import Run
from rayflow.sweeps import Sweep, parse_space

FLOW = textwrap.dedent("""
    from rayflow import FlowSpec, Parameter, step


    class TrialCodeFlow(FlowSpec):
        x = Parameter("x", default=0.0)

        @step
        def start(self):
            self.loss = (self.x - 1) ** 2
            self.next(self.end)

        @step
        def end(self):
            pass
""").lstrip()


def _git(folder, *args) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_sweep_trial_runs_record_code_and_git_commit_like_a_cli_run(
    ray_session, datastore, tmp_path
):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "trial_flow.py").write_text(FLOW)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "flow")
    sweep = Sweep(
        str(repo / "trial_flow.py"),
        datastore=datastore,
        space=parse_space(["x=float:-2:2"]),
        objective="start.loss",
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        concurrency=2,
    )
    study = sweep.run(n_trials=2)
    assert len(study.trials) == 2
    for trial in study.trials:
        run = Run(trial.user_attrs["run_pathspec"])
        assert run.successful
        assert run.code == FLOW
        record = run.record
        assert (
            record["git_commit"] == _git(repo, "rev-parse", "HEAD") and record["git_dirty"] is False
        )
        assert record["git_root"] == str(repo)
        assert run.lineage["code_file"] == "trial_flow.py"
