"""Flows that fill the datastore the ui tests browse."""

from __future__ import annotations

import os
import time

from rayflow import FlowSpec, Parameter, cache, step


class FanFlow(FlowSpec):
    """A foreach over ``n`` items with printed lines and artifacts of several kinds."""

    n = Parameter("n", default=5)
    label = Parameter("label", default="first")

    @step
    def start(self):
        self.items = list(range(self.n))
        print(f"fanning out over {self.n} items")
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.square = self.input**2
        print(f"split {self.index} squared {self.input} -> {self.square}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        self.summary = {"total": self.total, "label": self.label}
        self.big_list = list(range(100_000))
        self.long_text = "y" * 20_000
        print(f"the total is {self.total}")


class FlakyFlow(FlowSpec):
    """Split 2 fails until the marker file exists: a failed run, then a resume that succeeds."""

    marker = Parameter("marker", default="")

    @step
    def start(self):
        self.items = [0, 1, 2, 3]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        print(f"working on item {self.input}")
        if self.input == 2 and not os.path.exists(self.marker):
            raise RuntimeError("item 2 needs the marker file")
        self.out = self.input * 10
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = sorted(i.out for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


class SlowFlow(FlowSpec):
    """Long enough to watch it run: three splits that each sleep."""

    pause = Parameter("pause", default=1.5)

    @step
    def start(self):
        self.items = [0, 1, 2]
        self.next(self.nap, foreach="items")

    @step
    def nap(self):
        time.sleep(self.pause)
        print(f"napped on {self.input}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.count = len(list(inputs))
        self.next(self.end)

    @step
    def end(self):
        pass


class QuadFlow(FlowSpec):
    x = Parameter("x", default=0.0)

    @step
    def start(self):
        self.loss = (self.x - 1.0) ** 2
        self.next(self.end)

    @step
    def end(self):
        pass


class CachedFlow(FlowSpec):
    """Run twice: the second run takes ``heavy`` from the cross-run cache."""

    @step
    def start(self):
        self.x = 20
        self.next(self.heavy)

    @cache
    @step
    def heavy(self):
        self.y = self.x + 22
        print("heavy computed", self.y)
        self.next(self.end)

    @step
    def end(self):
        pass
