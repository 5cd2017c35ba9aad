"""The edit-run loop: wall time of consecutive ``rayflow run examples/hello.py`` with the warm
local Ray (the first run starts it, the next ones reuse it), beside ``--no-warm`` (a Ray started
and stopped per run) and Metaflow's local runtime on the same flow, in the same session.

Every figure is a whole process, from its start to its exit, as a user at a shell waits for it.
The warm runs are split by their own records: before the run is recorded (Python, imports,
loading the flow, connecting to Ray), from then until the first task starts (mostly the new
job's first worker process starting), the tasks (first task's start -> run.json's finished_at),
and after (exit). The
imports are also timed alone. The warm instance lives in a private state folder and is stopped
at the end. Run: ``python -m benchmarks warm [N]`` (N warm runs after the first, default 5).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from benchmarks._common import metaflow_version, run_metaflow, save, table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELLO = os.path.join(ROOT, "examples", "hello.py")
RAYFLOW = os.path.join(os.path.dirname(sys.executable), "rayflow")


def _run(env: dict, cwd: str, *args: str) -> tuple[float, float, str]:
    """(wall seconds, start time, output) of one ``rayflow run examples/hello.py``."""
    started = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [RAYFLOW, "run", HELLO, *args],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"rayflow run failed:\n{proc.stdout}\n{proc.stderr}")
    return wall, started, proc.stdout + proc.stderr


def _split(datastore: str, started: float, wall: float) -> dict:
    """Where the time of the latest run went, from its records."""
    runs = os.path.join(datastore, "HelloFlow", "runs")
    run_id = sorted(os.listdir(runs))[-1]
    with open(os.path.join(runs, run_id, "run.json")) as f:
        record = json.load(f)
    with open(os.path.join(runs, run_id, "start", "0", "meta.json")) as f:
        first = json.load(f)
    return {
        "before_run_s": record["created_at"] - started,
        "to_first_task_s": first["started_at"] - record["created_at"],
        "tasks_s": record["finished_at"] - first["started_at"],
        "after_run_s": started + wall - record["finished_at"],
    }


def _import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def _metaflow(cwd: str, runs: int) -> list[float]:
    source = open(HELLO).read().replace("from rayflow import", "from metaflow import")
    flow = os.path.join(cwd, "hello_mf.py")
    with open(flow, "w") as f:
        f.write(source)
    times = []
    for _ in range(runs):
        seconds, proc = run_metaflow(flow, [], cwd)
        if proc.returncode != 0:
            raise RuntimeError(f"metaflow run failed:\n{proc.stderr[-2000:]}")
        times.append(seconds)
    return times


def main(warm_runs: int = 5) -> list[dict]:
    work = tempfile.mkdtemp(prefix="rf-warm-bench-")
    ray_tmp = os.environ.get("RAY_TMPDIR") or "/tmp/ray"
    folder = os.path.join(ray_tmp, f"wb{uuid.uuid4().hex[:6]}")  # short: Ray's socket paths
    datastore = os.path.join(work, "ds")
    env = dict(
        os.environ,
        RAYFLOW_WARM="1",
        RAYFLOW_WARM_DIR=folder,
        RAYFLOW_DATASTORE=datastore,
        RAY_TMPDIR=ray_tmp,
    )
    rows: list[dict] = []
    load = os.getloadavg()[0]
    try:
        wall, _, out = _run(env, work)
        assert "stays up for the next runs" in out, out
        rows.append({"what": "rayflow run, first (starts the warm Ray)", "seconds": wall})
        warm, splits = [], []
        for _ in range(warm_runs):
            wall, started, _ = _run(env, work)
            warm.append(wall)
            splits.append(_split(datastore, started, wall))
        rows.append({"what": "rayflow run, second", "seconds": warm[0], **splits[0]})
        rows.append(
            {
                "what": f"rayflow run, warm (median of {warm_runs})",
                "seconds": statistics.median(warm),
                **{k: statistics.median(s[k] for s in splits) for k in splits[0]},
            }
        )
        rows.append({"what": f"rayflow run, warm (best of {warm_runs})", "seconds": min(warm)})
        quiet, qsplits = [], []
        for _ in range(3):  # -q: no live output, so no log actor (a second worker) to start
            wall, started, _ = _run(env, work, "-q")
            quiet.append(wall)
            qsplits.append(_split(datastore, started, wall))
        rows.append(
            {
                "what": "rayflow run -q, warm (median of 3)",
                "seconds": statistics.median(quiet),
                **{k: statistics.median(s[k] for s in qsplits) for k in qsplits[0]},
            }
        )
    finally:
        subprocess.run([RAYFLOW, "shutdown"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
    cold = [_run(env, work, "--no-warm")[0] for _ in range(2)]
    rows.append(
        {
            "what": "rayflow run --no-warm (Ray per run; median of 2)",
            "seconds": statistics.median(cold),
        }
    )
    if metaflow_version():
        mf = _metaflow(work, 3)
        rows.append(
            {"what": "Metaflow local runtime (median of 3)", "seconds": statistics.median(mf)}
        )
        rows.append({"what": "Metaflow local runtime (best of 3)", "seconds": min(mf)})
    rows.append(
        {"what": "python -c 'import rayflow.cli' alone", "seconds": _import_seconds("rayflow.cli")}
    )
    rows.append({"what": "python -c 'import ray' alone", "seconds": _import_seconds("ray")})
    shutil.rmtree(work, ignore_errors=True)
    print(
        table(
            rows, ["what", "seconds", "before_run_s", "to_first_task_s", "tasks_s", "after_run_s"]
        )
    )
    print(f"(1-minute load average at the start: {load:.1f} on {os.cpu_count()} CPUs)")
    save("warm", rows, {"load_average": load, "metaflow": metaflow_version()})
    return rows


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
