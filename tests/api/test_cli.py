"""The ``rayflow`` command line, in-process with click's CliRunner and as real processes."""

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from rayflow.cli import cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RAYFLOW = os.path.join(os.path.dirname(sys.executable), "rayflow")
HELLO = os.path.join(REPO, "examples", "hello.py")

BRANCHY = """
from rayflow import FlowSpec, Parameter, step


class BranchyFlow(FlowSpec):
    alpha = Parameter("alpha", default=1, help="how much alpha to use")
    beta = Parameter("beta", default="b", help="the beta label")

    @step
    def start(self):
        \"\"\"Begin here.\"\"\"
        self.items = list(range(self.alpha))
        self.next(self.left, self.right)

    @step
    def left(self):
        self.next(self.join)

    @step
    def right(self):
        self.next(self.fan, foreach="items")

    @step
    def fan(self):
        self.v = self.input * 10
        print(f"fan {self.input}")
        self.next(self.fan_join)

    @step
    def fan_join(self, inputs):
        self.total = sum(i.v for i in inputs)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = inputs.fan_join.total
        self.label = inputs.left.beta
        self.next(self.end)

    @step
    def end(self):
        print(f"total={self.total} label={self.label}")


if __name__ == "__main__":
    BranchyFlow()
"""

BROKEN_GRAPH = """
from rayflow import FlowSpec, step


class BrokenFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.nowhere)

    @step
    def end(self):
        pass
"""


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "RAYFLOW_DATASTORE"}
    env.update(extra)
    return env


def test_rayflow_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "check", "show"):
        assert command in result.output


def test_check_accepts_a_good_flow(write_flow):
    path = write_flow(BRANCHY)
    result = CliRunner().invoke(cli, ["check", path])
    assert result.exit_code == 0, result.output
    assert "BranchyFlow: the graph looks good (7 steps)" in result.output


def test_check_of_a_broken_graph_exits_1_with_problems_on_stderr(write_flow):
    path = write_flow(BROKEN_GRAPH)
    proc = subprocess.run([RAYFLOW, "check", path], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"{path}:7: step 'start': self.next() names unknown step 'nowhere'",
        "error: the flow has 1 problem(s); nothing was run",
    ]
    assert proc.stdout == ""


def test_show_lists_steps_and_transitions(write_flow):
    path = write_flow(BRANCHY)
    result = CliRunner().invoke(cli, ["show", path])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("BranchyFlow  (7 steps)")
    steps = [line.split()[1] for line in out.splitlines() if line.startswith("step ")]
    assert steps == ["start", "left", "right", "fan", "fan_join", "join", "end"]
    assert "step start  [split]" in out
    assert "    Begin here." in out
    assert "    => left, right" in out
    assert "step right  [foreach]" in out
    assert "    => foreach 'items' -> fan" in out
    assert "    (joins the branches of right)" in out
    assert "    (joins the branches of start)" in out


def test_run_help_lists_the_flows_parameters_with_their_help(write_flow):
    path = write_flow(BRANCHY)
    result = CliRunner().invoke(cli, ["run", path, "--help"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "--alpha INTEGER" in out
    assert "how much alpha to use" in out
    assert "--beta TEXT" in out
    assert "the beta label" in out
    assert "--datastore" in out and "--fail-fast" in out


def test_resume_takes_every_option_of_run_but_the_configs_its_origin_fixed():
    from rayflow.cli._resume_cmd import make_resume_command
    from rayflow.cli._run_cmd import make_run_command

    def options(command):
        return {tuple(p.opts) for p in command.params if isinstance(p, click.Option)}

    missing = options(make_run_command()) - options(make_resume_command())
    assert missing == {("--config",), ("--config-value",)}, (
        f"rayflow resume lacks {sorted(missing)}"
    )


def test_python_flow_file_help_lists_parameters(write_flow):
    path = write_flow(BRANCHY)
    proc = subprocess.run(
        [sys.executable, path, "run", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "how much alpha to use" in proc.stdout
    assert "--beta" in proc.stdout


def test_run_in_process_uses_the_given_parameters_and_datastore(ray_session, write_flow, tmp_path):
    from rayflow import Run, metadata, namespace

    path = write_flow(BRANCHY)
    ds = str(tmp_path / "cli-ds")
    id_file = tmp_path / "run_id"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            path,
            "--alpha",
            "4",
            "--beta",
            "zz",
            "--datastore",
            ds,
            "--tag",
            "t1",
            "--run-id-file",
            str(id_file),
        ],
    )
    assert result.exit_code == 0, result.output
    run_id = id_file.read_text()
    assert f"run BranchyFlow/{run_id} successful" in result.output
    assert "[end/0] total=60 label=zz" in result.output
    assert "[fan/3] fan 3" in result.output
    metadata(ds)
    namespace(None)
    try:
        run = Run(f"BranchyFlow/{run_id}")
        assert run.successful
        assert run.parameters == {"alpha": 4, "beta": "zz"}
        assert run.user_tags == frozenset({"t1"})
        assert run["join"].task.data.total == 60
        assert [t.id for t in run["fan"].tasks()] == ["0", "1", "2", "3"]
    finally:
        metadata(None)


FAILING = """
from rayflow import FlowSpec, step


class FailingFlow(FlowSpec):
    @step
    def start(self):
        self.items = [0, 1, 2]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == 1:
            raise ValueError("bad item")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_a_failing_run_exits_1_and_labels_the_users_traceback_once(
    ray_session, write_flow, tmp_path
):
    path = write_flow(FAILING)
    result = CliRunner().invoke(cli, ["run", path, "--datastore", str(tmp_path / "ds")])
    assert result.exit_code == 1
    text = result.output
    assert text.count("ValueError: bad item") == 1
    assert "[work/1] ValueError: bad item" in text
    assert "[work/1] step failed:" in text
    assert f'[work/1]   File "{path}", line 13, in work' in text
    assert "1 task(s) failed (work/1)" in text
    # rayflow's own frames are not shown
    assert "_task.py" not in text


CHATTY = """
from rayflow import FlowSpec, current, retry, step


class ChattyFlow(FlowSpec):
    @step
    def start(self):
        print("start says hi")
        self.next(self.flaky)

    @retry(times=1, minutes_between_retries=0)
    @step
    def flaky(self):
        print(f"flaky attempt {current.retry_count}")
        if current.retry_count == 0:
            raise RuntimeError("first attempt fails")
        self.next(self.end)

    @step
    def end(self):
        print("end says bye")
"""


def test_every_printed_line_reaches_the_console_in_order(ray_session, write_flow, tmp_path):
    path = write_flow(CHATTY)
    for _ in range(3):  # the last step's lines used to race the end of the run
        result = CliRunner().invoke(cli, ["run", path, "--datastore", str(tmp_path / "ds")])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        for line in (
            "[start/0] start says hi",
            "[flaky/0] flaky attempt 0",
            "[flaky/0] flaky attempt 1",
            "[end/0] end says bye",
        ):
            assert lines.count(line) == 1, result.output
        failed = next(i for i, line in enumerate(lines) if "attempt 0 failed" in line)
        assert (
            lines.index("[flaky/0] flaky attempt 0")
            < failed
            < lines.index("[flaky/0] flaky attempt 1")
        )
        assert "RuntimeError: first attempt fails" in result.output


CHILDREN = """
import os
import subprocess
import sys

from rayflow import FlowSpec, step


class ChildOutputFlow(FlowSpec):
    @step
    def start(self):
        subprocess.run(["echo", "from a child process"], check=True)
        subprocess.run([sys.executable, "-c", "import sys; print('child err', file=sys.stderr)"])
        os.write(1, "from the fd, ünïcode\\n".encode())
        self.next(self.end)

    @step
    def end(self):
        os.system("echo from os.system")
"""


def test_output_of_child_processes_and_raw_fds_is_captured_and_shown(
    ray_session, write_flow, tmp_path
):
    from rayflow import Run, default_namespace, metadata, namespace

    path = write_flow(CHILDREN)
    ds = str(tmp_path / "ds")
    result = CliRunner().invoke(cli, ["run", path, "--datastore", ds])
    assert result.exit_code == 0, result.output
    for line in (
        "[start/0] from a child process",
        "[start/0] child err",
        "[start/0] from the fd, ünïcode",
        "[end/0] from os.system",
    ):
        assert line in result.output.splitlines(), result.output
    metadata(ds)
    namespace(None)
    try:
        run = Run(f"ChildOutputFlow/{result.output.split('ChildOutputFlow/')[1].split()[0]}")
        start = run["start"].task
        assert start.stdout == "from a child process\nfrom the fd, ünïcode\n"
        assert start.stderr == "child err\n"
        assert run["end"].task.stdout == "from os.system\n"
    finally:
        metadata(None)
        default_namespace()


def _assert_hello_run(proc, cwd):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "[end/0] done: HELLO, WORLD!" in lines
    assert "[shout/0] HELLO, WORLD!" in lines
    assert "Traceback" not in proc.stdout + proc.stderr
    runs = os.path.join(cwd, ".rayflow", "HelloFlow", "runs")
    assert os.path.isdir(runs)
    (run_id,) = os.listdir(runs)
    assert any(line.startswith(f"run HelloFlow/{run_id} successful") for line in lines)
    with open(os.path.join(runs, run_id, "end", "0", "meta.json")) as f:
        assert json.load(f)["finished"] is True


@pytest.mark.timeout(120)
def test_rayflow_run_of_the_hello_example_in_a_fresh_directory(tmp_path):
    proc = subprocess.run(
        [RAYFLOW, "run", HELLO],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=110,
    )
    _assert_hello_run(proc, str(tmp_path))


@pytest.mark.timeout(120)
def test_python_hello_run_in_a_fresh_directory(tmp_path):
    proc = subprocess.run(
        [sys.executable, HELLO, "run", "--name_to_greet", "you"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[end/0] done: HELLO, YOU!" in proc.stdout.splitlines()
    assert os.path.isdir(tmp_path / ".rayflow" / "HelloFlow" / "runs")
    (run_id,) = os.listdir(tmp_path / ".rayflow" / "HelloFlow" / "runs")
    # Metaflow's flow-level `logs` and `dump` take RUN_ID/STEP[/TASK_ID]
    logs = subprocess.run(
        [sys.executable, HELLO, "logs", f"{run_id}/shout"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert logs.returncode == 0 and logs.stdout.splitlines() == [
        "HELLO, YOU!"
    ]  # one task: raw, as Metaflow
    dump = subprocess.run(
        [sys.executable, HELLO, "dump", f"{run_id}/end/0"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dump.returncode == 0 and "HELLO, YOU!" in dump.stdout and "loud" in dump.stdout


def test_python_flow_file_check_and_show(write_flow):
    path = write_flow(BRANCHY)
    check = subprocess.run(
        [sys.executable, path, "check"], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "BranchyFlow: the graph looks good (7 steps)"
    show = subprocess.run(
        [sys.executable, path, "show"], capture_output=True, text=True, timeout=60
    )
    assert show.returncode == 0, show.stderr
    assert "    => foreach 'items' -> fan" in show.stdout


TWO_FLOWS = """
from rayflow import FlowSpec, step


class FirstFlow(FlowSpec):
    @step
    def start(self):
        self.who = "first"
        self.next(self.end)

    @step
    def end(self):
        pass


class SecondFlow(FlowSpec):
    @step
    def start(self):
        self.who = "second"
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_run_file_colon_class_runs_the_named_flow(ray_session, write_flow, tmp_path):
    from rayflow import Flow, metadata, namespace

    path = write_flow(TWO_FLOWS)
    ds = str(tmp_path / "ds2")
    result = CliRunner().invoke(cli, ["run", f"{path}:SecondFlow", "--datastore", ds, "--quiet"])
    assert result.exit_code == 0, result.output
    metadata(ds)
    namespace(None)
    try:
        (run,) = Flow("SecondFlow").runs()
        assert run.data.who == "second"
        assert not os.path.exists(os.path.join(ds, "FirstFlow"))
    finally:
        metadata(None)
