"""@retry/@catch/@timeout as Metaflow's test/core checks them (CatchRetryTest, TagCatchTest,
TimeoutDecoratorTest): ``task.metadata`` is a list of records with one ``attempt`` per attempt,
``task.exception`` is None once @catch handled it, and exception type names are the ones
Metaflow reports, so code comparing them runs unchanged. Small flows of our own, run in-process."""

from __future__ import annotations

import os
import signal
import time

from rayflow import FlowSpec, catch, current, retry, step, timeout
from rayflow.exception import ExternalCommandFailed
from rayflow.plugins.catch_decorator import FailureHandledByCatch
from rayflow.plugins.timeout_decorator import TimeoutException


class MineFailed(ExternalCommandFailed):
    """A user's subclass of a Metaflow-named class: named by its own module."""


class CatchFlow(FlowSpec):
    @retry(times=2, minutes_between_retries=0)
    @step
    def start(self):
        self.seen_attempt = current.retry_count
        if current.retry_count < 2:
            raise ValueError("not yet")
        self.next(self.killed, self.external, self.mine)

    @catch(var="ex", print_exception=False)
    @retry(times=1, minutes_between_retries=0)
    @step
    def killed(self):
        os.kill(os.getpid(), signal.SIGKILL)
        self.next(self.join)

    @catch(var="ex", print_exception=False)
    @step
    def external(self):
        raise ExternalCommandFailed("catch me!")
        self.next(self.join)

    @catch(var="ex", print_exception=False)
    @step
    def mine(self):
        raise MineFailed("mine")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def _attempts(task) -> list[str]:
    return sorted(m.value for m in task.metadata if m.type == "attempt")


def test_task_metadata_has_one_attempt_record_per_attempt_and_catch_reports_metaflow_type_names(
    run_flow,
):
    out = run_flow(CatchFlow)
    assert out.successful, out.failures
    run = out.run
    start = run["start"].task
    assert _attempts(start) == ["0", "1", "2"]
    assert start.metadata_dict["attempt"] == "2" and start.data.seen_attempt == 2
    assert all(m.task == start and m.value == str(m.value) for m in start.metadata)

    killed = run["killed"].task  # two attempts killed by SIGKILL, then @catch's attempt
    assert _attempts(killed) == ["0", "1", "2"]
    assert killed.data.ex.type == "metaflow.plugins.catch_decorator.FailureHandledByCatch"
    assert "SIGKILL" in killed.data.ex.exception
    assert killed.exception is None  # handled by @catch, as in Metaflow

    external = run["external"].task
    assert external.data.ex.type == "metaflow.exception.ExternalCommandFailed"
    assert external.data.ex.exception == "catch me!" and external.exception is None
    assert run["mine"].task.data.ex.type == f"{__name__}.MineFailed"
    assert FailureHandledByCatch.__module__.startswith("rayflow.")


class TimeoutFlow(FlowSpec):
    @catch(var="ex", print_exception=False)
    @timeout(seconds=1)
    @step
    def start(self):
        self.check = True
        time.sleep(5)
        self.next(self.handled)

    @timeout(seconds=1)
    @step
    def handled(self):
        try:
            time.sleep(5)
        except TimeoutException:
            self.caught_in_step = True
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_timeout_raises_timeout_exception_under_metaflows_name(run_flow):
    out = run_flow(TimeoutFlow)
    assert out.successful, out.failures
    ex = out.run["start"].task.data.ex
    assert ex.type == "metaflow.plugins.timeout_decorator.TimeoutException"
    assert "timed out after 1 s" in ex.exception
    assert out.run["handled"].task.data.caught_in_step is True
