"""Parameters: types, defaults, required values, JSON, included files, separators."""

import pytest

from rayflow import FlowSpec, IncludeFile, JSONType, Parameter, ParameterError, Runner, step
from rayflow._parameters import flow_parameters, resolve_values


class ParamFlow(FlowSpec):
    count = Parameter("count", default=3, help="an int, inferred")
    ratio = Parameter("ratio", default=0.5)
    flag = Parameter("flag", default=False)
    name = Parameter("who", default="world")
    config = Parameter("config", type=JSONType, default='{"lr": 0.1}')
    listy = Parameter("listy", default=[1, 2])
    tags = Parameter("tags", default="a,b", separator=",")
    numbers = Parameter("numbers", type=int, default="1,2,3", separator=",")
    text = IncludeFile("text", default=None)
    raw = IncludeFile("raw", is_text=False, default=None)

    @step
    def start(self):
        self.seen = {
            "count": self.count,
            "ratio": self.ratio,
            "flag": self.flag,
            "name": self.name,
            "config": self.config,
            "listy": self.listy,
            "tags": self.tags,
            "numbers": self.numbers,
            "text": self.text,
            "raw": self.raw,
        }
        self.next(self.end)

    @step
    def end(self):
        self.types = {k: type(v).__name__ for k, v in self.seen.items()}


def test_defaults_reach_the_steps_with_inferred_types(run_flow):
    out = run_flow(ParamFlow)
    assert out.successful
    seen = out.run["start"].task.data.seen
    assert seen == {
        "count": 3,
        "ratio": 0.5,
        "flag": False,
        "name": "world",
        "config": {"lr": 0.1},
        "listy": [1, 2],
        "tags": ["a", "b"],
        "numbers": [1, 2, 3],
        "text": None,
        "raw": None,
    }
    assert out.run.data.types["count"] == "int"
    assert out.run.data.types["flag"] == "bool"


def test_given_values_are_converted_and_visible_in_every_step(run_flow, tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("héllo\nworld\n", encoding="utf-8")
    raw_file = tmp_path / "blob.bin"
    raw_file.write_bytes(b"\x00\xffbinary")
    out = run_flow(
        ParamFlow,
        count="7",
        ratio="2.5",
        flag="true",
        who="rayflow",
        config='{"lr": 0.01, "layers": [64, 32]}',
        listy="[3]",
        tags="x;y,z",
        numbers="4,5",
        text=str(text_file),
        raw=str(raw_file),
    )
    assert out.successful, out.failures
    seen = out.run["start"].task.data.seen
    assert seen["count"] == 7 and isinstance(seen["count"], int)
    assert seen["ratio"] == 2.5
    assert seen["flag"] is True
    assert seen["name"] == "rayflow"
    assert seen["config"] == {"lr": 0.01, "layers": [64, 32]}
    assert seen["listy"] == [3]
    assert seen["tags"] == ["x;y", "z"]
    assert seen["numbers"] == [4, 5]
    assert seen["text"] == "héllo\nworld\n"
    assert seen["raw"] == b"\x00\xffbinary"
    assert out.run.data.types["raw"] == "bytes"
    assert out.run.data.types["text"] == "str"
    # parameters are artifacts of every task, under their attribute names
    assert out.run.data.count == 7
    assert out.run.data.name == "rayflow"
    assert out.run.parameters["count"] == 7


@pytest.mark.parametrize(
    "text,value",
    [("true", True), ("false", False), ("True", True), ("0", False), ("yes", True), ("off", False)],
)
def test_bool_parameters_parse_command_line_strings(text, value):
    assert resolve_values(ParamFlow, {"flag": text})["flag"] is value


def test_a_bool_parameter_rejects_other_words():
    with pytest.raises(ParameterError, match="--flag"):
        resolve_values(ParamFlow, {"flag": "maybe"})


def test_a_wrong_type_value_names_the_parameter_and_the_value():
    with pytest.raises(ParameterError) as info:
        resolve_values(ParamFlow, {"count": "abc"})
    assert "--count" in str(info.value) and "'abc'" in str(info.value)


def test_invalid_json_is_a_parameter_error():
    with pytest.raises(ParameterError, match="--config"):
        resolve_values(ParamFlow, {"config": "{not json"})


def test_an_include_file_that_does_not_exist_is_a_parameter_error(tmp_path):
    with pytest.raises(ParameterError) as info:
        resolve_values(ParamFlow, {"text": str(tmp_path / "absent.txt")})
    assert "--text" in str(info.value) and "absent.txt" in str(info.value)


def test_an_unknown_parameter_is_an_error_listing_the_known_ones():
    with pytest.raises(ParameterError) as info:
        resolve_values(ParamFlow, {"cuont": 3})
    assert "--cuont" in str(info.value) and "--count" in str(info.value)


class RequiredFlow(FlowSpec):
    needed = Parameter("needed", type=int, required=True, help="must be given")

    @step
    def start(self):
        self.got = self.needed
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_missing_required_parameter_stops_the_run_before_it_starts(datastore):
    with pytest.raises(ParameterError, match="--needed"):
        Runner(RequiredFlow, datastore=datastore).run()
    import os

    assert not os.path.exists(os.path.join(datastore, "RequiredFlow"))


def test_a_required_parameter_given_is_used(run_flow):
    out = run_flow(RequiredFlow, needed="12")
    assert out.successful
    assert out.run.data.got == 12


def test_parameters_are_listed_in_definition_order_with_inferred_types():
    params = flow_parameters(ParamFlow)
    assert [p.name for p in params] == [
        "count",
        "ratio",
        "flag",
        "who",
        "config",
        "listy",
        "tags",
        "numbers",
        "text",
        "raw",
    ]
    types = {p.name: p.type for p in params}
    assert types["count"] is int
    assert types["ratio"] is float
    assert types["flag"] is bool
    assert types["who"] is str
    assert types["listy"] is JSONType
    assert types["config"] is JSONType


def test_a_parameter_is_read_only_and_outside_a_run_reads_its_default():
    flow = ParamFlow.__new__(ParamFlow)
    assert flow.count == 3
    assert flow.tags == ["a", "b"]
    with pytest.raises(AttributeError):
        flow.count = 4


class DeployTimeFlow(FlowSpec):
    who = Parameter(
        "who", default=lambda ctx: f"{ctx.flow_name}-{ctx.parameter_name}-{ctx.user_name}"
    )
    n = Parameter("n", type=int, default=lambda: 7)
    bad = Parameter("bad", default=lambda ctx: 1 / 0)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_function_default_is_called_with_metaflows_parameter_context(monkeypatch):
    monkeypatch.setenv("RAYFLOW_USER", "ada")
    values = resolve_values(DeployTimeFlow, {"bad": "x"})
    assert values["who"] == "DeployTimeFlow-who-ada" and values["n"] == 7
    with pytest.raises(
        ParameterError,
        match="parameter --bad: its default function failed: ZeroDivisionError: division by zero",
    ):
        resolve_values(DeployTimeFlow, {})


CLI_FLOW = """
from rayflow import FlowSpec, IncludeFile, JSONType, Parameter, step


class CliParamFlow(FlowSpec):
    count = Parameter("count", default=3)
    flag = Parameter("flag", default=True)
    config = Parameter("config", type=JSONType, default="{}")
    learning_rate = Parameter("learning_rate", default=0.1)
    words = Parameter("words", default="a", separator=",")
    numbers = Parameter("numbers", type=int, default="1", separator=",")
    text = IncludeFile("text", default=None)
    raw = IncludeFile("raw", is_text=False, default=None)

    @step
    def start(self):
        self.seen = dict(count=self.count, flag=self.flag, config=self.config,
                         learning_rate=self.learning_rate, words=self.words,
                         numbers=self.numbers, text=self.text, raw=self.raw)
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _cli_run(write_flow, tmp_path, *args):
    from click.testing import CliRunner

    from rayflow import Run, metadata, namespace
    from rayflow.cli import cli

    path = write_flow(CLI_FLOW, name="cli_params.py")
    ds = str(tmp_path / "cli-ds")
    id_file = tmp_path / "run_id"
    result = CliRunner().invoke(
        cli, ["run", path, "--datastore", ds, "--run-id-file", str(id_file), "--quiet", *args]
    )
    assert result.exit_code == 0, result.output
    metadata(ds)
    namespace(None)
    return Run(f"CliParamFlow/{id_file.read_text()}")["start"].task.data.seen


def test_command_line_strings_become_typed_values(ray_session, datastore, write_flow, tmp_path):
    seen = _cli_run(
        write_flow,
        tmp_path,
        "--count",
        "7",
        "--flag",
        "false",
        "--config",
        '{"layers": [64, 32]}',
        "--learning-rate",
        "0.5",
    )
    assert seen["count"] == 7
    assert seen["flag"] is False
    assert seen["config"] == {"layers": [64, 32]}
    assert seen["learning_rate"] == 0.5


def test_include_file_on_the_command_line_reads_the_file(
    ray_session, datastore, write_flow, tmp_path
):
    text = tmp_path / "notes.txt"
    text.write_text("some notes\n")
    raw = tmp_path / "data.bin"
    raw.write_bytes(b"\x00\x01")
    seen = _cli_run(write_flow, tmp_path, "--text", str(text), "--raw", str(raw))
    assert seen["text"] == "some notes\n"
    assert seen["raw"] == b"\x00\x01"


def test_separator_on_the_command_line_splits_the_value(
    ray_session, datastore, write_flow, tmp_path
):
    seen = _cli_run(write_flow, tmp_path, "--words", "x,y", "--numbers", "4,5")
    assert seen["words"] == ["x", "y"]
    assert seen["numbers"] == [4, 5]
