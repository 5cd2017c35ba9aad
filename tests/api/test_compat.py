"""Metaflow flows that use platform decorators, cards and helpers run after an import change."""

from __future__ import annotations

import warnings

from rayflow import (
    FlowSpec,
    card,
    conda_base,
    current,
    kubernetes,
    parallel_map,
    profile,
    project,
    resources,
    retry,
    step,
)
from rayflow.cards import Markdown, Table


def _square(x: int) -> int:
    return x * x


with warnings.catch_warnings():
    warnings.simplefilter("ignore")

    @project(name="demo")
    @conda_base(python="3.11", libraries={"pandas": "2.2"})
    class TutorialFlow(FlowSpec):
        @card(type="blank")
        @step
        def start(self):
            current.card.append(Markdown("# hello"))
            current.card.append(Table([[1, 2]]))
            timings = {}
            with profile("squares", stats_dict=timings):
                self.squares = parallel_map(_square, [1, 2, 3])
            self.timed = "squares" in timings
            self.project = (current.project_name, current.branch_name, current.project_flow_name)
            self.next(self.train)

        @kubernetes(cpu=1)
        @retry
        @resources(cpu=1, memory=500)
        @step
        def train(self):
            self.total = sum(self.squares)
            self.next(self.end)

        @step
        def end(self):
            pass


def test_platform_decorators_cards_and_helpers_are_accepted(run_flow):
    out = run_flow(TutorialFlow)
    assert out.successful
    assert out.run.data.total == 14
    assert out.run["start"].task.data.timed is True
    user = out.run.record["user"]
    assert out.run["start"].task.data.project == (
        "demo",
        f"user.{user}",
        f"demo.user.{user}.TutorialFlow",
    )
    assert {"project:demo", f"project_branch:user.{user}"} <= out.run.system_tags


def test_ignored_decorators_warn_at_the_users_line():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")

        @conda_base(python="3.11")
        class Quiet(FlowSpec):
            @card
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass

    texts = sorted(str(w.message) for w in seen)
    assert texts == ["@conda_base has no effect on rayflow; flow 'Quiet' runs on Ray"]
    assert {w.filename for w in seen} == {__file__}


def test_with_accepts_metaflows_platform_decorators_and_rejects_typos(capsys):
    import pytest

    from rayflow._errors import RayflowError
    from rayflow._prepare import plan_for

    _, plan = plan_for(TutorialFlow, ("card", "kubernetes:cpu=2", "retry:times=1"))
    assert plan["end"]["decorators"]["retry"]["times"] == 1
    assert plan["end"]["decorators"]["kubernetes"] == {"cpu": 2}
    assert plan["end"]["decorators"]["card"]["cards"][0]["type"] == "default"  # cards are rendered
    assert "--with kubernetes has no effect on rayflow" in capsys.readouterr().err
    with pytest.raises(RayflowError, match="--with crd: unknown decorator 'crd' \\(known: retry"):
        plan_for(TutorialFlow, ("crd",))


class ConstantsFlow(FlowSpec):
    LR = 0.1
    LAYERS = [64, 32]
    helper = staticmethod(_square)

    @step
    def start(self):
        self.doubled = self.LR * 2
        self.next(self.end)

    @step
    def end(self):
        self.layers_seen = list(self.LAYERS)


def test_class_constants_become_artifacts_of_start_as_in_metaflow(run_flow):
    out = run_flow(ConstantsFlow)
    assert out.successful
    start = out.run["start"].task
    assert start.data.LR == 0.1 and start.data.LAYERS == [64, 32] and start.data.doubled == 0.2
    assert "helper" not in start and "start" not in start
    assert out.run.data.LR == 0.1 and out.run.data.layers_seen == [64, 32]


class AssigningFlow(FlowSpec):
    LR = 0.1

    @step
    def start(self):
        self.name = "resnet"  # an ordinary artifact, as in Metaflow
        self.next(self.end)

    @step
    def end(self):
        self.LR = 0.2


def test_a_step_may_set_name_but_not_a_flow_level_constant(run_flow):
    out = run_flow(AssigningFlow)
    assert not out.successful
    ((label, error),) = out.failures
    assert label == "end/0"
    assert "'LR' is a flow-level attribute of AssigningFlow" in error["message"]
    assert out.run["start"].task.data.name == "resnet"
    assert out.run["start"].task.data.LR == 0.1
