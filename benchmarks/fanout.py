"""Fan-out overhead: a checkpointed no-op foreach of N splits vs raw Ray doing N small writes.

Both sides share one Ray instance (started once, not timed), so the ratio is meaningful on a
noisy machine. Run: ``python -m benchmarks.fanout [N ...]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid

from benchmarks._common import save, start_ray, table
from rayflow import FlowSpec, Parameter, step


class FanoutFlow(FlowSpec):
    n = Parameter("n", default=100)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.split, foreach="items")

    @step
    def split(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.count = len(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


def _raw_ray(n: int, folder: str) -> float:
    import ray

    @ray.remote
    def write(i: int, folder: str) -> int:
        for name in ("meta.json", "stdout", "DONE"):
            path = os.path.join(folder, str(i), name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
            with open(tmp, "w") as f:
                f.write('{"i": %d}' % i)
            os.replace(tmp, path)
        return i

    ray.get(write.remote(-1, folder))  # warm the function up
    t0 = time.perf_counter()
    ray.get([write.remote(i, folder) for i in range(n)])
    return time.perf_counter() - t0


def _rayflow(n: int, folder: str) -> float:
    from rayflow.scheduler import run_flow

    from rayflow._prepare import plan_for

    _, plan = plan_for(FanoutFlow)
    t0 = time.perf_counter()
    result = run_flow(FanoutFlow, plan, {"n": n}, datastore=folder, quiet=True)
    elapsed = time.perf_counter() - t0
    assert result.successful, result.failures
    return elapsed


def main(sizes: list[int]) -> list[dict]:
    start_ray()
    rows = []
    _rayflow(10, tempfile.mkdtemp(prefix="rf-warm-"))
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
            raw = _raw_ray(n, os.path.join(tmp, "raw"))
            flow = _rayflow(n, os.path.join(tmp, "ds"))
        rows.append({"N": n, "raw_ray_s": raw, "rayflow_s": flow,
                     "raw_ms_per_task": 1000 * raw / n, "rayflow_ms_per_split": 1000 * flow / n,
                     "ratio": flow / raw})
        print(table(rows[-1:], list(rows[-1])), flush=True)
    print()
    print(table(rows, list(rows[0])))
    print("saved", save("fanout", rows))
    return rows


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 500, 1000])
