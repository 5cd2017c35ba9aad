"""Typed task results: the planner reads a finished task's ``TaskResult`` and tells each next task
which attempt of its inputs finished, so the task reads those records directly. No Ray here."""

from __future__ import annotations

from rayflow import FlowSpec, step
from rayflow._prepare import plan_for
from rayflow.scheduler._identity import TaskSpec
from rayflow.scheduler._planner import Planner
from rayflow.scheduler._result import Fanout, TaskResult


class Fan(FlowSpec):
    @step
    def start(self):
        self.xs = [1, 2, 3]
        self.next(self.work, foreach="xs")

    @step
    def work(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_join_is_told_the_finished_attempt_of_each_input():
    _, plan = plan_for(Fan)
    planner = Planner(plan)
    (start,) = planner.initial()
    splits = planner.on_done(
        start, TaskResult(ok=True, next=["work"], foreach=Fanout(3, ["k0", "k1", "k2"]))
    )
    assert [s.task_id for s in splits] == ["0", "1", "2"]
    assert all(s.input_attempts == (0,) for s in splits)
    ready: list[TaskSpec] = []
    for spec, attempt in zip(splits, (0, 2, 1)):  # split 1 finished on its third attempt
        ready += planner.on_done(spec, TaskResult(ok=True, next=["join"], attempt=attempt))
    (join,) = ready
    assert join.inputs == (("work", "0"), ("work", "1"), ("work", "2"))
    assert join.input_attempts == (0, 2, 1)
    assert join.to_wire()["input_attempts"] == [0, 2, 1]


def test_a_failure_result_carries_its_error_and_is_not_ok():
    result = TaskResult.failure({"type": "X", "message": "m", "traceback": "t"}, crashed=True)
    assert (
        not result.ok and result.crashed and not result.cancelled and result.error["message"] == "m"
    )
