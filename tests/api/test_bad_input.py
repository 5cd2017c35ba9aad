"""Bad input gets one line ``error: ...`` on stderr, a non-zero exit, and no traceback.

Every case here fails before Ray starts, so each real subprocess costs well under a second.
"""

import os
import subprocess
import sys

import pytest

RAYFLOW = os.path.join(os.path.dirname(sys.executable), "rayflow")

GOOD = """
from rayflow import FlowSpec, Parameter, step


class GoodFlow(FlowSpec):
    alpha = Parameter("alpha", default=1, help="an int")
    needed = Parameter("needed", type=str, required=True)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    GoodFlow()
"""

TWO_FLOWS = """
from rayflow import FlowSpec, step


class AFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class BFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _env():
    return {k: v for k, v in os.environ.items() if k != "RAYFLOW_DATASTORE"}


def _run(args, cwd):
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=60)


def _one_error_line(proc):
    """The single ``error: ...`` line on stderr (asserting there is exactly one and no traceback)."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def test_a_missing_flow_file(tmp_path):
    line = _one_error_line(_run([RAYFLOW, "run", "nosuch.py"], tmp_path))
    assert line == "error: nosuch.py: flow file not found"


def test_a_directory_instead_of_a_flow_file(tmp_path):
    (tmp_path / "adir").mkdir()
    line = _one_error_line(_run([RAYFLOW, "check", "adir"], tmp_path))
    assert "adir" in line and "directory" in line


def test_a_syntax_error_names_file_and_line(write_flow, tmp_path):
    write_flow("from rayflow import FlowSpec\n\nclass X(FlowSpec:\n    pass\n")
    line = _one_error_line(_run([RAYFLOW, "run", "flow.py"], tmp_path))
    assert line.startswith("error: flow.py:3: syntax error")


def test_an_import_error_in_the_flow_file_names_its_line(write_flow, tmp_path):
    write_flow("from rayflow import FlowSpec\nimport no_such_module_for_rayflow_tests\n")
    line = _one_error_line(_run([RAYFLOW, "check", "flow.py"], tmp_path))
    assert line.startswith("error: flow.py:2: error while importing the flow: ModuleNotFoundError")
    assert "no_such_module_for_rayflow_tests" in line


def test_a_file_without_a_flowspec(write_flow, tmp_path):
    write_flow("x = 1\n")
    line = _one_error_line(_run([RAYFLOW, "run", "flow.py"], tmp_path))
    assert line == "error: flow.py: no FlowSpec subclass found"


def test_two_flows_in_one_file_need_a_class_name(write_flow, tmp_path):
    write_flow(TWO_FLOWS)
    line = _one_error_line(_run([RAYFLOW, "run", "flow.py"], tmp_path))
    assert "several flows (AFlow, BFlow)" in line
    assert "flow.py:AFlow" in line


def test_file_colon_class_picks_one_of_several_flows(write_flow, tmp_path):
    write_flow(TWO_FLOWS)
    proc = _run([RAYFLOW, "check", "flow.py:BFlow"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "BFlow: the graph looks good (2 steps)"


def test_file_colon_class_naming_no_flow(write_flow, tmp_path):
    write_flow(TWO_FLOWS)
    line = _one_error_line(_run([RAYFLOW, "check", "flow.py:CFlow"], tmp_path))
    assert "CFlow" in line and "AFlow, BFlow" in line


def test_an_unknown_parameter_option(write_flow, tmp_path):
    write_flow(GOOD)
    line = _one_error_line(
        _run([RAYFLOW, "run", "flow.py", "--needed", "x", "--bogus", "1"], tmp_path)
    )
    assert "--bogus" in line


def test_a_value_of_the_wrong_type(write_flow, tmp_path):
    write_flow(GOOD)
    line = _one_error_line(
        _run([RAYFLOW, "run", "flow.py", "--needed", "x", "--alpha", "abc"], tmp_path)
    )
    assert "--alpha" in line and "abc" in line


def test_a_missing_required_parameter(write_flow, tmp_path):
    write_flow(GOOD)
    line = _one_error_line(_run([RAYFLOW, "run", "flow.py"], tmp_path))
    assert "--needed" in line


def test_an_unusable_datastore_url(write_flow, tmp_path):
    write_flow(GOOD)
    proc = _run(
        [RAYFLOW, "run", "flow.py", "--needed", "x", "--datastore", "nosuchproto://x"], tmp_path
    )
    line = _one_error_line(proc)
    assert "nosuchproto" in line
    assert not (tmp_path / ".rayflow").exists()


@pytest.mark.parametrize(
    "args,expected",
    [
        (["run", "--needed", "x", "--alpha", "abc"], "--alpha"),
        (["run"], "--needed"),
        (["run", "--needed", "x", "--bogus"], "--bogus"),
    ],
)
def test_python_flow_file_reports_bad_parameters_the_same_way(write_flow, tmp_path, args, expected):
    write_flow(GOOD)
    line = _one_error_line(_run([sys.executable, "flow.py", *args], tmp_path))
    assert expected in line


def test_in_process_main_reports_one_line_and_the_exit_code(
    write_flow, tmp_path, monkeypatch, capsys
):
    from rayflow.cli import main

    write_flow(GOOD)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["run", "flow.py", "--needed", "x", "--alpha", "abc"])
    assert info.value.code != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "--alpha" in err


BROKEN_GRAPH = """
from rayflow import FlowSpec, step


class BrokenFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a)

    @step
    def a(self):
        self.x = 1

    @step
    def end(self):
        self.next(self.a)
"""


def test_run_of_a_flow_with_graph_problems_lists_them_all_and_runs_nothing(write_flow, tmp_path):
    write_flow(BROKEN_GRAPH)
    proc = _run([RAYFLOW, "run", "flow.py"], tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.strip().splitlines() == [
        "flow.py:10: step 'a': step has no self.next() transition as its last statement",
        "flow.py:15: step 'end': the end step must not call self.next()",
        "error: the flow has 2 problem(s); nothing was run",
    ]
    assert not (tmp_path / ".rayflow").exists()


def test_show_of_a_flow_with_graph_problems_fails_the_same_way(write_flow, tmp_path):
    write_flow(BROKEN_GRAPH)
    proc = _run([RAYFLOW, "show", "flow.py"], tmp_path)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip().splitlines()[-1] == "error: the flow has 2 problem(s); nothing was run"
    )


def test_a_parameter_clashing_with_a_run_option_is_reported(write_flow, tmp_path):
    write_flow("""
        from rayflow import FlowSpec, Parameter, step

        class ClashFlow(FlowSpec):
            datastore = Parameter("datastore", default="x")

            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass
    """)
    line = _one_error_line(_run([RAYFLOW, "run", "flow.py"], tmp_path))
    assert "datastore" in line and "clashes" in line


def test_a_mistyped_flow_parameter_points_at_the_flows_own_help(tmp_path):
    (tmp_path / "good.py").write_text(GOOD)
    line = _one_error_line(
        _run([RAYFLOW, "run", "good.py", "--alpah", "2", "--needed", "x"], tmp_path)
    )
    assert line.startswith("error: No such option '--alpah'. (Did you mean one of: '--alpha'")
    assert line.endswith("(see 'rayflow run good.py --help')")
    line = _one_error_line(_run([RAYFLOW, "run", "good.py", "--needed"], tmp_path))
    assert (
        line == "error: Option '--needed' requires an argument. (see 'rayflow run good.py --help')"
    )
    line = _one_error_line(_run([sys.executable, "good.py", "run", "--alpah", "2"], tmp_path))
    assert line.startswith("error: No such option '--alpah'.")
    assert line.endswith("(see 'good.py run --help')")
