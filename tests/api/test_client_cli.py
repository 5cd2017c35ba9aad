"""Past runs read back: the client API and the `runs/show/logs/tag/compare` commands, checked
against the known values of real runs on a real local Ray; lineage, namespaces, async runs."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

import rayflow
from rayflow import (
    DataArtifact,
    Flow,
    NotFound,
    NotInNamespace,
    Run,
    Runner,
    Step,
    Task,
)
from rayflow._lineage import git_info
from rayflow.cli import cli

RAYFLOW = os.path.join(os.path.dirname(sys.executable), "rayflow")

CLIENT_FLOW = textwrap.dedent("""
    import sys

    from rayflow import FlowSpec, Parameter, step


    class ClientFlow(FlowSpec):
        alpha = Parameter("alpha", default=1, type=int)
        label = Parameter("label", default="base")

        @step
        def start(self):
            self.items = [1, 2, 3]
            print(f"starting alpha={self.alpha}")
            print("warming up", file=sys.stderr)
            self.next(self.square, foreach="items")

        @step
        def square(self):
            self.sq = self.input ** 2 * self.alpha
            print(f"square {self.input} -> {self.sq}")
            self.next(self.join)

        @step
        def join(self, inputs):
            self.total = sum(i.sq for i in inputs)
            self.next(self.end)

        @step
        def end(self):
            self.score = self.total / 2
            self.title = f"run-{self.alpha}"
            self.ok = True
            self.matrix = [[1, 2], [3, 4]]
""").lstrip()

FAIL_FLOW = textwrap.dedent("""
    from rayflow import FlowSpec, step


    class FailFlow(FlowSpec):
        @step
        def start(self):
            self.before = 5
            self.next(self.explode)

        @step
        def explode(self):
            raise ValueError("boom at seven")
            self.next(self.end)

        @step
        def end(self):
            pass
""").lstrip()


def _git(folder, *args):
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def history(ray_session, tmp_path_factory):
    """Four real runs in one datastore: ClientFlow alpha=1 and alpha=3 (user tester, the second
    tagged 'best'), ClientFlow alpha=2 by user alice, and a FailFlow whose step raises.
    The flow files live in a fresh git repository with one commit."""
    root = tmp_path_factory.mktemp("history")
    repo = root / "repo"
    repo.mkdir()
    (repo / "client_flow.py").write_text(CLIENT_FLOW)
    (repo / "fail_flow.py").write_text(FAIL_FLOW)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "flows")
    ds = str(root / "ds")
    flow_file = str(repo / "client_flow.py")
    me = os.environ["RAYFLOW_USER"]
    first = Runner(flow_file, datastore=ds).run(alpha=1)
    second = Runner(flow_file, datastore=ds, tags=["best"]).run(alpha=3, label="tuned")
    os.environ["RAYFLOW_USER"] = "alice"
    try:
        alices = Runner(flow_file, datastore=ds).run(alpha=2)
    finally:
        os.environ["RAYFLOW_USER"] = me
    failed = Runner(str(repo / "fail_flow.py"), datastore=ds).run()
    assert first.successful and second.successful and alices.successful
    assert failed.status == "failed"
    return {
        "ds": ds,
        "repo": repo,
        "flow_file": flow_file,
        "me": me,
        "commit": _git(repo, "rev-parse", "HEAD"),
        "first": first.run_id,
        "second": second.run_id,
        "alice": alices.run_id,
        "failed": failed.run_id,
    }


@pytest.fixture
def client(history, monkeypatch):
    """The client pointed at the history's datastore, in every namespace; restored afterwards."""
    monkeypatch.setenv("RAYFLOW_DATASTORE", history["ds"])
    rayflow.metadata(history["ds"])
    rayflow.namespace(None)
    yield history
    rayflow.metadata(None)
    rayflow.default_namespace()


def invoke(*args, **kwargs):
    result = CliRunner().invoke(cli, list(args), **kwargs)
    return result


# -- client ---------------------------------------------------------------------------------


def test_flow_lists_runs_newest_first_with_latest_and_latest_successful(client):
    flow = Flow("ClientFlow")
    ids = [r.id for r in flow.runs()]
    assert ids == [client["alice"], client["second"], client["first"]]
    assert flow.latest_run.id == client["alice"]
    assert flow.latest_successful_run.id == client["alice"]
    assert [r.id for r in flow.runs("best")] == [client["second"]]
    assert Flow("FailFlow").latest_successful_run is None


def test_run_exposes_data_steps_tasks_parameters_and_times(client):
    run = Run(f"ClientFlow/{client['second']}")
    assert run.successful and run.finished and run.status == "successful"
    assert run.parameters == {"alpha": 3, "label": "tuned"}
    assert run.data.total == 42 and run.data.score == 21.0 and run.data.title == "run-3"
    assert [s.id for s in run] == ["start", "square", "join", "end"]
    assert [t.data.sq for t in run["square"].tasks()] == [3, 12, 27]
    assert [t.index for t in run["square"]] == [0, 1, 2]
    assert run["square"]["2"]["sq"].data == 27
    assert "total" in run["end"].task and "nothing" not in run["end"].task
    assert run.created_at <= run["end"].task.finished_at <= run.finished_at
    assert run.user_tags == frozenset({"best"})
    assert f"user:{client['me']}" in run.system_tags and "runtime:dev" in run.system_tags
    assert run.tags == run.user_tags | run.system_tags
    assert isinstance(run.created_at, datetime.datetime) and run.finished
    assert run["end"].task.parent.parent.id == run.id and run.parent.id == "ClientFlow"
    assert run["end"].task.artifacts.matrix.data == [[1, 2], [3, 4]]
    assert run.origin_pathspec is None
    art = DataArtifact(f"ClientFlow/{client['second']}/end/0/matrix")
    assert art.data == [[1, 2], [3, 4]] and art.size > 0
    assert Step(f"ClientFlow/{client['second']}/square").task.data.sq == 3


def test_task_keeps_logs_metadata_and_the_exception_of_a_failed_step(client):
    start = Task(f"ClientFlow/{client['first']}/start/0")
    assert start.stdout == "starting alpha=1\n"
    assert start.stderr == "warming up\n"
    assert Task(f"ClientFlow/{client['first']}/square/1").stdout == "square 2 -> 4\n"
    meta = start.record
    assert meta["attempt"] == 0 and meta["host"] and meta["node_id"]
    assert meta["started_at"] <= meta["finished_at"]
    assert start.exception is None and start.finished

    run = Run(f"FailFlow/{client['failed']}")
    assert run.status == "failed" and not run.successful and run.data is None
    boom = Task(f"FailFlow/{client['failed']}/explode/0")
    assert not boom.finished
    assert boom.exception.type == "builtins.ValueError"
    assert boom.exception.exception == "boom at seven"
    assert "explode" in boom.exception.stacktrace and "explode" in str(boom.exception)
    assert boom.stderr.rstrip().endswith(
        "ValueError: boom at seven"
    )  # the traceback, as in Metaflow
    assert not run.finished
    assert Task(f"FailFlow/{client['failed']}/start/0").data.before == 5


def test_lineage_records_code_versions_user_host_and_git_commit(client):
    run = Run(f"ClientFlow/{client['first']}")
    assert run.code == CLIENT_FLOW
    record = run.record
    assert record["python"] == ".".join(map(str, sys.version_info[:3]))
    import ray

    assert record["ray_version"] == ray.__version__
    assert record["rayflow_version"] == "0.1.0"
    assert record["user"] == client["me"] and record["host"]
    assert record["git_commit"] == client["commit"]
    assert record["git_dirty"] is False
    assert run.lineage["code_file"] == "client_flow.py"


def test_git_info_reports_dirty_tracked_changes_and_nothing_outside_a_repo(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "f.py").write_text("x = 1\n")
    assert git_info(str(repo / "f.py")) == {}
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    clean = git_info(str(repo / "f.py"))
    assert clean["git_commit"] == _git(repo, "rev-parse", "HEAD") and clean["git_dirty"] is False
    (repo / "f.py").write_text("x = 2\n")
    assert git_info(str(repo / "f.py"))["git_dirty"] is True


def test_resume_records_lineage_and_its_origin(client):
    again = Runner(os.path.join(client["repo"], "fail_flow.py"), datastore=client["ds"]).resume(
        origin_run_id=client["failed"]
    )
    assert again.status == "failed"
    run = again.run
    assert run.origin_pathspec == f"FailFlow/{client['failed']}"
    assert run.code == FAIL_FLOW
    assert run["start"].task.origin_pathspec == f"FailFlow/{client['failed']}/start/0"


def test_missing_objects_raise_not_found_naming_what_was_asked(client):
    run_id = client["first"]
    cases = [
        (lambda: Flow("NoSuchFlow"), "flow NoSuchFlow not found"),
        (
            lambda: Run("ClientFlow/19990101T000000-dead"),
            "run ClientFlow/19990101T000000-dead not found",
        ),
        (lambda: Step(f"ClientFlow/{run_id}/nostep"), f"step ClientFlow/{run_id}/nostep not found"),
        (
            lambda: Task(f"ClientFlow/{run_id}/square/9"),
            f"task ClientFlow/{run_id}/square/9 not found",
        ),
        (
            lambda: DataArtifact(f"ClientFlow/{run_id}/end/0/nope"),
            f"artifact ClientFlow/{run_id}/end/0/nope not found",
        ),
        (lambda: Run("ClientFlow"), "Run pathspec must look like Flow/run_id"),
    ]
    for make, message in cases:
        with pytest.raises(NotFound, match=message.replace("/", "/")):
            make()
    run = Run(f"ClientFlow/{run_id}")
    with pytest.raises(KeyError, match="has no step 'nostep'"):
        run["nostep"]
    with pytest.raises(KeyError, match="has no task '7'"):
        run["square"]["7"]
    with pytest.raises(KeyError, match="has no artifact 'nope'"):
        run["end"].task["nope"]
    with pytest.raises(AttributeError, match="has no artifact 'nope'"):
        run.data.nope


def test_namespaces_follow_metaflows_rules(client):
    me = client["me"]
    assert rayflow.default_namespace() == f"user:{me}"
    assert rayflow.get_namespace() == f"user:{me}"
    assert [r.id for r in Flow("ClientFlow").runs()] == [client["second"], client["first"]]
    with pytest.raises(NotInNamespace, match=f"not in namespace 'user:{me}'.*namespace\\(None\\)"):
        Run(f"ClientFlow/{client['alice']}")
    with pytest.raises(NotInNamespace):
        Task(f"ClientFlow/{client['alice']}/end/0")
    rayflow.namespace("user:alice")
    assert [r.id for r in Flow("ClientFlow").runs()] == [client["alice"]]
    rayflow.namespace("best")
    assert [r.id for r in Flow("ClientFlow").runs()] == [client["second"]]
    rayflow.namespace(None)
    assert rayflow.get_namespace() is None
    assert len(Flow("ClientFlow").runs()) == 3
    assert Run(f"ClientFlow/{client['alice']}").data.total == 28


def test_get_metadata_names_the_datastore_in_use(client, tmp_path):
    assert rayflow.get_metadata() == f"local@{client['ds']}"
    other = str(tmp_path / "elsewhere")
    assert rayflow.metadata(other) == f"local@{other}"
    with pytest.raises(NotFound, match=f"flow ClientFlow not found in local@{other}"):
        Flow("ClientFlow")
    rayflow.metadata(client["ds"])
    assert Flow("ClientFlow").latest_run is not None


# -- CLI ------------------------------------------------------------------------------------


def test_runs_lists_every_run_newest_first_with_status_tags_and_parameters(client):
    result = invoke("runs", "ClientFlow", "--datastore", client["ds"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "successful" in line]
    assert [line.split()[0] for line in lines] == [
        client["alice"],
        client["second"],
        client["first"],
    ]
    assert "best" in lines[1] and "alpha=3" in lines[1] and "label=tuned" in lines[1]
    assert "alpha=1" in lines[2] and "best" not in lines[2]
    only = invoke("runs", "ClientFlow", "--tag", "best", env={"RAYFLOW_DATASTORE": client["ds"]})
    assert client["second"] in only.stdout and client["first"] not in only.stdout
    mine = invoke("runs", "ClientFlow", "--namespace", "user:alice", "--datastore", client["ds"])
    assert client["alice"] in mine.stdout and client["second"] not in mine.stdout
    failed = invoke("runs", "FailFlow", "--datastore", client["ds"])
    assert "failed" in failed.stdout


def test_show_run_prints_status_parameters_lineage_and_steps_with_task_counts(client):
    result = invoke("show", f"ClientFlow/{client['second']}", "--datastore", client["ds"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "status    successful" in out
    assert "alpha=3, label=tuned" in out
    assert "tags      best" in out
    assert f"git {client['commit'][:12]}" in out and "dirty" not in out
    rows = {
        line.split()[0]: line.split()[1:5]
        for line in out.splitlines()
        if line.strip() and line.split()[0] in ("start", "square", "join", "end")
    }
    assert rows == {
        "start": ["1", "1", "0", "0"],
        "square": ["3", "3", "0", "0"],
        "join": ["1", "1", "0", "0"],
        "end": ["1", "1", "0", "0"],
    }


def test_show_run_code_prints_the_flow_source_that_ran(client):
    result = invoke("show", f"ClientFlow/{client['first']}", "--code", "--datastore", client["ds"])
    assert result.exit_code == 0, result.output
    assert result.stdout == CLIENT_FLOW


def test_show_task_lists_artifacts_with_types_and_sizes(client):
    result = invoke("show", f"ClientFlow/{client['second']}/end/0", "--datastore", client["ds"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["total"][1:2] == ["int"] and rows["total"][-1] == "42"
    assert rows["score"][1] == "float" and rows["score"][-1] == "21.0"
    assert rows["ok"][1] == "bool" and rows["title"][1] == "str" and rows["matrix"][1] == "list"
    size = Task(f"ClientFlow/{client['second']}/end/0")["matrix"].size
    assert rows["matrix"][2:4] == [str(size), "B"]
    failed = invoke("show", f"FailFlow/{client['failed']}/explode/0", "--datastore", client["ds"])
    assert "exception ValueError: boom at seven" in failed.stdout
    step = invoke("show", f"ClientFlow/{client['second']}/square", "--datastore", client["ds"])
    assert "3 task(s)" in step.stdout
    value = invoke(
        "show", f"ClientFlow/{client['second']}/end/0/matrix", "--datastore", client["ds"]
    )
    assert value.stdout.splitlines()[-1] == "[[1, 2], [3, 4]]"


def test_show_of_a_flow_file_still_prints_its_graph(client):
    result = invoke("show", client["flow_file"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ClientFlow  (4 steps)")


def test_logs_prints_prefixed_stdout_and_stderr_of_a_task_or_a_step(client):
    run_id = client["first"]
    task = invoke("logs", f"ClientFlow/{run_id}/start/0", "--datastore", client["ds"])
    assert task.exit_code == 0, task.output
    assert task.stdout == "[start/0] starting alpha=1\n"
    assert task.stderr == "[start/0] warming up\n"
    step = invoke("logs", f"ClientFlow/{run_id}/square", "--datastore", client["ds"])
    assert step.stdout.splitlines() == [
        "[square/0] square 1 -> 1",
        "[square/1] square 2 -> 4",
        "[square/2] square 3 -> 9",
    ]
    only_err = invoke(
        "logs", f"ClientFlow/{run_id}/start/0", "--stderr", "--datastore", client["ds"]
    )
    assert only_err.stdout == "" and only_err.stderr == "[start/0] warming up\n"


def test_tag_add_and_remove_are_reflected_in_run_tags(client):
    spec = f"ClientFlow/{client['first']}"
    added = invoke("tag", "add", spec, "keep", "v2", "--datastore", client["ds"])
    assert added.exit_code == 0, added.output
    assert Run(spec).user_tags == frozenset({"keep", "v2"})
    assert [r.id for r in Flow("ClientFlow").runs("keep")] == [client["first"]]
    removed = invoke("tag", "remove", spec, "v2", "--datastore", client["ds"])
    assert removed.exit_code == 0 and removed.stdout.strip() == f"{spec}: keep"
    assert Run(spec).user_tags == frozenset({"keep"})
    refused = invoke("tag", "remove", spec, f"user:{client['me']}", "--datastore", client["ds"])
    assert refused.exit_code == 1 and refused.stderr.startswith("error: cannot remove system tag")
    assert f"user:{client['me']}" in Run(spec).system_tags
    again = invoke("tag", "add", spec, f"user:{client['me']}", "--datastore", client["ds"])
    assert again.exit_code == 0 and "is already a system tag" in again.stderr
    assert Run(spec).user_tags == frozenset({"keep"})
    Run(spec).remove_tag("keep")
    assert Run(spec).user_tags == frozenset()


def test_compare_puts_parameters_and_scalar_artifacts_side_by_side(client):
    result = invoke(
        "compare", f"ClientFlow/{client['first']}", client["second"], "--datastore", client["ds"]
    )
    assert result.exit_code == 0, result.output
    rows = {
        " ".join(line.split()[:3]): line.split()
        for line in result.stdout.splitlines()
        if line.strip()
    }
    assert rows["* param alpha"][3:] == ["1", "3"]
    assert rows["* artifact total"][3:] == ["14", "42"]
    assert rows["* artifact score"][3:] == ["7.0", "21.0"]
    assert rows["artifact ok True"] == ["artifact", "ok", "True", "True"]  # same value: no marker
    assert not any("matrix" in line for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    "args, message",
    [
        (["runs", "NoSuchFlow"], "error: flow NoSuchFlow not found"),
        (
            ["show", "ClientFlow/19990101T000000-dead"],
            "error: run ClientFlow/19990101T000000-dead not found",
        ),
        (["show", "ClientFlow/{first}/nostep"], "error: step ClientFlow/{first}/nostep not found"),
        (["show", "ClientFlow/{first}/end/5"], "error: task ClientFlow/{first}/end/5 not found"),
        (
            ["show", "ClientFlow/{first}/end/0/nope"],
            "error: task ClientFlow/{first}/end/0 has no artifact 'nope'",
        ),
        (
            ["logs", "ClientFlow/{first}/square/8"],
            "error: task ClientFlow/{first}/square/8 not found",
        ),
        (
            ["tag", "add", "ClientFlow/19990101T000000-dead", "x"],
            "error: run ClientFlow/19990101T000000-dead not found",
        ),
        (
            ["compare", "ClientFlow/{first}", "19990101T000000-dead"],
            "error: run ClientFlow/19990101T000000-dead not found",
        ),
    ],
)
def test_missing_objects_are_one_error_line_and_exit_1(client, args, message):
    args = [a.format(first=client["first"]) for a in args]
    result = (
        invoke(*args, "--datastore", client["ds"])
        if args[0] != "tag"
        else invoke(*args[:2], "--datastore", client["ds"], *args[2:])
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [result.stderr.splitlines()[0]]
    assert result.stderr.startswith(message.format(first=client["first"]))


def test_the_real_command_exits_1_with_one_error_line(client):
    proc = subprocess.run(
        [RAYFLOW, "show", "ClientFlow/19990101T000000-dead", "--datastore", client["ds"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert (
        proc.stderr
        == f"error: run ClientFlow/19990101T000000-dead not found in local@{client['ds']}\n"
    )


# -- async runs -----------------------------------------------------------------------------


def test_async_run_reports_its_id_at_once_then_finishes_with_its_results(client, tmp_path):
    ds = str(tmp_path / "async-ds")
    handle = Runner(client["flow_file"], datastore=ds).async_run(alpha=2)
    run_id = handle.run_id
    assert handle.status in ("running", "successful")
    assert handle.run.id == run_id
    handle.run.add_tag("started-async")  # tagged while running: the run's last write keeps it
    assert handle.wait(timeout=120) is handle
    assert handle.status == "successful" and handle.successful
    run = handle.run
    assert run.data.total == 28 and run.parameters == {"alpha": 2, "label": "base"}
    assert "started-async" in Run(f"ClientFlow/{run_id}").tags
    assert handle.outcome.run_id == run_id


def test_async_run_hands_a_start_up_error_to_wait(client, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    handle = Runner(client["flow_file"], datastore=str(blocker / "ds")).async_run()
    with pytest.raises(rayflow.datastore.DatastoreError):
        handle.wait(timeout=60)
    assert handle.status == "failed"
