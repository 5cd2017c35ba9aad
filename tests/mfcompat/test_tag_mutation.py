"""Tasks of one run adding and removing tags at the same time lose none (Metaflow's
TagMutationTest): each mutation is its own object in the datastore, not a rewrite of run.json."""

from __future__ import annotations

from rayflow import FlowSpec, Run, Task, current, step


class TaggingFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(6))
        self.next(self.tag, foreach="items")

    @step
    def tag(self):
        run = Task(current.pathspec).parent.parent
        for i in range(4):  # every task the same tags, as Metaflow's TagMutationTest
            run.add_tag(str(i))
            assert str(i) in run.user_tags  # what this task's own mutation made
            run.remove_tag(str(i))
            assert str(i) not in run.user_tags
            run.add_tag(f"kept-{self.input}-{i}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_tasks_mutating_tags_at_once_lose_none(run_flow):
    out = run_flow(TaggingFlow, runner_options={"tags": ["given"]})
    assert out.successful, out.failures
    run = Run(out.pathspec)
    expected = {"given"} | {f"kept-{k}-{i}" for k in range(6) for i in range(4)}
    assert run.user_tags == expected  # each "0".."3" was last removed by the task that added it
    assert run.replace_tags(["given"], ["replaced"]) == (expected - {"given"}) | {"replaced"}
    assert [r.id for r in run.parent.runs("kept-5-3", "replaced")] == [run.id]
