"""Resume choosing what runs again, and the cloning of task records, without Ray: a first run
and its resume both go through the driver loop with the real task body, in the test's process."""

from __future__ import annotations

import pytest

from rayflow.datastore import BlobStore, paths, taskrecords
from rayflow.scheduler._clone import clone_task
from rayflow.scheduler._errors import ResumeError
from rayflow.scheduler._identity import TaskSpec
from rayflow.scheduler._resume import Cloner, downstream, shape_changes

from .conftest import artifact, drive, plan_of
from .flows import Splits


@pytest.fixture
def failed_run(storage):
    """Run ``r1`` of Splits where split 3 failed (then "fixed": the next run's split 3 works)."""
    Splits.FAIL = {3}
    try:
        drove = drive(Splits, storage, run_id="r1")
    finally:
        Splits.FAIL = set()
    assert [s.label() for s, _ in drove.outcome.failures] == ["work/3"]
    return drove


def resume(storage, rerun=frozenset()):
    return drive(
        Splits, storage, run_id="r2", cloner=Cloner(storage, "Splits", "r1", "r2", set(rerun))
    )


def test_resume_clones_every_finished_task_and_runs_the_failed_split_and_what_follows(
    storage, failed_run
):
    again = resume(storage)
    assert sorted(again.outcome.cloned) == [("start", "0")] + [
        ("work", str(i)) for i in (0, 1, 2, 4, 5)
    ]
    assert again.ran == ["work/3/0", "join/0/0", "end/0/0"]
    assert artifact(storage, "Splits", "r2", "join", "0", "outs") == [11, 21, 31, 41, 51, 61]


def test_resume_from_a_step_runs_that_step_and_every_step_after_it(storage, failed_run):
    again = resume(storage, rerun=downstream(plan_of(Splits), "work"))
    assert again.outcome.cloned == [("start", "0")]
    assert sorted(r for r in again.ran if r.startswith("work")) == [f"work/{i}/0" for i in range(6)]


def test_a_task_is_not_cloned_when_one_of_its_inputs_ran_again(storage, failed_run):
    # r2 finished every task; r3 re-runs the splits alone: the join and end that finished in
    # r2 read the new splits, so they run again too
    assert ("join", "0") in resume(storage).outcome.executed
    cloner = Cloner(storage, "Splits", "r2", "r3", {"work"})
    third = drive(Splits, storage, run_id="r3", cloner=cloner)
    assert third.outcome.cloned == [("start", "0")]
    assert "join/0/0" in third.ran and "end/0/0" in third.ran


def test_downstream_of_a_step_is_it_and_everything_it_leads_to():
    assert downstream(plan_of(Splits), "work") == {"work", "join", "end"}
    with pytest.raises(
        ResumeError, match="the flow has no step 'nope' \\(steps: start, work, join, end\\)"
    ):
        downstream(plan_of(Splits), "nope")


def test_a_step_whose_transitions_changed_runs_again_with_what_follows_it():
    origin = plan_of(Splits)
    changed = {step: dict(node) for step, node in origin.items()}
    changed["work"]["out"] = ["end"]
    del changed["join"]
    steps, notes = shape_changes(origin, changed)
    assert steps == {"work", "end"}
    assert notes == [
        "step 'join' no longer exists; its tasks in the origin are not cloned",
        "step 'work' changed its transitions since the origin run; "
        "it and the steps after it run again",
    ]


def test_a_clone_points_at_the_origins_blobs_and_names_the_attempt_it_came_from(
    storage, failed_run
):
    spec = TaskSpec("work", frames=_frames(storage, 4), inputs=(("start", "0"),))
    result = clone_task(storage, "Splits", "r1", "4", spec, "r9", same_position=True)
    assert result is not None and result.ok and result.cloned and result.next == ["join"]
    source = taskrecords.read_task(storage, "Splits", "r1", "work", "4")
    clone = taskrecords.read_task(storage, "Splits", "r9", "work", "4")
    assert clone.finished and clone.cloned and clone.attempt == 0
    assert clone.artifacts == source.artifacts
    assert clone.origin == {"pathspec": "Splits/r1/work/4", "attempt": 0}
    # a clone of a clone still names the task that ran
    again = clone_task(storage, "Splits", "r9", "4", spec, "r10", same_position=True)
    assert again is not None
    assert taskrecords.read_task(storage, "Splits", "r10", "work", "4").origin == clone.origin


def test_a_clone_of_a_foreach_carries_its_splits_items(storage, failed_run):
    result = clone_task(storage, "Splits", "r1", "0", TaskSpec("start"), "r9", same_position=True)
    assert result is not None and result.foreach.n == 6
    keys = BlobStore(storage, "Splits").get(
        taskrecords.read_task(storage, "Splits", "r1", "start", "0").foreach["items"]
    )
    assert result.foreach.items == keys


def test_a_task_that_did_not_finish_is_not_cloned(storage, failed_run):
    spec = TaskSpec("work", frames=_frames(storage, 3), inputs=(("start", "0"),))
    assert clone_task(storage, "Splits", "r1", "3", spec, "r9") is None
    assert not storage.exists(paths.task_dir("Splits", "r9", "work", "3"))


def test_resume_does_not_clone_a_task_from_another_position(storage, failed_run):
    spec = TaskSpec("work", frames=_frames(storage, 4), inputs=(("other", "0"),))
    assert clone_task(storage, "Splits", "r1", "4", spec, "r9", same_position=True) is None
    assert clone_task(storage, "Splits", "r1", "4", spec, "r9") is not None  # the cache may


def test_the_cache_does_not_clone_a_task_whose_blobs_are_gone(storage, failed_run):
    spec = TaskSpec("work", frames=_frames(storage, 5), inputs=(("start", "0"),))
    record = taskrecords.read_task(storage, "Splits", "r1", "work", "5")
    storage.delete(paths.blob_file("Splits", record.artifacts["out"]))
    assert (
        clone_task(storage, "Splits", "r1", "5", spec, "r9", check_blobs=True, cache_key="k")
        is None
    )
    assert not storage.exists(paths.task_dir("Splits", "r9", "work", "5"))


def _frames(storage, i: int) -> tuple:
    record = taskrecords.read_task(storage, "Splits", "r1", "work", str(i))
    return tuple(tuple(f) for f in record.frames)
