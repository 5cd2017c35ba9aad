"""The client API reads past runs back: Flow, Run, Step, Task, DataArtifact, namespaces."""

import pytest

import rayflow
from rayflow import Flow, FlowSpec, NotFound, Parameter, Run, Task, step


class ClientFlow(FlowSpec):
    n = Parameter("n", default=2)
    fail = Parameter("fail", default=False)

    @step
    def start(self):
        import sys

        self.items = list(range(self.n))
        print("to stdout")
        print("to stderr", file=sys.stderr)
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.fail:
            raise RuntimeError("asked to fail")
        self.sq = self.input**2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.sqs = [i.sq for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_run_steps_tasks_and_artifacts_read_back(run_flow):
    out = run_flow(ClientFlow, n=3)
    run = Run(out.pathspec)
    assert run.successful and run.finished
    assert run.parameters == {"n": 3, "fail": False}
    assert [s.id for s in run.steps()] == ["start", "work", "join", "end"]
    work = run["work"]
    assert [t.pathspec for t in work] == [f"ClientFlow/{out.run_id}/work/{i}" for i in range(3)]
    task = Task(f"ClientFlow/{out.run_id}/work/2")
    assert task.data.sq == 4
    assert task["sq"].data == 4
    assert task["sq"].pathspec == f"ClientFlow/{out.run_id}/work/2/sq"
    assert task.index == 2
    assert task.finished
    assert "sq" in task.data and "nope" not in task.data
    with pytest.raises(AttributeError):
        task.data.nope
    with pytest.raises(KeyError):
        task["nope"]
    assert run.data.sqs == [0, 1, 4]
    assert run.end_task.pathspec == f"ClientFlow/{out.run_id}/end/0"
    start = run["start"].task
    assert start.stdout == "to stdout\n"
    assert start.stderr == "to stderr\n"
    assert start.index is None
    assert run.created_at <= run.finished_at


def test_flow_lists_runs_newest_first_and_finds_the_latest_successful(run_flow):
    ok = run_flow(ClientFlow, n=1)
    bad = run_flow(ClientFlow, n=1, fail=True)
    assert not bad.successful
    flow = Flow("ClientFlow")
    assert [r.id for r in flow.runs()] == [bad.run_id, ok.run_id]
    assert flow.latest_run.id == bad.run_id
    assert flow.latest_successful_run.id == ok.run_id
    assert flow[ok.run_id].successful
    assert Run(bad.pathspec).status == "failed"
    assert Run(bad.pathspec).data is None


def test_unknown_flows_runs_and_tasks_raise_not_found(run_flow):
    out = run_flow(ClientFlow, n=1)
    with pytest.raises(NotFound):
        Flow("NoSuchFlow")
    with pytest.raises(NotFound):
        Run("ClientFlow/19990101T000000-000000")
    with pytest.raises(KeyError):
        Run(out.pathspec)["work"]["7"]
    with pytest.raises(KeyError):
        Run(out.pathspec)["nosuchstep"]
    with pytest.raises(NotFound):
        Run("not-a-pathspec")


def test_namespaces_filter_runs_by_user_and_tag(ray_session, datastore):
    from rayflow import Runner

    out = Runner(ClientFlow, datastore=datastore, tags=["blue"]).run(n=1)
    rayflow.namespace("user:tester")
    assert Run(out.pathspec).id == out.run_id
    rayflow.namespace("blue")
    assert [r.id for r in Flow("ClientFlow").runs()] == [out.run_id]
    rayflow.namespace("user:somebody_else")
    assert Flow("ClientFlow").runs() == []
    with pytest.raises(NotFound):
        Run(out.pathspec)
    rayflow.namespace(None)
    assert [r.id for r in Flow("ClientFlow").runs("blue")] == [out.run_id]
    assert Flow("ClientFlow").runs("red") == []
    assert rayflow.default_namespace() == "user:tester"
    assert rayflow.get_namespace() == "user:tester"


class UnderscoreFlow(FlowSpec):
    @step
    def start(self):
        self._hidden = "persisted"
        self.next(self.end)

    @step
    def end(self):
        pass


def test_task_data_reads_underscore_artifacts(run_flow):
    out = run_flow(UnderscoreFlow)
    task = out.run["end"].task
    assert task["_hidden"].data == "persisted"
    assert task.data._hidden == "persisted"
