"""@retry, @catch, @timeout and --with, with real failures and real worker deaths."""

from __future__ import annotations

from rayflow import Runner
from rayflow.datastore import open_storage, paths, records, taskrecords

from .conftest import executions, touch
from .flows import CatchFlow, CatchNothingFlow, RetryFlow, SplitsFlow, TimeoutFlow


def test_retry_runs_again_and_keeps_every_attempt(run_flow, datastore, folder):
    out = run_flow(RetryFlow, folder=folder)
    assert out.successful
    assert executions(folder) == ["flaky/0/0", "flaky/0/1"]
    task = out.run["flaky"].task
    assert task.data.attempt_seen == 1
    assert task.current_attempt == 1
    storage = open_storage(datastore)
    first = taskrecords.read_attempt(storage, "RetryFlow", out.run_id, "flaky", "0", 0)
    assert first.status == "failed" and first.exception["type"] == "ValueError"
    assert (
        records.read_log(storage, "RetryFlow", out.run_id, "flaky", "0", "stdout", 0)
        == "attempt 0\n"
    )
    assert task.stdout == "attempt 1\n"


def test_retry_covers_a_worker_killed_with_sigkill(run_flow, folder):
    touch(folder, "kill-first")
    out = run_flow(RetryFlow, folder=folder)
    assert out.successful
    assert executions(folder) == ["flaky/0/0", "flaky/0/1"]
    assert out.run["flaky"].task.data.attempt_seen == 1


def test_catch_stores_the_exception_and_the_flow_goes_on(run_flow):
    out = run_flow(CatchFlow)
    assert out.successful
    problem = out.run["risky"].task.data.problem
    assert problem.type == "builtins.KeyError"
    assert "nope" in problem.exception and "KeyError" in repr(problem)
    assert out.run.data.seen == (1, "kept")
    stderr = out.run["risky"].task.stderr
    assert stderr.startswith("@catch caught this exception") and stderr.count("Traceback") == 1
    assert stderr.rstrip().endswith("KeyError: 'nope'")


def test_catch_var_is_none_when_nothing_was_raised(run_flow):
    out = run_flow(CatchNothingFlow)
    assert out.successful
    assert out.run["start"].task.data.problem is None


def test_timeout_stops_a_step_and_counts_as_a_failure(run_flow, folder):
    out = run_flow(TimeoutFlow, folder=folder)
    assert out.status == "failed"
    label, error = out.failures[0]
    assert label == "slow/0"
    assert "timed out after 1 s" in error["traceback"]


def test_timeout_kills_a_step_that_ignores_it(run_flow, datastore, folder):
    out = run_flow(TimeoutFlow, folder=folder, stubborn=True)
    assert out.status == "failed"
    label, error = out.failures[0]
    assert label == "slow/0"
    assert "worker was killed" in error["message"]
    meta = taskrecords.read_task(open_storage(datastore), "TimeoutFlow", out.run_id, "slow", "0")
    assert meta.status == "failed" and "timed out" in meta.exception["message"]


def test_with_retry_applies_to_every_step(run_flow, datastore, folder):
    touch(folder, "fail-1")
    out = Runner(
        SplitsFlow, datastore=datastore, with_=("retry:times=1,minutes_between_retries=0",)
    ).run(folder=folder, n=2)
    assert out.status == "failed"  # the marker stays, so both attempts fail
    assert executions(folder).count("work/1/0") == 1 and executions(folder).count("work/1/1") == 1
    storage = open_storage(datastore)
    assert storage.exists(paths.meta_file("SplitsFlow", out.run_id, "work", "1", 1))
