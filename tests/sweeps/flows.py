"""Flows for sweep tests."""

from __future__ import annotations

import os
import time

from rayflow import FlowSpec, Parameter, current, step


class QuadFlow(FlowSpec):
    x = Parameter("x", default=0.0)
    y = Parameter("y", default=0.0)
    sleep = Parameter("sleep", default=0.0)
    fail_above = Parameter("fail_above", default=1e9)

    @step
    def start(self):
        if self.x > self.fail_above:
            raise ValueError("x too large for this trial")
        time.sleep(self.sleep)
        self.loss = (self.x - 2) ** 2 + (self.y + 1) ** 2
        self.began, self.ended = None, None
        self.trial = current.trial
        self.next(self.end)

    @step
    def end(self):
        pass


class TimedFlow(FlowSpec):
    x = Parameter("x", default=0.0)
    sleep = Parameter("sleep", default=0.5)

    @step
    def start(self):
        self.began = time.time()
        time.sleep(self.sleep)
        self.ended = time.time()
        self.loss = self.x
        self.next(self.end)

    @step
    def end(self):
        pass


class CurveFlow(FlowSpec):
    """A training curve: bad `x` values give bad intermediate values, so a pruner can stop them."""

    x = Parameter("x", default=0.0)
    folder = Parameter("folder", default="")

    @step
    def start(self):
        steps_done = 0
        for i in range(15):
            value = abs(self.x) * 10 + 1.0 / (i + 1)
            steps_done = i + 1
            current.report(value, step=i)
            time.sleep(0.02)
        self.steps_done = steps_done
        self.loss = value
        self.next(self.end)

    @step
    def end(self):
        if self.folder:
            with open(os.path.join(self.folder, f"done-{self.x}"), "w") as f:
                f.write(str(self.steps_done))


class GateFlow(FlowSpec):
    """A trial that holds its start step until the test creates the file ``gate``: the test
    decides which trials are running when it kills or interrupts a driver."""

    x = Parameter("x", default=0.0)
    gate = Parameter("gate", default="")

    @step
    def start(self):
        waited = 0.0
        while self.gate and not os.path.exists(self.gate) and waited < 120:
            time.sleep(0.1)
            waited += 0.1
        self.loss = self.x
        self.next(self.end)

    @step
    def end(self):
        pass
