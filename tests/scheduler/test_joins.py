"""What a join step can see: only what it merges, plus the run's parameters."""

from rayflow import FlowSpec, Parameter, step


class UnmergedReadFlow(FlowSpec):
    @step
    def start(self):
        self.before_split = "pre"
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.got = self.before_split
        self.next(self.end)

    @step
    def end(self):
        pass


def test_reading_an_unmerged_artifact_in_a_join_fails_naming_it(run_flow):
    out = run_flow(UnmergedReadFlow)
    assert not out.successful
    assert [label for label, _ in out.failures] == ["join/0"]
    error = out.failures[0][1]
    assert error["type"] == "AttributeError"
    assert "before_split" in error["message"]
    assert "end" not in out.run


class ProbeFlow(FlowSpec):
    @step
    def start(self):
        self.before_split = "pre"
        self.items = [1, 2]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        try:
            self.before_split
        except AttributeError:
            self.missing = True
        else:
            self.missing = False
        self.from_input = inputs[0].before_split
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_foreach_join_reads_pre_split_artifacts_only_through_its_inputs(run_flow):
    out = run_flow(ProbeFlow)
    assert out.successful
    data = out.run["join"].task.data
    assert data.missing is True
    assert data.from_input == "pre"


class ParamsEverywhereFlow(FlowSpec):
    alpha = Parameter("alpha", default=5)
    label = Parameter("label", default="lbl")

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.scaled = self.input * self.alpha
        self.next(self.join)

    @step
    def join(self, inputs):
        self.in_join = (self.alpha, self.label)
        self.total = sum(i.scaled for i in inputs)
        self.merge_artifacts(inputs, exclude=["scaled"])
        self.next(self.end)

    @step
    def end(self):
        self.in_end = (self.alpha, self.label, self.total)


def test_parameters_are_visible_in_joins_and_in_end(run_flow):
    out = run_flow(ParamsEverywhereFlow, alpha=7)
    assert out.successful, out.failures
    run = out.run
    assert run["join"].task.data.in_join == (7, "lbl")
    assert run.data.in_end == (7, "lbl", 42)
    assert run.data.alpha == 7


class ParamWriteFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)

    @step
    def start(self):
        self.alpha = 2
        self.next(self.end)

    @step
    def end(self):
        pass


def test_assigning_to_a_parameter_in_a_step_fails_the_step(run_flow):
    out = run_flow(ParamWriteFlow)
    assert not out.successful
    assert [label for label, _ in out.failures] == ["start/0"]
    assert "alpha" in out.failures[0][1]["message"]


class ForeachMergeFlow(FlowSpec):
    @step
    def start(self):
        self.pre = "p"
        self.items = [1, 2, 3]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.per_split = self.input
        self.agreed = "same everywhere"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs, exclude=["per_split"])
        self.got = (self.pre, self.agreed, self.items)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_merge_artifacts_in_a_foreach_join_takes_what_the_splits_agree_on(run_flow):
    out = run_flow(ForeachMergeFlow)
    assert out.successful, out.failures
    join = out.run["join"].task
    assert join.data.got == ("p", "same everywhere", [1, 2, 3])
    assert "per_split" not in join


class ForeachMergeConflictFlow(ForeachMergeFlow):
    @step
    def join(self, inputs):
        self.merge_artifacts(inputs)
        self.next(self.end)


def test_merge_artifacts_in_a_foreach_join_fails_on_per_split_values(run_flow):
    out = run_flow(ForeachMergeConflictFlow)
    assert not out.successful
    assert [label for label, _ in out.failures] == ["join/0"]
    message = out.failures[0][1]["message"]
    assert "per_split" in message
    assert "agreed" not in message and "pre" not in message.replace("per_split", "")


class UnderscoreInputFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self._hidden = "from a"
        self.next(self.join)

    @step
    def b(self):
        self._hidden = "from b"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.hidden = [inp._hidden for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_join_reads_underscore_artifacts_of_its_inputs(run_flow):
    out = run_flow(UnderscoreInputFlow)
    assert out.successful, out.failures
    assert out.run["join"].task.data.hidden == ["from a", "from b"]
