"""What Metaflow-written checks ask of a flow object and of rayflow's modules, without a run."""

from __future__ import annotations

import pytest

from rayflow import FlowSpec, Parameter, step


class ShapeFlow(FlowSpec):
    size = Parameter("size", default=1)
    no_default = Parameter("no-default", type=str)

    @step
    def start(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.next(self.join)

    @step
    def right(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_flow_iterates_over_its_steps_in_graph_order():
    flow = ShapeFlow(use_cli=False)
    assert [s.name for s in flow] == ["start", "left", "right", "join", "end"]


def test_a_flow_knows_its_graph_with_metaflow_names():
    graph = ShapeFlow(use_cli=False)._graph
    assert graph["start"].out_funcs == ["left", "right"]
    assert sorted(graph["join"].in_funcs) == ["left", "right"]
    assert graph["join"].type == "join"


def test_metaflow_module_paths_have_rayflow_counterparts():
    import rayflow
    from rayflow.client import Flow, namespace
    from rayflow.exception import (
        MetaflowException,
        MetaflowNamespaceMismatch,
        MetaflowNotFound,
        MissingInMergeArtifactsException,
        UnhandledInMergeArtifactsException,
    )
    from rayflow.metaflow_current import current

    assert current is rayflow.current and Flow is rayflow.Flow and namespace is rayflow.namespace
    assert issubclass(MetaflowNamespaceMismatch, MetaflowNotFound)
    assert issubclass(UnhandledInMergeArtifactsException, rayflow.MergeArtifactsError)
    assert issubclass(MissingInMergeArtifactsException, rayflow.MergeArtifactsError)

    class Mine(MetaflowException):
        headline = "mine"

    assert str(Mine("boom")) == "boom" and Mine.headline == "mine"


def test_get_cards_of_a_missing_task_names_it(datastore):
    from rayflow.cards import get_cards
    from rayflow.exception import MetaflowNotFound

    with pytest.raises(MetaflowNotFound, match="ShapeFlow/1 not found"):
        get_cards("ShapeFlow/1/start/0")


@pytest.mark.parametrize("prefix", ["METAFLOW_RUN_", "RAYFLOW_RUN_"])
def test_a_parameter_not_given_comes_from_the_run_environment_variable(monkeypatch, prefix):
    from rayflow._parameters import resolve_values

    monkeypatch.setenv(f"{prefix}NO_DEFAULT", "from env")
    monkeypatch.setenv(f"{prefix}SIZE", "7")
    assert resolve_values(ShapeFlow, {}) == {"size": 7, "no_default": "from env"}
    assert resolve_values(ShapeFlow, {"size": "3"})["size"] == 3


def test_a_parameter_default_function_sees_the_project_in_current():
    from rayflow import current, project
    from rayflow._parameters import resolve_values

    seen = {}

    def default(ctx):
        seen["project"] = current.project_name
        seen["flow"] = ctx.flow_name
        return "ok"

    @project(name="proj")
    class ProjectFlow(FlowSpec):
        value = Parameter("value", default=default)

        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert resolve_values(ProjectFlow, {}) == {"value": "ok"}
    assert seen == {"project": "proj", "flow": "ProjectFlow"}
    assert not current.is_running_flow


@pytest.mark.parametrize(
    "env, branch, production",
    [
        ({"METAFLOW_BRANCH": "feature"}, "test.feature", False),
        ({"METAFLOW_PRODUCTION": "True"}, "prod", True),
        ({"METAFLOW_PRODUCTION": "True", "METAFLOW_BRANCH": "x"}, "prod.x", True),
        ({}, "user.someone", False),
    ],
)
def test_project_branch_comes_from_metaflow_branch_and_production_when_the_flow_is_defined(
    monkeypatch, env, branch, production
):
    from rayflow import project
    from rayflow.scheduler._run import _system_tags
    from rayflow.scheduler._task import _project_fields

    monkeypatch.delenv("METAFLOW_BRANCH", raising=False)
    monkeypatch.delenv("METAFLOW_PRODUCTION", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    @project(name="proj")
    class Projected(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    monkeypatch.delenv("METAFLOW_BRANCH", raising=False)  # read once, when the flow is defined
    fields = _project_fields(Projected, "Projected", "someone")
    assert fields["branch_name"] == branch and fields["is_production"] is production
    assert fields["project_flow_name"] == f"proj.{branch}.Projected"
    assert f"project_branch:{branch}" in _system_tags(Projected, "someone")
