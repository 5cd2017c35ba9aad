"""``current`` inside a running step, and outside of one."""

from rayflow import FlowSpec, current, step


class CurrentFlow(FlowSpec):
    @step
    def start(self):
        self.facts = {
            "flow_name": current.flow_name,
            "run_id": current.run_id,
            "step_name": current.step_name,
            "task_id": current.task_id,
            "pathspec": current.pathspec,
            "retry_count": current.retry_count,
            "is_running_flow": current.is_running_flow,
            "node_id": current.node_id,
            "username": current.username,
        }
        self.items = [1, 2]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.where = (current.step_name, current.task_id, current.pathspec)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        self.end_facts = (current.step_name, current.task_id, current.is_running_flow)


def test_current_describes_the_running_task(run_flow):
    out = run_flow(CurrentFlow)
    assert out.successful
    facts = out.run["start"].task.data.facts
    assert facts["flow_name"] == "CurrentFlow"
    assert facts["run_id"] == out.run_id
    assert facts["step_name"] == "start"
    assert facts["task_id"] == "0"
    assert facts["pathspec"] == f"CurrentFlow/{out.run_id}/start/0"
    assert facts["retry_count"] == 0
    assert facts["is_running_flow"] is True
    assert isinstance(facts["node_id"], str) and facts["node_id"]
    assert facts["username"] == "tester"
    assert out.run["work"]["1"].data.where == ("work", "1", f"CurrentFlow/{out.run_id}/work/1")
    assert out.run.data.end_facts == ("end", "0", True)


def test_current_outside_a_running_step_is_empty(run_flow):
    run_flow(CurrentFlow)
    assert current.is_running_flow is False
    assert current.pathspec is None
    assert current.step_name is None
    assert current.run_id is None
