"""Flows of the scheduler's unit tests. Their tasks run in the test's process (no Ray), so a
class attribute (``FAIL``) is how a test tells a split to fail, and clears it to "fix" it."""

from __future__ import annotations

from rayflow import FlowSpec, catch, concurrency, retry, step


class Linear(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.middle)

    @step
    def middle(self):
        self.x += 1
        self.next(self.end)

    @step
    def end(self):
        self.x += 1


class Splits(FlowSpec):
    """start -> work (foreach over 6 items) -> join -> end; ``FAIL``: split indices that fail."""

    FAIL: set[int] = set()

    @step
    def start(self):
        self.items = [10, 20, 30, 40, 50, 60]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.index in type(self).FAIL:
            raise ValueError(f"split {self.index} was told to fail")
        self.out = self.input + 1
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = [i.out for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


class Branches(FlowSpec):
    @step
    def start(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = "left"
        self.next(self.join)

    @step
    def right(self):
        self.side = "right"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.sides = [i.side for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


class Switch(FlowSpec):
    @step
    def start(self):
        self.mode = "fast"
        self.next({"fast": self.fast, "slow": self.slow}, condition="mode")

    @step
    def fast(self):
        self.took = "fast"
        self.next(self.end)

    @step
    def slow(self):
        self.took = "slow"
        self.next(self.end)

    @step
    def end(self):
        pass


class Loop(FlowSpec):
    """A recursive switch: ``count`` runs again until it reached 3."""

    @step
    def start(self):
        self.n = 0
        self.next(self.count)

    @step
    def count(self):
        self.n += 1
        self.again = "yes" if self.n < 3 else "no"
        self.next({"yes": self.count, "no": self.end}, condition="again")

    @step
    def end(self):
        pass


class Nested(FlowSpec):
    @step
    def start(self):
        self.rows = ["a", "b"]
        self.next(self.row, foreach="rows")

    @step
    def row(self):
        self.cols = [1, 2, 3]
        self.next(self.cell, foreach="cols")

    @step
    def cell(self):
        self.value = f"{self.input}"
        self.next(self.join_cols)

    @step
    def join_cols(self, inputs):
        self.values = [i.value for i in inputs]
        self.next(self.join_rows)

    @step
    def join_rows(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class Flaky(FlowSpec):
    """``work`` fails its first ``FAILS`` attempts."""

    FAILS = 2

    @step
    def start(self):
        self.next(self.work)

    @retry(times=3, minutes_between_retries=0)
    @step
    def work(self):
        from rayflow import current

        if current.retry_count < type(self).FAILS:
            raise RuntimeError(f"attempt {current.retry_count} fails")
        self.attempt_that_worked = current.retry_count
        self.next(self.end)

    @step
    def end(self):
        pass


class Limited(FlowSpec):
    @step
    def start(self):
        self.items = list(range(8))
        self.next(self.work, foreach="items")

    @concurrency(max=2)
    @step
    def work(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class Caught(FlowSpec):
    @step
    def start(self):
        self.next(self.risky)

    @catch(var="failure")
    @step
    def risky(self):
        self.next(self.end)

    @step
    def end(self):
        pass
