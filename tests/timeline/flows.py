"""Flows whose timing is known, for the parallelism report tests."""

from __future__ import annotations

import os
import time

from rayflow import FlowSpec, Parameter, current, retry, step


class SleepyForeach(FlowSpec):
    """A foreach of ``n`` splits, each sleeping ``seconds``; split ``fail_first`` fails once."""

    n = Parameter("n", default=4)
    seconds = Parameter("seconds", default=0.3)
    fail_first = Parameter("fail_first", default=-1)
    fail_marker = Parameter("fail_marker", default="", help="split 1 fails while this file exists")

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.split, foreach="items")

    @retry(times=1, minutes_between_retries=0)
    @step
    def split(self):
        if self.input == self.fail_first and current.retry_count == 0:
            raise RuntimeError(f"split {self.input} fails on its first attempt")
        if self.input == 1 and self.fail_marker and os.path.exists(self.fail_marker):
            raise RuntimeError("split 1 fails while the marker exists")
        time.sleep(self.seconds)
        self.value = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass
