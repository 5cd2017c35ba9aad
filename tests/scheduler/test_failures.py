"""A failing task stops only what depends on it; everything else is checkpointed."""

import json
import os

import pytest

import rayflow
from rayflow import FlowSpec, Runner, step
from rayflow._loader import load_flow


class OneBadSplitFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(8))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == 3:
            raise ValueError("split three is broken")
        self.out = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def _task_dir(ds, flow, run_id, step, task_id=None):
    parts = [ds, flow, "runs", run_id, step] + ([task_id] if task_id is not None else [])
    return os.path.join(*parts)


def test_one_failed_split_fails_the_run_but_keeps_the_other_splits(run_flow, datastore):
    out = run_flow(OneBadSplitFlow)
    assert not out.successful
    assert out.status == "failed"
    assert [label for label, _ in out.failures] == ["work/3"]
    error = out.failures[0][1]
    assert error["type"] == "ValueError"
    assert "split three is broken" in error["message"]
    assert "split three is broken" in error["traceback"]
    for i in range(8):
        record = _record(_task_dir(datastore, "OneBadSplitFlow", out.run_id, "work", str(i)))
        assert record["finished"] == (i != 3), i
    # the failed task left a record of its exception, not marked finished
    assert _record(_task_dir(datastore, "OneBadSplitFlow", out.run_id, "work", "3"))["exception"]
    assert not os.path.exists(_task_dir(datastore, "OneBadSplitFlow", out.run_id, "join"))
    assert not os.path.exists(_task_dir(datastore, "OneBadSplitFlow", out.run_id, "end"))
    run = out.run
    assert run.status == "failed"
    assert not run.successful
    assert not run.finished  # as in Metaflow: its end step never completed
    assert run.record["failed_tasks"] == ["work/3"]
    assert run["work"]["5"].data.out == 10
    assert not run["work"]["3"].finished
    assert run["work"]["3"].exception.type == "builtins.ValueError"
    assert run.data is None


class FailFastFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(24))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        import time

        if self.input == 0:
            raise RuntimeError("first split fails at once")
        time.sleep(0.25)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def _record(task_dir: str) -> dict:
    """The task's meta.json as stored (``finished`` is the done mark of format 2)."""
    with open(os.path.join(task_dir, "meta.json")) as f:
        record = json.load(f)
    record.setdefault("finished", False)
    return record


def _done_splits(ds, run_id):
    base = _task_dir(ds, "FailFastFlow", run_id, "work")
    return (
        [
            t
            for t in os.listdir(base)
            if any(
                _record_of(os.path.join(base, t), name).get("finished")
                for name in os.listdir(os.path.join(base, t))
                if name.startswith("meta")
            )
        ]
        if os.path.isdir(base)
        else []
    )


def _record_of(task_dir: str, name: str) -> dict:
    with open(os.path.join(task_dir, name)) as f:
        return json.load(f)


def test_fail_fast_stops_scheduling_after_the_first_failure(run_flow, datastore):
    # max_workers=2 keeps two tasks in flight, so the failing split 0 is among the first two
    out = run_flow(FailFastFlow, runner_options={"fail_fast": True, "max_workers": 2})
    assert not out.successful
    assert "work/0" in [label for label, _ in out.failures]
    done = _done_splits(datastore, out.run_id)
    # 23 splits would succeed; fail-fast lets only the few already running finish
    assert len(done) <= 3, done
    assert not os.path.exists(_task_dir(datastore, "FailFastFlow", out.run_id, "join"))


def test_without_fail_fast_every_independent_split_finishes(run_flow, datastore):
    out = run_flow(FailFastFlow)
    assert not out.successful
    assert [label for label, _ in out.failures] == ["work/0"]
    assert len(_done_splits(datastore, out.run_id)) == 23


class UnpicklableFlow(FlowSpec):
    @step
    def start(self):
        import threading

        self.fine = 1
        self.lock = threading.Lock()
        self.next(self.end)

    @step
    def end(self):
        pass


def test_an_unpicklable_artifact_fails_its_task_naming_artifact_and_step(run_flow, datastore):
    out = run_flow(UnpicklableFlow)
    assert not out.successful
    assert [label for label, _ in out.failures] == ["start/0"]
    message = out.failures[0][1]["message"]
    assert "'lock'" in message
    assert "'start'" in message
    assert not _record(_task_dir(datastore, "UnpicklableFlow", out.run_id, "start", "0"))[
        "finished"
    ]
    assert "end" not in out.run


def test_a_step_without_self_next_is_caught_by_lint_before_running(write_flow, datastore, tmp_path):
    path = write_flow("""
        from rayflow import FlowSpec, step

        class NoNextFlow(FlowSpec):
            @step
            def start(self):
                self.x = 1

            @step
            def end(self):
                pass
    """)
    with pytest.raises(rayflow.LintError) as info:
        Runner(path, datastore=datastore).run()
    assert any("step 'start'" in p and "self.next" in p for p in info.value.problems)
    # nothing was run, so nothing was recorded
    assert not os.path.exists(os.path.join(datastore, "NoNextFlow"))
    cls, _ = load_flow(path)
    assert cls.__name__ == "NoNextFlow"


class TwiceNextFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_calling_self_next_twice_fails_the_step(run_flow):
    out = run_flow(TwiceNextFlow)
    assert not out.successful
    assert [label for label, _ in out.failures] == ["start/0"]
    assert "twice" in out.failures[0][1]["message"]


class UserErrorInBranchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.good, self.bad)

    @step
    def good(self):
        self.g = "done"
        self.next(self.join)

    @step
    def bad(self):
        raise KeyError("nope")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_failed_branch_leaves_the_other_branch_checkpointed_and_the_join_unrun(run_flow):
    out = run_flow(UserErrorInBranchFlow)
    assert not out.successful
    assert [label for label, _ in out.failures] == ["bad/0"]
    run = out.run
    assert run["good"].task.finished
    assert run["good"].task.data.g == "done"
    assert "join" not in run
