"""Flows used by the fault tests. Each task appends its id to a log file, so a test can count
exactly which tasks executed; marker files (not env vars: Ray workers outlive a test) make a
task fail, kill its own worker, or hang."""

from __future__ import annotations

import os
import signal
import time

from rayflow import FlowSpec, Parameter, catch, current, retry, step, timeout


def log_execution(folder: str) -> None:
    with open(os.path.join(folder, "executions.log"), "a") as f:
        f.write(f"{current.step_name}/{current.task_id}/{current.retry_count}\n")


def marker(folder: str, name: str) -> bool:
    return os.path.exists(os.path.join(folder, name))


class SplitsFlow(FlowSpec):
    folder = Parameter("folder", help="where the execution log and markers live")
    n = Parameter("n", default=10)
    work_seconds = Parameter("work_seconds", default=0.0)

    @step
    def start(self):
        log_execution(self.folder)
        self.items = list(range(self.n))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        log_execution(self.folder)
        if marker(self.folder, f"fail-{self.input}"):
            raise RuntimeError(f"split {self.input} was told to fail")
        if marker(self.folder, f"kill-{self.input}"):
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.work_seconds)
        self.square = self.input**2
        self.next(self.join)

    @step
    def join(self, inputs):
        log_execution(self.folder)
        self.total = sum(i.square for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        log_execution(self.folder)


class RetryFlow(FlowSpec):
    folder = Parameter("folder")

    @step
    def start(self):
        self.next(self.flaky)

    @retry(times=2, minutes_between_retries=0)
    @step
    def flaky(self):
        log_execution(self.folder)
        print(f"attempt {current.retry_count}")
        if current.retry_count == 0 and marker(self.folder, "kill-first"):
            os.kill(os.getpid(), signal.SIGKILL)
        if current.retry_count == 0:
            raise ValueError("first attempt fails")
        self.attempt_seen = current.retry_count
        self.next(self.end)

    @step
    def end(self):
        pass


class CatchFlow(FlowSpec):
    @step
    def start(self):
        self.before = "kept"
        self.next(self.risky)

    @catch(var="problem")
    @step
    def risky(self):
        self.partial = 1
        if self.before:
            raise KeyError("nope")
        self.next(self.end)

    @step
    def end(self):
        self.seen = (self.partial, self.before)


class CatchNothingFlow(FlowSpec):
    @catch(var="problem")
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class TimeoutFlow(FlowSpec):
    folder = Parameter("folder")
    stubborn = Parameter("stubborn", default=False, type=bool)

    @step
    def start(self):
        self.next(self.slow)

    @timeout(seconds=1)
    @step
    def slow(self):
        log_execution(self.folder)
        if self.stubborn:
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(30)
        self.next(self.end)

    @step
    def end(self):
        pass


class LinearThree(FlowSpec):
    folder = Parameter("folder")

    @step
    def start(self):
        log_execution(self.folder)
        self.data = list(range(1000))
        self.next(self.middle)

    @step
    def middle(self):
        log_execution(self.folder)
        self.total = sum(self.data)
        self.next(self.end)

    @step
    def end(self):
        log_execution(self.folder)
