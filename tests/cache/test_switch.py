"""Conditional transitions (Metaflow's switch): only the chosen branch runs."""

from __future__ import annotations

import pytest

from rayflow import FlowSpec, LintError, Parameter, Runner, step
from rayflow._loader import load_flow
from rayflow._prepare import checked_graph


class SwitchFlow(FlowSpec):
    size = Parameter("size", default="small")

    @step
    def start(self):
        self.choice = self.size
        self.next({"big": self.train_big, "small": self.train_small}, condition="choice")

    @step
    def train_big(self):
        self.model = "big model"
        self.next(self.evaluate)

    @step
    def train_small(self):
        self.model = "small model"
        self.next(self.evaluate)

    @step
    def evaluate(self):
        self.result = self.model + " evaluated"
        self.next(self.end)

    @step
    def end(self):
        pass


@pytest.mark.parametrize(
    "size, taken, untaken",
    [("big", "train_big", "train_small"), ("small", "train_small", "train_big")],
)
def test_switch_runs_only_the_chosen_branch(run_flow, size, taken, untaken):
    out = run_flow(SwitchFlow, size=size)
    assert out.successful
    assert out.run.data.result == f"{size} model evaluated"
    assert taken in out.run and untaken not in out.run
    assert (untaken, "0") not in out.executed


def test_switch_rejects_a_value_with_no_case_naming_value_artifact_and_step(run_flow):
    out = run_flow(SwitchFlow, size="medium")
    assert out.status == "failed"
    label, error = out.failures[0]
    assert label == "start/0"
    assert (
        "condition 'choice' is 'medium'" in error["traceback"]
        and "step 'start'" in error["traceback"]
    )


def test_resume_treats_the_untaken_branch_as_not_run(run_flow, datastore):
    first = run_flow(SwitchFlow, size="big")
    again = Runner(SwitchFlow, datastore=datastore).resume(step="evaluate")
    assert again.successful
    assert sorted(again.cloned) == [("start", "0"), ("train_big", "0")]
    assert "train_small" not in again.run
    assert first.run_id != again.run_id


def test_switch_lint_errors(write_flow):
    missing_condition = write_flow(
        """
        from rayflow import FlowSpec, step

        class F(FlowSpec):
            @step
            def start(self):
                self.next({"a": self.a})

            @step
            def a(self):
                self.next(self.end)

            @step
            def end(self):
                pass
    """,
        "missing_condition.py",
    )
    cls, _ = load_flow(missing_condition)
    with pytest.raises(LintError) as err:
        checked_graph(cls)
    assert any(
        ":6: step 'start': a switch mapping in self.next() needs condition=" in p
        for p in err.value.problems
    )
    empty = write_flow(
        """
        from rayflow import FlowSpec, step

        class G(FlowSpec):
            @step
            def start(self):
                self.next({}, condition="x")

            @step
            def end(self):
                pass
    """,
        "empty_switch.py",
    )
    cls, _ = load_flow(empty)
    with pytest.raises(LintError) as err:
        checked_graph(cls)
    assert any("empty switch mapping" in p for p in err.value.problems)


class LoopFlow(FlowSpec):
    """Metaflow 2.19's recursive switch: ``loop`` runs again until ``again`` is False."""

    limit = Parameter("limit", default=3)
    fail_at = Parameter("fail_at", default=0)

    @step
    def start(self):
        self.items = ["a", "b"]
        self.next(self.per_item, foreach="items")

    @step
    def per_item(self):
        self.count = 0
        self.next(self.loop)

    @step
    def loop(self):
        from rayflow import current

        self.count += 1
        if self.count == self.fail_at and self.input == "b":
            raise RuntimeError("iteration fails")
        self.again = self.count < self.limit
        self.seen = (self.input, self.index, current.task_id)
        self.next({True: self.loop, False: self.join}, condition="again")

    @step
    def join(self, inputs):
        self.results = sorted((i.input, i.count, i.seen) for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_recursive_switch_runs_the_step_again_as_new_tasks(run_flow, datastore):
    out = run_flow(LoopFlow, limit=3)
    assert out.successful, out.failures
    assert out.run.data.results == [("a", 3, ("a", 0, "0.2")), ("b", 3, ("b", 1, "1.2"))]
    ids = sorted(t.id for t in out.run["loop"].tasks())
    assert ids == ["0", "0.1", "0.2", "1", "1.1", "1.2"]
    assert out.run["loop"]["1.1"].index == 1

    failed = run_flow(LoopFlow, limit=3, fail_at=2)
    assert not failed.successful and [label for label, _ in failed.failures] == ["loop/1.1"]
    resumed = Runner(LoopFlow, datastore=datastore).resume(origin_run_id=failed.run_id)
    assert not resumed.successful  # the same parameters: iteration 2 of "b" fails again
    assert ("loop", "0.2") in resumed.cloned and ("loop", "1") in resumed.cloned
