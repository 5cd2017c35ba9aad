"""Client and flow behaviours Metaflow's own test/core checks (benchmarks/metaflow_suite.py):
@parallel steps, a task's parents and children, resume metadata, Task(current.pathspec) from a
running step, and merge_artifacts' exception classes. Small flows of our own, run in-process."""

from __future__ import annotations

import pytest

from rayflow import FlowSpec, Runner, Task, current, parallel, step
from rayflow.exception import (
    MetaflowException,
    MissingInMergeArtifactsException,
    UnhandledInMergeArtifactsException,
)


class ParallelFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=3)

    @parallel
    @step
    def train(self):
        self.node = current.parallel.node_index
        self.nodes = current.parallel.num_nodes
        self.same = self.input == self.node
        self.next(self.join)

    @step
    def join(self, inputs):
        self.seen = sorted((i.node, i.nodes, i.same) for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        self.mine = Task(current.pathspec).pathspec
        self.task_obj = current.task
        self.run_obj = current.run
        self.tag_set = current.tags
        self.tag_set.add("added here")
        self.step_seen = self._current_step


def test_a_parallel_step_runs_num_parallel_tasks_that_know_their_node(run_flow):
    out = run_flow(ParallelFlow)
    assert out.successful
    run = out.run if hasattr(out, "run") else None
    from rayflow import Run

    run = Run(out.pathspec)
    assert run["join"].task.data.seen == [(0, 3, True), (1, 3, True), (2, 3, True)]
    assert [t.id for t in run["train"].control_tasks()] == [run["train"].task.id]
    assert run["start"].control_tasks() == []
    graph = ParallelFlow(use_cli=False)._graph
    assert graph["train"].parallel_step and not graph["join"].parallel_step


def test_tasks_know_their_parents_and_children(run_flow):
    from rayflow import Run

    out = run_flow(ParallelFlow)
    run = Run(out.pathspec)
    trains = {t.pathspec for t in run["train"]}
    assert {t.pathspec for t in run["start"].task.child_tasks} == trains
    assert {t.pathspec for t in run["join"].task.parent_tasks} == trains
    (one,) = [t for t in run["train"] if t.index == 1]
    assert one.parent_tasks == [run["start"].task] and one.child_tasks == [run["join"].task]
    assert [s.id for s in run["join"].parent_steps] == ["train"]
    assert [s.id for s in run["train"].child_steps] == ["join"]
    assert one.path_components == ["ParallelFlow", out.run_id, "train", one.id]


def test_a_running_step_reads_its_own_task_through_the_client(run_flow):
    from rayflow import Run

    out = run_flow(ParallelFlow)
    end = Run(out.pathspec)["end"].task
    assert end.data.mine == end.pathspec
    assert end.data.tag_set == {"added here"} and end.data.step_seen == "end"


def test_current_task_and_run_are_client_objects_readable_in_any_namespace(run_flow):
    import rayflow
    from rayflow import Run

    out = run_flow(ParallelFlow)
    end = Run(out.pathspec)["end"].task
    rayflow.namespace("user:nobody")
    try:
        assert end.data.task_obj.pathspec == end.pathspec
        assert end.data.run_obj.id == out.run_id
        assert end.data.run_obj["join"].task.data.seen[0] == (0, 3, True)
        assert end.parent.parent.id == out.run_id and "user:nobody" not in end.tags
    finally:
        rayflow.namespace(None)


class ResumedFlow(FlowSpec):
    @step
    def start(self):
        self.data = "start"
        self.next(self.end)

    @step
    def end(self):
        if not current.origin_run_id:
            raise ValueError("fails the first time")
        self.data = "end"


def test_a_resumed_run_tells_origin_run_and_task_in_metadata_dict(run_flow, datastore):
    from rayflow import Run

    first = run_flow(ResumedFlow)
    assert not first.successful
    second = Runner(ResumedFlow, datastore=datastore).resume(origin_run_id=first.run_id)
    assert second.successful
    run, origin = Run(second.pathspec), Run(first.pathspec)
    cloned, rerun = run["start"].task.metadata_dict, run["end"].task.metadata_dict
    assert cloned["origin-run-id"] == rerun["origin-run-id"] == first.run_id
    assert cloned["origin-task-id"] == "0" and "origin-task-id" not in rerun
    assert cloned["python_version"] == rerun["python_version"] != ""
    original = origin["start"].task.metadata_dict
    assert {k: v for k, v in cloned.items() if not k.startswith("origin-")} == original
    assert run["start"].origin_pathspec == f"ResumedFlow/{first.run_id}/start"
    assert run.origin_pathspec == f"ResumedFlow/{first.run_id}"


class MergeFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.next(self.join)

    @step
    def b(self):
        self.x = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        try:
            self.merge_artifacts(inputs)
        except UnhandledInMergeArtifactsException as exc:
            self.unhandled = exc.artifact_names
        try:
            self.merge_artifacts(inputs, include=["nowhere"])
        except MissingInMergeArtifactsException as exc:
            self.missing = exc.artifact_names
        try:
            self.merge_artifacts(inputs, include=["x"], exclude=["y"])
        except MetaflowException:
            self.both_refused = True
        self.next(self.end)

    @step
    def end(self):
        try:
            self.merge_artifacts([])
        except MetaflowException as exc:
            self.outside_join = exc.headline


def test_merge_artifacts_raises_metaflows_exception_classes(run_flow):
    from rayflow import Run

    out = run_flow(MergeFlow)
    join = Run(out.pathspec)["join"].task
    assert join.data.unhandled == ["x"] and join.data.missing == ["nowhere"]
    assert join.data.both_refused
    assert Run(out.pathspec)["end"].task.data.outside_join == "Unable to merge artifacts"


def test_client_objects_compare_by_pathspec_and_skip_the_namespace_check_when_asked(run_flow):
    import rayflow
    from rayflow import Run

    out = run_flow(ResumedFlow)
    rayflow.namespace("user:nobody")
    try:
        with pytest.raises(rayflow.NotInNamespace):
            Run(out.pathspec)
        run = Run(out.pathspec, _namespace_check=False)
        task = Task(f"{out.pathspec}/start/0", _namespace_check=False)
        assert task == run["start"].task and task.parent == run["start"]
        assert len({task, run["start"].task}) == 1
    finally:
        rayflow.namespace(None)


def test_steps_tasks_and_artifacts_carry_the_run_tags_and_filter_by_them(run_flow):
    from rayflow import Flow, Run

    out = run_flow(MergeFlow, runner_options={"tags": ["刺身 means sashimi"]})
    run = Run(out.pathspec)
    assert Flow("MergeFlow").tags == frozenset()  # tags belong to runs
    assert [s.id for s in run.steps("刺身 means sashimi")] == [s.id for s in run.steps()]
    assert run.steps("not_a_tag") == [] and run.steps("not_a_tag", "刺身 means sashimi") == []
    join = run["join"]
    assert "刺身 means sashimi" in join.tags and join.tasks("not_a_tag") == []
    assert [t.id for t in join.tasks("刺身 means sashimi")] == [t.id for t in join]
    assert all("刺身 means sashimi" in a.tags for a in join.task)


class NestedForeachFlow(FlowSpec):
    @step
    def start(self):
        self.xs = ["a", "b"]
        self.next(self.outer, foreach="xs")

    @step
    def outer(self):
        self.ys = [1, 2, 3]
        self.next(self.inner, foreach="ys")

    @step
    def inner(self):
        self.frames = [(f.step, f.var, f.num_splits, f.index, f.value) for f in self._foreach_stack]
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.frames = [i.frames for i in inputs]
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.frames = [f for i in inputs for f in i.frames]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_foreach_stack_frames_name_the_split_its_list_and_the_item(run_flow):
    from rayflow import Run

    out = run_flow(NestedForeachFlow)
    frames = Run(out.pathspec)["end"].task.data.frames
    assert [("start", "xs", 2, 0, "a"), ("outer", "ys", 3, 2, 3)] in frames
    assert len(frames) == 6
