"""The driver loop on the in-process executor, with scripted task bodies: order, failures,
--fail-fast, retries, @catch after a crash, @concurrency, the window, stopping, interrupts."""

from __future__ import annotations

import os
import signal

from rayflow.scheduler._identity import TaskSpec
from rayflow.scheduler._result import TaskResult
from rayflow.scheduler._signals import Interrupts

from .conftest import drive, plan_of, scripted
from .flows import Branches, Caught, Flaky, Limited, Nested, Splits, Switch


def split(n: int):
    return lambda spec: spec.step == "work" and spec.task_id == str(n)


def test_every_task_runs_after_the_tasks_it_reads():
    drove = drive(Nested, body=scripted(plan_of(Nested), width=3))
    order = [s.label() for s in drove.executor.submitted]
    assert len(order) == 1 + 3 + 9 + 3 + 1 + 1
    for spec in drove.executor.submitted:
        for step, task_id in spec.inputs:
            assert order.index(f"{step}/{task_id}") < order.index(spec.label()), spec.label()
    assert ("end", "0") in drove.outcome.finished and not drove.outcome.failures


def test_a_static_split_runs_both_branches_and_their_join_once():
    drove = drive(Branches, body=scripted(plan_of(Branches)))
    assert sorted(drove.outcome.executed) == [
        ("end", "0"),
        ("join", "0"),
        ("left", "0"),
        ("right", "0"),
        ("start", "0"),
    ]


def test_a_switch_runs_only_the_case_it_chose():
    drove = drive(Switch, body=scripted(plan_of(Switch)))
    assert drove.ran == ["start/0/0", "fast/0/0", "end/0/0"]


def test_a_failed_split_stops_only_what_depends_on_it():
    drove = drive(Splits, body=scripted(plan_of(Splits), fail=split(2), width=6))
    outcome = drove.outcome
    assert [s.label() for s, _ in outcome.failures] == ["work/2"]
    assert "work/2 failed" in outcome.failures[0][1].error["message"]
    assert sorted(k for k in outcome.executed if k[0] == "work") == [
        ("work", str(i)) for i in range(6) if i != 2
    ]
    assert not any(k[0] in ("join", "end") for k in outcome.finished)
    assert "[work/2] step failed:" in drove.messages
    assert not outcome.cancelled


def test_fail_fast_cancels_the_queued_splits_and_submits_nothing_more():
    drove = drive(
        Splits, body=scripted(plan_of(Splits), fail=split(1), width=6), window=4, fail_fast=True
    )
    outcome = drove.outcome
    assert [s.label() for s, _ in outcome.failures] == ["work/1"]
    # a window of 4 splits; split 0 ended and split 4 took its place; split 1 failed while
    # splits 2-4 were queued: they are cancelled, split 5 is never submitted
    assert drove.ran == ["start/0/0"] + [f"work/{i}/0" for i in range(5)]
    assert [s.label() for s in outcome.cancelled] == ["work/2", "work/3", "work/4"]
    assert [s.label() for s in drove.executor.cancelled] == ["work/2", "work/3", "work/4"]
    assert outcome.executed == [("start", "0"), ("work", "0")]


def test_a_retried_task_gets_a_new_attempt_until_one_succeeds():
    plan = plan_of(Flaky)
    drove = drive(Flaky, body=scripted(plan, fail=lambda s: s.step == "work" and s.attempt < 2))
    assert drove.ran == ["start/0/0", "work/0/0", "work/0/1", "work/0/2", "end/0/0"]
    assert not drove.outcome.failures
    assert "[work/0] retrying (retry 2 of 3)" in drove.messages


def test_a_task_that_fails_every_retry_fails_with_its_last_attempts_error():
    drove = drive(Flaky, body=scripted(plan_of(Flaky), fail=lambda s: s.step == "work"))
    assert drove.ran[-1] == "work/0/3"
    [(spec, result)] = drove.outcome.failures
    assert spec.attempt == 3 and not result.ok
    assert ("end", "0") not in drove.outcome.finished


def test_catch_gives_a_crashed_task_one_attempt_that_stores_the_crash():
    attempts: list[TaskSpec] = []

    def body(spec: TaskSpec) -> TaskResult:
        attempts.append(spec)
        if spec.step == "risky" and spec.caught is None:
            return TaskResult.failure(
                {
                    "type": "WorkerCrashedError",
                    "message": "worker died",
                    "traceback": "worker died",
                    "internal": True,
                },
                crashed=True,
            )
        return scripted(plan_of(Caught))(spec)

    drove = drive(Caught, body=body)
    risky = [s for s in attempts if s.step == "risky"]
    assert [(s.attempt, s.caught) for s in risky] == [
        (0, None),
        (
            1,
            {
                "type": "WorkerCrashedError",
                "message": "worker died",
                "traceback": "worker died",
                "internal": True,
            },
        ),
    ]
    assert ("end", "0") in drove.outcome.finished and not drove.outcome.failures


def test_a_task_body_that_raises_is_reported_as_a_crash_of_that_task():
    def body(spec: TaskSpec) -> TaskResult:
        if spec.step == "work" and spec.task_id == "3":
            raise OSError("no space left on device")
        return scripted(plan_of(Splits), width=6)(spec)

    drove = drive(Splits, body=body)
    [(spec, result)] = drove.outcome.failures
    assert spec.label() == "work/3" and result.crashed
    assert "no space left on device" in result.error["message"]


def test_concurrency_limit_keeps_the_extra_tasks_of_a_step_out_of_the_executor():
    drove = drive(Limited, body=scripted(plan_of(Limited), width=8), window=16)
    assert drove.executor.peak["work"] == 2
    assert sum(1 for k in drove.outcome.executed if k[0] == "work") == 8


def test_the_window_bounds_the_tasks_in_flight():
    drove = drive(Splits, body=scripted(plan_of(Splits), width=6), window=3)
    assert drove.executor.peak["work"] == 3
    assert ("end", "0") in drove.outcome.finished


def test_should_stop_cancels_what_is_queued_and_ends_the_loop():
    done: list[str] = []

    def body(spec: TaskSpec) -> TaskResult:
        done.append(spec.label())
        return scripted(plan_of(Splits), width=6)(spec)

    drove = drive(Splits, body=body, window=4, should_stop=lambda: "work/0" in done)
    assert done == ["start/0", "work/0"]
    assert [s.label() for s in drove.outcome.cancelled] == ["work/1", "work/2", "work/3"]
    assert ("join", "0") not in drove.outcome.finished


def test_a_signal_during_a_task_ends_the_loop_as_interrupted_and_cancels_the_rest():
    def body(spec: TaskSpec) -> TaskResult:
        if spec.label() == "work/1":
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, taken by Interrupts
        return scripted(plan_of(Splits), width=6)(spec)

    with Interrupts() as interrupts:
        drove = drive(Splits, body=body, window=4, interrupts=interrupts)
    assert interrupts.signum == signal.SIGINT
    assert drove.outcome.interrupted
    assert drove.ran == ["start/0/0"] + [f"work/{i}/0" for i in range(5)]
    # the loop stops before it plans or submits anything more; the queued splits are cancelled
    assert [s.label() for s in drove.executor.cancelled] == ["work/2", "work/3", "work/4"]
    assert drove.outcome.executed == [("start", "0"), ("work", "0"), ("work", "1")]


def test_the_executor_is_started_before_the_first_task_and_stopped_after_the_loop():
    drove = drive(Switch, body=scripted(plan_of(Switch)))
    assert drove.executor.started and drove.executor.stopped
