"""Resume clones what finished and runs only what failed, and everything downstream of it."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from rayflow import Runner
from rayflow.datastore import BlobCorruptError, open_storage, paths, taskrecords

from .conftest import executions, touch, untouch
from .flows import LinearThree, SplitsFlow


def test_resume_reruns_only_the_failed_split(run_flow, datastore, folder):
    touch(folder, "fail-3")
    first = run_flow(SplitsFlow, folder=folder, n=10)
    assert first.status == "failed"
    assert [label for label, _ in first.failures] == ["work/3"]
    assert "split 3 was told to fail" in first.failures[0][1]["traceback"]
    untouch(folder, "fail-3")

    second = Runner(SplitsFlow, datastore=datastore).resume()
    assert second.successful
    assert sorted(second.executed) == [("end", "0"), ("join", "0"), ("work", "3")]
    assert len(second.cloned) == 10  # start + the 9 splits that had finished
    counts = Counter(executions(folder))
    assert counts["work/3/0"] == 2
    assert all(counts[f"work/{i}/0"] == 1 for i in range(10) if i != 3)
    assert counts["start/0/0"] == 1
    run = second.run
    assert run.data.total == sum(i * i for i in range(10))
    assert run.origin_pathspec == f"SplitsFlow/{first.run_id}"
    assert run["work"]["5"].origin_pathspec == f"SplitsFlow/{first.run_id}/work/5"
    assert run["work"]["5"].data.square == 25


def test_resume_of_a_resume_clones_from_every_generation(run_flow, datastore, folder):
    touch(folder, "fail-1")
    touch(folder, "fail-2")
    first = run_flow(SplitsFlow, folder=folder, n=4)
    untouch(folder, "fail-1")
    second = Runner(SplitsFlow, datastore=datastore).resume()
    assert second.status == "failed" and [f for f, _ in second.failures] == ["work/2"]
    untouch(folder, "fail-2")
    third = Runner(SplitsFlow, datastore=datastore).resume()
    assert third.successful
    assert sorted(third.executed) == [("end", "0"), ("join", "0"), ("work", "2")]
    # split 1 finished in the second run, split 0 in the first: both found through the chain
    assert third.run["work"]["1"].origin_pathspec == f"SplitsFlow/{second.run_id}/work/1"
    assert third.run["work"]["0"].origin_pathspec == f"SplitsFlow/{first.run_id}/work/0"


def test_resume_step_forces_that_step_and_everything_after(run_flow, datastore, folder):
    run_flow(SplitsFlow, folder=folder, n=3)
    before = len(executions(folder))
    again = Runner(SplitsFlow, datastore=datastore).resume(step="join")
    assert again.successful
    assert sorted(again.executed) == [("end", "0"), ("join", "0")]
    assert executions(folder)[before:] == ["join/0/0", "end/0/0"]


def test_resume_refuses_different_parameter_values(run_flow, datastore, folder):
    run_flow(SplitsFlow, folder=folder, n=3)
    with pytest.raises(Exception, match="--n: resume reuses the origin run's value 3"):
        Runner(SplitsFlow, datastore=datastore).resume(n=4)
    same = Runner(SplitsFlow, datastore=datastore).resume(n=3)
    assert same.successful and same.executed == []


def test_resume_after_a_worker_is_killed_with_sigkill(run_flow, datastore, folder):
    touch(folder, "kill-2")
    first = run_flow(SplitsFlow, folder=folder, n=5)
    assert first.status == "failed"
    assert [label for label, _ in first.failures] == ["work/2"]
    assert "died" in first.failures[0][1]["message"]
    storage = open_storage(datastore)
    done = [
        t
        for t in range(5)
        if taskrecords.is_done(storage, "SplitsFlow", first.run_id, "work", str(t))
    ]
    assert done == [0, 1, 3, 4]
    untouch(folder, "kill-2")
    second = Runner(SplitsFlow, datastore=datastore).resume()
    assert second.successful
    assert sorted(second.executed) == [("end", "0"), ("join", "0"), ("work", "2")]


def test_a_corrupt_blob_fails_the_task_that_reads_it_naming_blob_and_task(
    run_flow, datastore, folder
):
    first = run_flow(LinearThree, folder=folder)
    storage = open_storage(datastore)
    key = first.run["start"].task["data"].sha
    storage.write_atomic(paths.blob_file("LinearThree", key), b"Zgarbage")
    again = Runner(LinearThree, datastore=datastore).resume(step="middle")
    assert again.status == "failed"
    label, error = again.failures[0]
    assert label == "middle/0"
    assert key[:12] in error["traceback"] and "corrupt" in error["traceback"]
    assert f"LinearThree/{again.run_id}/middle/0" in error["traceback"]
    with pytest.raises(BlobCorruptError):
        first.run["start"].task.data.data


def test_changed_flow_shape_is_reported_and_rerun(run_flow, datastore, write_flow, capsys):
    source = """
        from rayflow import FlowSpec, step

        class ShapeFlow(FlowSpec):
            @step
            def start(self):
                self.x = 1
                self.next(self.a)

            @step
            def a(self):
                self.next(self.end)

            @step
            def end(self):
                pass
    """
    path = write_flow(source, "shape_v1.py")
    run_flow(path)
    changed = source.replace("self.next(self.a)", "self.next(self.b)").replace(
        "def a(self)", "def b(self)"
    )
    path2 = write_flow(changed, "shape_v2.py")
    notes: list[str] = []
    from rayflow._loader import load_flow
    from rayflow._resuming import resume_run

    cls, file = load_flow(path2)
    result = resume_run(cls, file, datastore=datastore, notify=notes.append, quiet=True)
    assert result.successful
    assert ("b", "0") in result.executed and ("end", "0") in result.executed
    assert ("start", "0") in result.executed  # start's transitions changed, so it runs again
    assert any("step 'a' no longer exists" in n for n in notes)
    assert any("step 'start' changed its transitions" in n for n in notes)
    assert os.path.exists(file)
