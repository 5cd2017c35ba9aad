"""Static splits (``self.next(self.a, self.b)``) and their joins: inputs and merge_artifacts."""

from rayflow import FlowSpec, step


class TwoBranchFlow(FlowSpec):
    @step
    def start(self):
        self.shared = "from start"
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.only_a = "a!"
        self.next(self.join)

    @step
    def b(self):
        self.x = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.by_name = (inputs.a.x, inputs.b.x)
        self.iterated = sorted(inp.x for inp in inputs)
        self.count = len(inputs)
        self.shared_seen = [inp.shared for inp in inputs]
        self.x = sum(inp.x for inp in inputs)
        self.merge_artifacts(inputs)
        self.after_merge = self.shared
        self.next(self.end)

    @step
    def end(self):
        self.after = (self.x, self.shared, self.only_a)


def test_two_branch_split_runs_both_branches_and_joins_them(run_flow):
    out = run_flow(TwoBranchFlow)
    assert out.successful
    run = out.run
    assert run["a"].task.data.x == 1
    assert run["b"].task.data.x == 2
    join = run["join"].task.data
    assert join.by_name == (1, 2)
    assert join.iterated == [1, 2]
    assert join.count == 2
    assert join.shared_seen == ["from start", "from start"]
    assert join.after_merge == "from start"
    # x was set explicitly (conflict avoided); shared agreed; only_a came from one branch
    assert run.data.after == (3, "from start", "a!")
    assert [t.id for t in run["a"].tasks()] == ["0"]
    assert [t.id for t in run["join"].tasks()] == ["0"]


class ThreeBranchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b, self.c)

    @step
    def a(self):
        self.v = "a"
        self.next(self.join)

    @step
    def b(self):
        self.v = "b"
        self.next(self.join)

    @step
    def c(self):
        self.v = "c"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.order = [inp.v for inp in inputs]
        self.named = inputs.c.v + inputs.b.v + inputs.a.v
        self.next(self.end)

    @step
    def end(self):
        pass


def test_three_branch_split_gives_the_join_every_branch_in_declaration_order(run_flow):
    out = run_flow(ThreeBranchFlow)
    assert out.successful
    data = out.run["join"].task.data
    assert data.order == ["a", "b", "c"]
    assert data.named == "cba"
    assert {s.id for s in out.run} == {"start", "a", "b", "c", "join", "end"}


class ConflictFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.clash = 1
        self.same = "ok"
        self.next(self.join)

    @step
    def b(self):
        self.clash = 2
        self.same = "ok"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_merge_artifacts_with_conflicting_values_fails_the_join_naming_the_artifact(run_flow):
    out = run_flow(ConflictFlow)
    assert not out.successful
    assert out.status == "failed"
    assert [label for label, _ in out.failures] == ["join/0"]
    error = out.failures[0][1]
    assert (
        error["type"] == "UnhandledInMergeArtifactsException"
    )  # a MergeArtifactsError, named as in Metaflow
    assert "clash" in error["message"]
    assert "same" not in error["message"]
    assert "end" not in out.run


class ExplicitBeforeMergeFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.clash = 1
        self.next(self.join)

    @step
    def b(self):
        self.clash = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.clash = "chosen"
        self.merge_artifacts(inputs)
        self.next(self.end)

    @step
    def end(self):
        self.seen = self.clash


def test_an_artifact_set_in_the_join_before_merging_wins_over_the_inputs(run_flow):
    out = run_flow(ExplicitBeforeMergeFlow)
    assert out.successful
    assert out.run.data.seen == "chosen"


class IncludeExcludeFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.keep = "k"
        self.other = "o"
        self.clash = 1
        self.next(self.join)

    @step
    def b(self):
        self.keep = "k"
        self.other = "o"
        self.clash = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs, include=["keep"])
        self.next(self.mid)

    @step
    def mid(self):
        self.next(self.a2, self.b2)

    @step
    def a2(self):
        self.clash = 1
        self.next(self.join2)

    @step
    def b2(self):
        self.clash = 2
        self.next(self.join2)

    @step
    def join2(self, inputs):
        self.merge_artifacts(inputs, exclude=["clash"])
        self.next(self.end)

    @step
    def end(self):
        pass


def test_merge_artifacts_include_and_exclude_filter_what_is_merged(run_flow):
    out = run_flow(IncludeExcludeFlow)
    assert out.successful, out.failures
    join = out.run["join"].task
    assert join.data.keep == "k"
    assert "other" not in join
    assert "clash" not in join
    join2 = out.run["join2"].task
    assert join2.data.keep == "k"
    assert "clash" not in join2
    assert "clash" not in out.run["end"].task


class IncludeMissingFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.next(self.join)

    @step
    def b(self):
        self.x = 1
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs, include=["x", "ghost"])
        self.next(self.end)

    @step
    def end(self):
        pass


def test_merge_artifacts_include_naming_a_missing_artifact_is_an_error(run_flow):
    out = run_flow(IncludeMissingFlow)
    assert not out.successful
    assert [label for label, _ in out.failures] == ["join/0"]
    assert "ghost" in out.failures[0][1]["message"]


class MergeOutsideJoinFlow(FlowSpec):
    @step
    def start(self):
        self.merge_artifacts([])
        self.next(self.end)

    @step
    def end(self):
        pass


def test_merge_artifacts_outside_a_join_step_fails_the_step(run_flow):
    out = run_flow(MergeOutsideJoinFlow)
    assert not out.successful
    assert [label for label, _ in out.failures] == ["start/0"]
    assert "join" in out.failures[0][1]["message"]
    assert "end" not in out.run


class NestedSplitFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.a1, self.a2)

    @step
    def a1(self):
        self.v = 1
        self.next(self.ajoin)

    @step
    def a2(self):
        self.v = 2
        self.next(self.ajoin)

    @step
    def ajoin(self, inputs):
        self.v = sum(i.v for i in inputs)
        self.next(self.join)

    @step
    def b(self):
        self.v = 10
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = inputs.ajoin.v + inputs.b.v
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_split_nested_in_a_branch_is_joined_before_the_outer_join(run_flow):
    out = run_flow(NestedSplitFlow)
    assert out.successful
    assert out.run.data.total == 13
