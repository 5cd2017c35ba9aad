"""Cross-run cache: how much a second, fully cached run costs.

(1) a 3-step flow whose middle step takes 2 s, run twice with @cache on it;
(2) a 500-split foreach whose splits each do ~20 ms of work, run twice with ``--cache``.
Run: ``python -m benchmarks.cache``.
"""

from __future__ import annotations

import tempfile
import time

from benchmarks._common import save, start_ray, table
from rayflow import FlowSpec, Runner, cache, step


class SlowStepFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.slow)

    @cache
    @step
    def slow(self):
        time.sleep(2)
        self.y = self.x + 1
        self.next(self.end)

    @step
    def end(self):
        pass


class WideFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(500))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        t = time.perf_counter()
        while time.perf_counter() - t < 0.02:
            pass
        self.value = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


def _twice(flow: type, **options) -> dict:
    ds = tempfile.mkdtemp(prefix="rf-cache-")
    t0 = time.perf_counter()
    first = Runner(flow, datastore=ds, **options).run()
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = Runner(flow, datastore=ds, **options).run()
    second_s = time.perf_counter() - t0
    assert first.successful and second.successful
    return {
        "workload": flow.__name__,
        "first_s": first_s,
        "cached_s": second_s,
        "ratio": second_s / first_s,
        "tasks_from_cache": len(second.cached),
    }


def main() -> list[dict]:
    start_ray()
    rows = [_twice(SlowStepFlow), _twice(WideFlow, cache=True)]
    print(table(rows, ["workload", "first_s", "cached_s", "ratio", "tasks_from_cache"]))
    print("target: a fully cached re-run of the 500-split foreach <= 10% of the first run")
    print("saved", save("cache", rows))
    return rows


if __name__ == "__main__":
    main()
