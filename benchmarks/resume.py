"""Resume cost: a 200-split foreach (~50 ms of work per split) where one split fails.

Reports the original run's time and the resume's time, measured in one process on one Ray
instance; and, when Metaflow is installed (``pip install -e .[bench]``), Metaflow's local runtime
on the same flow: its run time, its resume time, and how many tasks it re-ran.
Run: ``python -m benchmarks.resume``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time

from benchmarks._common import save, start_ray, table

FLOW = """
import os, time
from {module} import FlowSpec, Parameter, step

class ResumeBench(FlowSpec):
    n = Parameter("n", default=200)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == 7 and os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "FAIL")):
            raise RuntimeError("split 7 fails")
        t = time.perf_counter()
        while time.perf_counter() - t < 0.05:
            pass
        self.value = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    ResumeBench()
"""


def _write(folder: str, module: str) -> str:
    path = os.path.join(folder, f"resume_bench_{module}.py")
    with open(path, "w") as f:
        f.write(textwrap.dedent(FLOW.format(module=module)))
    open(os.path.join(folder, "FAIL"), "w").close()
    return path


def bench_rayflow(n: int) -> dict:
    from rayflow import Runner

    folder = tempfile.mkdtemp(prefix="rf-resume-")
    path = _write(folder, "rayflow")
    ds = os.path.join(folder, "ds")
    t0 = time.perf_counter()
    first = Runner(path, datastore=ds).run(n=n)
    run_s = time.perf_counter() - t0
    assert first.status == "failed"
    os.remove(os.path.join(folder, "FAIL"))
    t0 = time.perf_counter()
    second = Runner(path, datastore=ds).resume()
    resume_s = time.perf_counter() - t0
    assert second.successful, second.failures
    return {
        "tool": "rayflow",
        "run_s": run_s,
        "resume_s": resume_s,
        "tasks_rerun": len(second.executed),
        "tasks_cloned": len(second.cloned),
    }


def bench_metaflow(n: int) -> dict | None:
    try:
        import metaflow  # noqa: F401
    except ImportError:
        return None
    folder = tempfile.mkdtemp(prefix="mf-resume-")
    path = _write(folder, "metaflow")
    env = dict(
        os.environ,
        USERNAME="bench",
        METAFLOW_USER="bench",
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DEFAULT_METADATA="local",
    )
    cmd = [sys.executable, path, "--no-pylint"]
    workers = str(os.cpu_count() or 2)
    t0 = time.perf_counter()
    subprocess.run(
        cmd + ["run", "--n", str(n), "--max-workers", workers, "--max-num-splits", "10000"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    run_s = time.perf_counter() - t0
    os.remove(os.path.join(folder, "FAIL"))
    t0 = time.perf_counter()
    res = subprocess.run(
        cmd + ["resume", "--max-workers", workers, "--max-num-splits", "10000"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    resume_s = time.perf_counter() - t0
    rerun = sum(1 for line in res.stdout.splitlines() if "Task is starting" in line)
    cloned = sum(1 for line in res.stdout.splitlines() if "Cloning previously run task" in line)
    return {
        "tool": "metaflow-local",
        "run_s": run_s,
        "resume_s": resume_s,
        "tasks_rerun": rerun,
        "tasks_cloned": cloned,
        "ok": res.returncode == 0,
    }


def main(n: int = 200) -> list[dict]:
    start_ray()
    rows = [bench_rayflow(n)]
    mf = bench_metaflow(n)
    if mf:
        rows.append(mf)
    print(f"foreach of {n} splits x 50 ms, split 7 fails; resume after the fix")
    print(table(rows, ["tool", "run_s", "resume_s", "tasks_rerun", "tasks_cloned"]))
    print("target: rayflow resume <= 0.05 s + 1.5 s")
    print("saved", save("resume", rows))
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
