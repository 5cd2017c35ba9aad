"""``python flow.py logs|dump|tag`` answer as Metaflow's do, with Metaflow's options (found by
running Metaflow's own test/core through benchmarks/metaflow_suite.py). One real run, shared."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import pytest

FLOW = """
from rayflow import FlowSpec, Task, current, step


class CompatFlow(FlowSpec):
    LIMIT = 3

    @step
    def start(self):
        run = Task(current.pathspec).parent.parent
        run.add_tag("seen-from-start")
        self.mine = run.pathspec
        self._hidden = "private"
        self.big = "x" * 5000
        print("start says hi")
        self.next(self.a, self.b)

    @step
    def a(self):
        self.v = 1
        self.next(self.join)

    @step
    def b(self):
        self.v = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.v for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("line one")
        print("line two")


if __name__ == "__main__":
    CompatFlow()
"""

TOP = [
    "--metadata=local",
    "--datastore=local",
    "--environment=local",
    "--event-logger=nullSidecarLogger",
    "--no-pylint",
]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    where = tmp_path_factory.mktemp("compat")
    (where / "flow.py").write_text(textwrap.dedent(FLOW).lstrip())
    env = {k: v for k, v in os.environ.items() if k != "RAYFLOW_DATASTORE"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "flow.py", *TOP, *args],
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
        )

    proc = cli("--quiet", "run", "--run-id-file", "run-id", "--tag", "刺身 means sashimi")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return cli, (where / "run-id").read_text(), where


@pytest.mark.timeout(300)
def test_metaflow_top_level_options_are_accepted_and_a_step_reads_its_own_task(ran):
    cli, run_id, _ = ran
    proc = cli("dump", "--include", "mine", "--file", "out.pkl", f"{run_id}/start")
    assert proc.returncode == 0, proc.stderr
    _, _, where = ran
    with open(where / "out.pkl", "rb") as f:
        found = pickle.load(f)
    assert list(found.values()) == [{"mine": f"CompatFlow/{run_id}"}]


@pytest.mark.timeout(300)
def test_logs_of_a_single_task_is_its_raw_output(ran):
    cli, run_id, _ = ran
    proc = cli("--quiet", "logs", "--stdout", f"{run_id}/end")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "line one\nline two\n"


@pytest.mark.timeout(300)
def test_dump_file_pickles_every_task_of_a_step_and_honours_private_and_max_value_size(ran):
    cli, run_id, where = ran
    proc = cli("dump", "--file", "a.pkl", f"{run_id}/start")
    assert proc.returncode == 0, proc.stderr
    with open(where / "a.pkl", "rb") as f:
        (values,) = pickle.load(f).values()
    assert "_hidden" not in values and "big" not in values and values["LIMIT"] == 3
    proc = cli(
        "dump", "--private", "--max-value-size", "100000", "--file", "b.pkl", f"{run_id}/start"
    )
    assert proc.returncode == 0, proc.stderr
    with open(where / "b.pkl", "rb") as f:
        (values,) = pickle.load(f).values()
    assert values["_hidden"] == "private" and values["big"] == "x" * 5000
    shown = cli("dump", f"{run_id}/start/0")
    assert shown.returncode == 0 and "mine (str)" in shown.stdout
    assert "big: " in shown.stdout and "over --max-value-size 1000 (not shown)" in shown.stdout
    proc = cli("dump", "--include", "v", "--file", "c.pkl", f"{run_id}/a")
    with open(where / "c.pkl", "rb") as f:
        assert list(pickle.load(f).values()) == [{"v": 1}]


@pytest.mark.timeout(300)
def test_flow_constants_are_artifacts_of_a_branching_start_and_of_joins(ran):
    cli, run_id, where = ran
    for step in ("start", "a", "join", "end"):
        proc = cli("dump", "--include", "LIMIT", "--file", f"{step}.pkl", f"{run_id}/{step}")
        assert proc.returncode == 0, proc.stderr
        with open(where / f"{step}.pkl", "rb") as f:
            assert list(pickle.load(f).values()) == [{"LIMIT": 3}], step


@pytest.mark.timeout(300)
def test_tag_commands_take_run_id_and_list_flat_on_stderr(ran):
    cli, run_id, _ = ran

    def user_tags() -> set[str]:
        proc = cli("tag", "list", "--flat", "--hide-system-tags", "--run-id", run_id)
        assert proc.returncode == 0, proc.stderr
        return set(proc.stderr.splitlines()[1:])

    assert user_tags() == {"刺身 means sashimi", "seen-from-start"}
    assert cli("tag", "add", "--run-id", run_id, "AAA", "BBB").returncode == 0
    assert (
        cli(
            "tag",
            "replace",
            "--run-id",
            run_id,
            "--remove",
            "AAA",
            "--remove",
            "BBB",
            "--add",
            "BBB",
            "--add",
            "CCC",
        ).returncode
        == 0
    )
    assert cli("tag", "replace", "--run-id", run_id, "CCC", "DDD").returncode == 0
    assert cli("tag", "remove", "--run-id", run_id, "seen-from-start").returncode == 0
    assert user_tags() == {"刺身 means sashimi", "BBB", "DDD"}
    everything = cli("tag", "list", "--flat", "--run-id", run_id).stderr.splitlines()[1:]
    system = set(everything) - user_tags()
    assert "user:" + os.environ.get("USER", "root") in system or any(
        t.startswith("user:") for t in system
    )
    # a system tag given to `add` is not made a user tag; removing one fails and removes nothing
    some_system = sorted(system)[0]
    assert cli("tag", "add", "--run-id", run_id, some_system).returncode == 0
    assert some_system not in user_tags()
    assert cli("tag", "remove", "--run-id", run_id, "BBB", some_system).returncode != 0
    assert "BBB" in user_tags()
    # tags that are empty, too long or not UTF-8 are refused
    for bad in ("", "a" * 600):
        assert cli("tag", "add", "--run-id", run_id, bad).returncode != 0
    raw = subprocess.run(
        [sys.executable, "flow.py", "tag", "add", "--run-id", run_id, b"\xff\xfe"],
        cwd=ran[2],
        capture_output=True,
        timeout=150,
    )
    assert raw.returncode != 0
    assert user_tags() == {"刺身 means sashimi", "BBB", "DDD"}
