"""Metaflow's ``Config`` / ``config_expr`` (found by Metaflow's test/core BasicConfigTest through
benchmarks/metaflow_suite.py): values fixed before the run, used by decorators, ``@project`` and
Parameter defaults, read-only in steps, stored with the run for the client and for resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

FLOW = """
import json
import os

from rayflow import Config, FlowSpec, Parameter, config_expr, current, environment, project, step


def colon_parser(text):
    key, value = text.split(":")
    return {key.strip(): value.strip()}


@project(name=config_expr("cfg").project)
class ConfiguredFlow(FlowSpec):
    cfg = Config("cfg", default_value={"project": "proj_x", "vars": {"A": "from-cfg"}, "n": 3})
    given = Config("given", required=True)
    parsed = Config("parsed", parser=colon_parser, default_value="colour: blue")
    envs = Config("envs", default_value=json.dumps({"vars": {"B": "unpacked"}}))

    count = Parameter("count", default=config_expr("given").n, type=int)
    derived = Parameter("derived", default=lambda ctx: ctx.configs.cfg.n + 100, type=int)

    @environment(vars={"A": cfg.vars.A, "DOUBLE": config_expr("str(cfg.n * 2)")})
    @step
    def start(self):
        self.seen = {"A": os.environ.get("A"), "DOUBLE": os.environ.get("DOUBLE"),
                     "project": current.project_name, "count": self.count, "derived": self.derived,
                     "nested": self.cfg.vars.A, "item": self.cfg["vars"]["A"],
                     "colour": self.parsed.colour}
        refused = []
        for change in (lambda: self.cfg.__setitem__("n", 4), lambda: setattr(self.cfg, "n", 4)):
            try:
                change()
            except TypeError:
                refused.append(True)
        self.refused = refused
        if os.path.exists(os.path.join(os.path.dirname(__file__), "fail")):
            raise RuntimeError("told to fail")
        self.next(self.end)

    @environment(**envs)
    @step
    def end(self):
        self.b = os.environ.get("B")
        self.given_in_end = self.given.n
"""


@pytest.mark.timeout(300)
def test_configs_shape_decorators_project_and_parameter_defaults_and_are_artifacts(
    write_flow, run_flow
):
    from rayflow import Runner

    path = write_flow(FLOW)
    out = run_flow(path, runner_options={"config_value": {"given": {"n": 7}}})
    assert out.successful, out.failures
    data = out.run["start"].task.data
    assert data.seen == {
        "A": "from-cfg",
        "DOUBLE": "6",
        "project": "proj_x",
        "count": 7,
        "derived": 103,
        "nested": "from-cfg",
        "item": "from-cfg",
        "colour": "blue",
    }
    assert data.refused == [True, True]
    end = out.run["end"].task.data
    assert (end.b, end.given_in_end) == ("unpacked", 7)
    assert end.cfg == {"project": "proj_x", "vars": {"A": "from-cfg"}, "n": 3}
    assert end.given.n == 7 and end.parsed == {"colour": "blue"}
    assert "project:proj_x" in out.run.system_tags
    assert (
        Runner(path, config_value={"given": '{"n": 1}'}).plan()["start"]["decorators"][
            "environment"
        ]["vars"]["DOUBLE"]
        == "6"
    )


@pytest.mark.timeout(300)
def test_a_resume_reads_the_configs_its_origin_run_recorded(write_flow, run_flow, tmp_path):
    from rayflow import Runner

    path = write_flow(FLOW)
    (tmp_path / "fail").write_text("")
    given = {"given": {"n": 7}, "cfg": {"project": "p1", "vars": {"A": "first"}, "n": 5}}
    first = run_flow(path, runner_options={"config_value": given})
    assert not first.successful
    (tmp_path / "fail").unlink()
    # No config values given now: the defaults would differ, but the resume keeps the origin's.
    again = Runner(path, datastore=first.datastore).resume(origin_run_id=first.run_id)
    assert again.successful, again.failures
    seen = again.run["start"].task.data.seen
    assert (seen["A"], seen["DOUBLE"], seen["project"], seen["count"]) == ("first", "10", "p1", 7)
    assert again.run["end"].task.data.given == {"n": 7}


def _cli(where, *args, env=None):
    return subprocess.run(
        [sys.executable, "flow.py", *args],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "args, env, message",
    [
        (
            ["run"],
            {},
            "config 'given' of ConfiguredFlow is required: give --config given FILE or "
            "--config-value given JSON",
        ),
        (
            ["run", "--config-value", "given", "{nope"],
            {},
            "config 'given': the value from --config-value cannot be JSON: JSONDecodeError",
        ),
        (
            ["--config", "given", "missing.json", "run"],
            {},
            "config 'given': cannot read 'missing.json' (--config): No such file or directory",
        ),
        (
            ["run", "--config-value", "other", "{}"],
            {},
            "--config-value other: ConfiguredFlow has no config "
            "named 'other' (configs: cfg, envs, given, parsed)",
        ),
        (
            ["run"],
            {"METAFLOW_FLOW_CONFIG_VALUE": "[1]"},
            "METAFLOW_FLOW_CONFIG_VALUE: expected a JSON object",
        ),
        (
            ["run", "--config-value", "given", "[1, 2]"],
            {},
            "config 'given': the value from --config-value is a list, not a mapping",
        ),
    ],
)
def test_a_bad_config_is_one_line_before_anything_runs(write_flow, args, env, message):
    path = write_flow(FLOW + "\nif __name__ == '__main__':\n    ConfiguredFlow()\n")
    proc = _cli(os.path.dirname(path), *args, env=env)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr
    assert not os.path.exists(os.path.join(os.path.dirname(path), ".rayflow"))


@pytest.mark.timeout(300)
def test_flow_cli_reads_config_files_and_environment_values(write_flow, datastore):
    from rayflow import Run

    path = write_flow(FLOW + "\nif __name__ == '__main__':\n    ConfiguredFlow()\n")
    where = os.path.dirname(path)
    with open(os.path.join(where, "cfg.json"), "w") as f:
        json.dump({"project": "from_file", "vars": {"A": "file"}, "n": 1}, f)
    proc = _cli(
        where,
        "--config",
        "cfg",
        "cfg.json",
        "--quiet",
        "run",
        "--run-id-file",
        "rid",
        env={"METAFLOW_FLOW_CONFIG_VALUE": json.dumps({"given": {"n": 2}})},
    )
    assert proc.returncode == 0, proc.stderr
    run = Run(f"ConfiguredFlow/{open(os.path.join(where, 'rid')).read()}")
    seen = run["start"].task.data.seen
    assert (seen["A"], seen["project"], seen["count"], seen["derived"]) == (
        "file",
        "from_file",
        2,
        101,
    )


def test_rayflow_run_takes_the_config_options_too(write_flow):
    path = write_flow(FLOW)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rayflow.cli",
            "run",
            path,
            "--config-value",
            "given",
            "{}",
            "--config",
            "cfg",
            "nowhere.json",
        ],
        cwd=os.path.dirname(path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert (
        "config 'cfg': cannot read 'nowhere.json' (--config): No such file or directory"
        in proc.stderr
    )
    shown = subprocess.run(
        [sys.executable, "-m", "rayflow.cli", "run", path, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "--config NAME FILE" in shown.stdout and "--config-value NAME JSON" in shown.stdout


DECO_FLOW = """
from rayflow import Config, FlowSpec, concurrency, retry, step


class DecoFlow(FlowSpec):
    cfg = Config("cfg", default_value={"n": 3, "r": {"times": 2}})

    @concurrency(max=cfg.n)
    @retry(**cfg.r)
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_decorator_options_read_from_configs_are_checked_when_the_plan_is_made(write_flow):
    from rayflow import Runner
    from rayflow.scheduler import DecoratorError

    path = write_flow(DECO_FLOW)
    decorators = Runner(path).plan()["start"]["decorators"]
    assert decorators["concurrency"] == {"max": 3} and decorators["retry"]["times"] == 2
    bad = Runner(path, config_value={"cfg": {"n": 0, "r": {}}})
    with pytest.raises(
        DecoratorError,
        match=r"step 'start', options read from its configs: "
        r"@concurrency needs max=N",
    ):
        bad.plan()


def test_resume_refuses_config_options_since_it_reads_the_origin_runs(write_flow):
    path = write_flow(FLOW + "\nif __name__ == '__main__':\n    ConfiguredFlow()\n")
    proc = _cli(os.path.dirname(path), "--config-value", "given", "{}", "resume")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert (
        "resume reads the configs its origin run recorded; --config and --config-value cannot "
        "be given to it" in proc.stderr
    )


def test_a_parameter_named_config_keeps_its_option_and_configs_go_before_run(write_flow):
    path = write_flow("""
        from rayflow import Config, FlowSpec, JSONType, Parameter, step

        class OldFlow(FlowSpec):
            config = Parameter("config", type=JSONType, default="{}")
            cfg = Config("cfg", default_value={"a": 1})

            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            OldFlow()
    """)
    where = os.path.dirname(path)
    shown = _cli(where, "run", "--help")
    assert shown.returncode == 0 and "--config NAME FILE" not in shown.stdout
    assert "--config " in shown.stdout and "--config-value NAME JSON" in shown.stdout
    top = _cli(where, "--help")
    assert "--config NAME FILE" in top.stdout
    proc = _cli(where, "--config-value", "cfg", "{nope", "run", "--config", '{"x": 1}')
    assert proc.returncode != 0
    assert "config 'cfg': the value from --config-value cannot be JSON" in proc.stderr
