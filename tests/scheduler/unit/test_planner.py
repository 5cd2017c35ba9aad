"""The planner alone: which tasks a finished task makes ready (no executor, no datastore)."""

from __future__ import annotations

from rayflow.scheduler._identity import LOOP, TaskSpec
from rayflow.scheduler._planner import Planner
from rayflow.scheduler._result import Fanout, TaskResult

from .conftest import plan_of
from .flows import Branches, Linear, Loop, Nested, Splits, Switch


def ok(*next_steps: str, attempt: int = 0, items: int = 0) -> TaskResult:
    fanout = Fanout(items, [f"k{i}" for i in range(items)]) if items else None
    return TaskResult(ok=True, next=list(next_steps), attempt=attempt, foreach=fanout)


def labels(specs: list[TaskSpec]) -> list[str]:
    return [s.label() for s in specs]


def test_start_is_the_only_task_ready_at_first():
    assert labels(Planner(plan_of(Linear)).initial()) == ["start/0"]


def test_a_linear_step_makes_its_successor_ready_reading_its_finished_attempt():
    planner = Planner(plan_of(Linear))
    [middle] = planner.on_done(TaskSpec("start"), ok("middle", attempt=2))
    assert middle.label() == "middle/0"
    assert middle.inputs == (("start", "0"),)
    assert middle.input_attempts == (2,)
    assert planner.on_done(TaskSpec("end"), ok()) == []


def test_a_foreach_fans_out_one_task_per_item_each_with_its_frame():
    planner = Planner(plan_of(Splits))
    splits = planner.on_done(TaskSpec("start"), ok("work", items=3))
    assert labels(splits) == ["work/0", "work/1", "work/2"]
    assert [s.frames for s in splits] == [(("start", i, 3, f"k{i}"),) for i in range(3)]
    assert all(s.inputs == (("start", "0"),) for s in splits)


def test_a_foreach_join_waits_for_every_split_and_lists_them_in_split_order():
    planner = Planner(plan_of(Splits))
    splits = planner.on_done(TaskSpec("start"), ok("work", items=3))
    assert planner.on_done(splits[2], ok("join", attempt=1)) == []
    assert planner.on_done(splits[0], ok("join")) == []
    [join] = planner.on_done(splits[1], ok("join"))
    assert join.label() == "join/0" and join.frames == ()
    assert join.inputs == (("work", "0"), ("work", "1"), ("work", "2"))
    assert join.input_attempts == (0, 0, 1)


def test_a_static_join_waits_for_both_branches_and_orders_inputs_as_the_graph_does():
    planner = Planner(plan_of(Branches))
    left, right = planner.on_done(TaskSpec("start"), ok("left", "right"))
    assert planner.on_done(right, ok("join")) == []
    [join] = planner.on_done(left, ok("join"))
    assert join.inputs == (("left", "0"), ("right", "0"))


def test_a_switch_makes_only_the_chosen_case_ready():
    planner = Planner(plan_of(Switch))
    assert labels(planner.on_done(TaskSpec("start"), ok("slow"))) == ["slow/0"]


def test_a_recursive_switch_runs_its_step_again_as_a_new_task_per_iteration():
    planner = Planner(plan_of(Loop))
    [first] = planner.on_done(TaskSpec("start"), ok("count"))
    [second] = planner.on_done(first, ok("count"))
    [third] = planner.on_done(second, ok("count"))
    assert labels([first, second, third]) == ["count/0", "count/1", "count/2"]
    assert third.frames == ((LOOP, 2, 0, None),)
    assert third.inputs == (("count", "1"),)
    assert labels(planner.on_done(third, ok("end"))) == ["end/0"]


def test_nested_foreach_joins_close_the_inner_splits_per_outer_split():
    planner = Planner(plan_of(Nested))
    rows = planner.on_done(TaskSpec("start"), ok("row", items=2))
    cells = {row.task_id: planner.on_done(row, ok("cell", items=3)) for row in rows}
    assert labels(cells["1"]) == ["cell/1.0", "cell/1.1", "cell/1.2"]
    ready = []
    for row_cells in (cells["1"], cells["0"]):
        for cell in row_cells:
            ready += planner.on_done(cell, ok("join_cols"))
    assert labels(ready) == ["join_cols/1", "join_cols/0"]
    assert ready[0].inputs == (("cell", "1.0"), ("cell", "1.1"), ("cell", "1.2"))
    assert planner.on_done(ready[0], ok("join_rows")) == []
    [join_rows] = planner.on_done(ready[1], ok("join_rows"))
    assert join_rows.inputs == (("join_cols", "0"), ("join_cols", "1"))
