"""Reading a datastore with damage in it: a damaged run.json or meta.json is named in one line
and every other run and task is still listed; an artifact that cannot be loaded or shown is
marked and the others are shown; a huge artifact is previewed, not dumped."""

from __future__ import annotations

import os
import textwrap

import pytest
from click.testing import CliRunner

from rayflow import Flow, Runner
from rayflow.cli import cli
from rayflow.datastore import paths

SHOW_FLOW = textwrap.dedent("""
    from rayflow import FlowSpec, step


    def _explode():
        raise ValueError("this artifact cannot be loaded")


    class Bomb:
        def __reduce__(self):
            return (_explode, ())


    class BadRepr:
        def __repr__(self):
            raise RuntimeError("repr refuses")


    class ShowFlow(FlowSpec):
        @step
        def start(self):
            self.items = [0, 1, 2]
            self.next(self.work, foreach="items")

        @step
        def work(self):
            self.sq = self.input ** 2
            self.next(self.join)

        @step
        def join(self, inputs):
            self.total = sum(i.sq for i in inputs)
            self.bomb = Bomb()
            self.bad = BadRepr()
            self.big = "x" * (1 << 20)
            self.note = "fine"
            self.next(self.end)

        @step
        def end(self):
            pass
""")


@pytest.fixture
def show_run(ray_session, datastore, write_flow):
    return Runner(write_flow(SHOW_FLOW, "show_flow.py"), datastore=datastore).run()


def _cli(datastore: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--datastore", datastore])


def _truncate(path: str) -> None:
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def test_show_task_marks_the_artifacts_it_cannot_show_and_shows_the_others(show_run, datastore):
    result = _cli(datastore, "show", f"{show_run.pathspec}/join/0")
    assert result.exit_code == 0, result.output
    assert "<cannot show: ValueError: this artifact cannot be loaded>" in result.stdout
    assert "<cannot show: RuntimeError: repr refuses>" in result.stdout
    total = next(line for line in result.stdout.splitlines() if line.strip().startswith("total"))
    assert total.split()[-1] == "5"
    assert "fine" in result.stdout
    assert "Traceback" not in result.output


def test_show_artifact_that_cannot_be_loaded_is_one_line(show_run, datastore):
    result = _cli(datastore, "show", f"{show_run.pathspec}/join/0/bomb")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: artifact {show_run.pathspec}/join/0/bomb cannot be "
        "shown: ValueError: this artifact cannot be loaded"
    )


def test_show_artifact_previews_a_huge_value_unless_asked_for_all(show_run, datastore):
    preview = _cli(datastore, "show", f"{show_run.pathspec}/join/0/big")
    assert preview.exit_code == 0
    assert 4096 < len(preview.stdout) < 5000
    assert "--all" in preview.stderr
    whole = _cli(datastore, "show", f"{show_run.pathspec}/join/0/big", "--all")
    assert whole.exit_code == 0
    assert "x" * (1 << 20) in whole.stdout


def test_a_damaged_meta_json_is_named_and_the_other_tasks_are_shown(show_run, datastore):
    meta = os.path.join(datastore, paths.meta_file("ShowFlow", show_run.run_id, "work", "1"))
    _truncate(meta)
    run = _cli(datastore, "show", show_run.pathspec)
    assert run.exit_code == 0, run.output
    assert f"{meta} is damaged" in run.stderr
    work = next(line for line in run.stdout.splitlines() if line.strip().startswith("work"))
    assert work.split()[:6] == ["work", "3", "2", "0", "0", "1"]  # tasks done cloned failed damaged

    task = _cli(datastore, "show", f"{show_run.pathspec}/work/1")
    assert task.exit_code == 1
    [line] = task.stderr.strip().splitlines()
    assert line.startswith(f"error: task {show_run.pathspec}/work/1: {meta} is damaged (")
    listed = [
        line.split()[0] for line in task.stdout.splitlines()[1:] if line.strip()[:1].isdigit()
    ]
    assert listed == ["0", "2"]
    assert "Traceback" not in task.output


def test_a_damaged_run_json_is_skipped_and_named_by_runs_and_show(show_run, datastore, write_flow):
    newer = Runner(write_flow(SHOW_FLOW, "show_flow.py"), datastore=datastore).run()
    record = os.path.join(datastore, paths.run_file("ShowFlow", newer.run_id))
    _truncate(record)

    runs = _cli(datastore, "runs", "ShowFlow")
    assert runs.exit_code == 0, runs.output
    assert show_run.run_id in runs.stdout and newer.run_id not in runs.stdout
    [line] = runs.stderr.strip().splitlines()
    assert line.startswith(
        f"rayflow: warning: run ShowFlow/{newer.run_id} skipped: {record} is damaged ("
    )

    shown = _cli(datastore, "show", f"ShowFlow/{newer.run_id}")
    assert shown.exit_code == 1
    assert shown.stderr.strip().startswith(
        f"error: run ShowFlow/{newer.run_id}: {record} is damaged"
    )
    assert len(shown.stderr.strip().splitlines()) == 1
    assert Flow("ShowFlow").latest_run.id == show_run.run_id
