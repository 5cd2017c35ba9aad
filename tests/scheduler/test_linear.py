from rayflow import FlowSpec, Parameter, current, step


class LinearFlow(FlowSpec):
    alpha = Parameter("alpha", default=2, help="a number")

    @step
    def start(self):
        self.x = self.alpha * 10
        self.where = current.pathspec
        self.next(self.middle)

    @step
    def middle(self):
        self.x += 1
        self.untouched_after = "kept"
        self.next(self.end)

    @step
    def end(self):
        self.final = (self.x, self.alpha, current.step_name, current.task_id)


def test_linear_flow_passes_artifacts_down_and_records_the_run(run_flow):
    out = run_flow(LinearFlow, alpha=3)
    assert out.successful
    run = out.run
    assert run.data.final == (31, 3, "end", "0")
    assert run["start"].task.data.where == f"LinearFlow/{out.run_id}/start/0"
    assert run["middle"].task.data.x == 31
    assert run.parameters == {"alpha": 3}
    assert [s.id for s in run] == ["start", "middle", "end"]
    assert run["end"].task.finished
