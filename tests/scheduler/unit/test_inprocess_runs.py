"""Whole flows through the driver loop with the real task body, in the test's process: what the
tasks wrote to a real local datastore, without Ray."""

from __future__ import annotations

from rayflow.datastore import taskrecords

from .conftest import artifact, drive
from .flows import Branches, Flaky, Linear, Loop, Splits, Switch


def test_a_linear_flow_carries_its_artifacts_from_step_to_step(storage):
    drove = drive(Linear, storage)
    assert drove.ran == ["start/0/0", "middle/0/0", "end/0/0"]
    assert artifact(storage, "Linear", "r1", "end", "0", "x") == 3


def test_a_foreach_join_reads_every_split_in_split_order(storage):
    drove = drive(Splits, storage, window=3)
    assert not drove.outcome.failures
    assert artifact(storage, "Splits", "r1", "join", "0", "outs") == [11, 21, 31, 41, 51, 61]


def test_a_static_join_reads_both_branches(storage):
    drive(Branches, storage)
    assert artifact(storage, "Branches", "r1", "join", "0", "sides") == ["left", "right"]


def test_a_switch_records_its_choice_and_runs_only_that_case(storage):
    drove = drive(Switch, storage)
    assert drove.ran == ["start/0/0", "fast/0/0", "end/0/0"]
    assert taskrecords.read_task(storage, "Switch", "r1", "start", "0").switch == "fast"


def test_a_recursive_switch_runs_until_its_condition_says_no(storage):
    drove = drive(Loop, storage)
    assert drove.ran == ["start/0/0", "count/0/0", "count/1/0", "count/2/0", "end/0/0"]
    assert artifact(storage, "Loop", "r1", "end", "0", "n") == 3


def test_a_retried_step_keeps_a_record_per_attempt_and_finishes_with_the_last(storage):
    drove = drive(Flaky, storage)
    assert [r for r in drove.ran if r.startswith("work")] == ["work/0/0", "work/0/1", "work/0/2"]
    assert artifact(storage, "Flaky", "r1", "work", "0", "attempt_that_worked") == 2
    failed = taskrecords.read_attempt(storage, "Flaky", "r1", "work", "0", 1)
    assert not failed.finished and "attempt 1 fails" in failed.exception["message"]
