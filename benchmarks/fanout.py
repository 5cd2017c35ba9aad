"""Fan-out overhead: a checkpointed no-op foreach of N splits, side by side with its peers.

For each N, in one process: a plain Python loop doing the same small writes one after another
(the serial floor), raw Ray doing N tasks that each write three small files atomically (the
parallel floor), rayflow's foreach (one Ray instance shared with raw Ray, started once and not
timed), and Metaflow's local runtime on the same flow (``--max-workers`` = CPU count; a
subprocess, so its time includes Metaflow's start-up of about a second; skipped with a note when
the ``[bench]`` extra is not installed).

Run: ``python -m benchmarks fanout [N ...] [--no-metaflow]`` (default N = 10 100 500 1000).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import textwrap
import time
import uuid

from benchmarks._common import metaflow_version, run_metaflow, save, start_ray, table
from rayflow import FlowSpec, Parameter, step

SIZES = [10, 100, 500, 1000]


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
        self.count = sum(1 for _ in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


# The same class for Metaflow, with only the import line changed (as a Metaflow user would).
METAFLOW_FLOW = (
    "from metaflow import FlowSpec, Parameter, step\n\n\n"
    + inspect.getsource(FanoutFlow)
    + '\n\nif __name__ == "__main__":\n    FanoutFlow()\n'
)


def _write_small_files(i: int, folder: str) -> int:
    for name in ("stdout", "stderr", "meta.json"):  # a task's files; the record last
        path = os.path.join(folder, str(i), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with open(tmp, "w") as f:
            f.write('{"i": %d}' % i)
        os.replace(tmp, path)
    return i


def _python_loop(n: int, folder: str) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        _write_small_files(i, folder)
    return time.perf_counter() - t0


def _raw_ray(n: int, folder: str) -> float:
    import ray

    # The same writes as the loop; this module is shipped by value so workers need not import it.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    write = ray.remote(_write_small_files)

    ray.get(write.remote(-1, folder))  # warm the function up
    t0 = time.perf_counter()
    ray.get([write.remote(i, folder) for i in range(n)])
    return time.perf_counter() - t0


def _rayflow(n: int, folder: str) -> float:
    from rayflow._prepare import plan_for
    from rayflow.scheduler import run_flow

    _, plan = plan_for(FanoutFlow)
    t0 = time.perf_counter()
    result = run_flow(FanoutFlow, plan, {"n": n}, datastore=folder, quiet=True)
    elapsed = time.perf_counter() - t0
    assert result.successful, result.failures
    return elapsed


def _metaflow(n: int, folder: str) -> tuple[float | None, str]:
    path = os.path.join(folder, "fanout_metaflow.py")
    with open(path, "w") as f:
        f.write(textwrap.dedent(METAFLOW_FLOW))
    seconds, proc = run_metaflow(path, ["--n", str(n)], cwd=folder)
    if proc.returncode != 0:
        return None, f"metaflow failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    return seconds, ""


def main(sizes: list[int] | None = None, metaflow: bool = True) -> list[dict]:
    sizes = sizes or SIZES
    start_ray()
    mf_version = metaflow_version() if metaflow else None
    notes = []
    if metaflow and mf_version is None:
        notes.append("Metaflow is not installed (pip install -e .[bench]): its column is skipped")
    rows = []
    _rayflow(10, tempfile.mkdtemp(prefix="rf-warm-"))
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
            loop = _python_loop(n, os.path.join(tmp, "loop"))
            raw = _raw_ray(n, os.path.join(tmp, "raw"))
            flow = _rayflow(n, os.path.join(tmp, "ds"))
            mf, note = _metaflow(n, tmp) if mf_version else (None, "")
        if note:
            notes.append(f"N={n}: {note}")
        row = {
            "N": n,
            "python_loop_s": loop,
            "raw_ray_s": raw,
            "rayflow_s": flow,
            "metaflow_s": mf,
            "rayflow_ms_per_split": 1000 * flow / n,
            "raw_ms_per_task": 1000 * raw / n,
            "rayflow_vs_raw": flow / raw,
            "metaflow_vs_rayflow": mf / flow if mf else None,
        }
        rows.append(row)
        print(table([row], list(row)), flush=True)
    print("\nno-op foreach of N splits (seconds; rayflow and raw Ray share one Ray instance)")
    print(table(rows, list(rows[0])))
    for note in notes:
        print("note:", note)
    at500 = next((r for r in rows if r["N"] == 500), None)
    at100 = next((r for r in rows if r["N"] == 100), None)
    if at500:
        print(f"target <= 3 ms per split at N=500: {at500['rayflow_ms_per_split']:.2f} ms")
    if at100 and at100["metaflow_vs_rayflow"]:
        print(
            f"target >= 50x faster than Metaflow local at N=100: {at100['metaflow_vs_rayflow']:.0f}x"
        )
    print("saved", save("fanout", rows, {"metaflow": mf_version, "notes": notes}))
    return rows


def cli(argv: list[str]) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks fanout")
    parser.add_argument("sizes", nargs="*", type=int, help=f"split counts (default {SIZES})")
    parser.add_argument("--no-metaflow", action="store_true", help="skip the Metaflow column")
    args = parser.parse_args(argv)
    return main(args.sizes or SIZES, metaflow=not args.no_metaflow)


if __name__ == "__main__":
    import sys

    cli(sys.argv[1:])
