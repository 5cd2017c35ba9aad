"""Graph facts come from building the graph, not from lint: a plan built without lint already
says which split each join closes, and the scheduler's ready-set can use it."""

from __future__ import annotations

from rayflow import FlowSpec, step
from rayflow._graph import build_graph
from rayflow.scheduler._identity import TaskSpec
from rayflow.scheduler._planner import Planner
from rayflow.scheduler._result import TaskResult


class NestedFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.fan, foreach="items")

    @step
    def fan(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.next(self.inner_join)

    @step
    def right(self):
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_plan_built_without_lint_names_the_split_each_join_closes():
    plan = build_graph(NestedFlow).to_plan()
    assert plan["inner_join"]["closes"] == "fan"
    assert plan["outer_join"]["closes"] == "start"
    assert all(plan[s]["closes"] is None for s in ("start", "fan", "left", "right", "end"))


def test_the_ready_set_joins_branches_with_a_plan_built_without_lint():
    planner = Planner(build_graph(NestedFlow).to_plan())
    frame = ("start", 0, 1, "key0")
    left = TaskSpec("left", (frame,), (("fan", "0"),))
    right = TaskSpec("right", (frame,), (("fan", "0"),))
    assert planner.on_done(left, TaskResult(ok=True, next=["inner_join"])) == []
    ready = planner.on_done(right, TaskResult(ok=True, next=["inner_join"]))
    assert [(s.step, s.frames, s.inputs) for s in ready] == [
        ("inner_join", (frame,), ((left.step, left.task_id), (right.step, right.task_id)))
    ]
    inner = ready[0]
    ready = planner.on_done(inner, TaskResult(ok=True, next=["outer_join"]))
    assert [(s.step, s.frames) for s in ready] == [("outer_join", ())]
