"""A realistic ML flow: 100 SVMs on scikit-learn's digits, one foreach split per (C, gamma).

The flow is ``examples/train_sweep.py``, run unchanged by rayflow (in this process, Ray started
beforehand and not timed) and by Metaflow's local runtime with only its import line changed
(a subprocess with ``--max-workers`` = CPU count, so its time includes Metaflow's start-up of
about a second). Both must find the same best setting. Metaflow is skipped with a note when the
``[bench]`` extra is not installed.

Run: ``python -m benchmarks ml_flow [--settings N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time

from benchmarks._common import metaflow_version, run_metaflow, save, start_ray, table

EXAMPLE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "train_sweep.py"
)
BEST = re.compile(r"best: C=(\S+) gamma=(\S+) accuracy=(\S+) \((\d+) settings\)")


def bench_rayflow(settings: int) -> dict:
    from rayflow import Runner
    from rayflow._stats import run_stats

    folder = tempfile.mkdtemp(prefix="rf-ml-")
    runner = Runner(EXAMPLE, datastore=os.path.join(folder, "ds"))
    t0 = time.perf_counter()
    outcome = runner.run(settings=settings)
    seconds = time.perf_counter() - t0
    assert outcome.successful, outcome.failures
    run = outcome.run
    stats = run_stats(run)
    data = run.data
    return {
        "tool": "rayflow",
        "seconds": seconds,
        "models": len(data.scores),
        "best": f"C={data.best_c:.4g} gamma={data.best_gamma:.4g} acc={data.best_accuracy:.4f}",
        "efficiency": stats.efficiency,
        "task_s": stats.task_s,
    }


def bench_metaflow(settings: int) -> dict:
    folder = tempfile.mkdtemp(prefix="mf-ml-")
    path = os.path.join(folder, "train_sweep_metaflow.py")
    with open(EXAMPLE) as f:
        source = f.read()
    with open(path, "w") as f:
        f.write(source.replace("from rayflow import", "from metaflow import"))
    seconds, proc = run_metaflow(path, ["--settings", str(settings)], cwd=folder)
    found = BEST.search(proc.stdout + proc.stderr)
    row = {"tool": "metaflow-local", "seconds": seconds, "ok": proc.returncode == 0}
    if proc.returncode != 0 or not found:
        row["error"] = (proc.stderr or proc.stdout).strip()[-400:]
        return row
    c, gamma, acc, n = found.groups()
    row.update(models=int(n), best=f"C={c} gamma={gamma} acc={acc}")
    return row


def main(settings: int = 100, metaflow: bool = True) -> list[dict]:
    start_ray()
    rows = [bench_rayflow(settings)]
    version = metaflow_version() if metaflow else None
    notes = []
    if metaflow and version is None:
        notes.append("Metaflow is not installed (pip install -e .[bench]): skipped")
    if version:
        mf = bench_metaflow(settings)
        rows.append(mf)
        if mf.get("error"):
            notes.append(f"metaflow failed: {mf['error']}")
        elif mf.get("best") != rows[0]["best"]:
            notes.append(
                f"best settings differ: rayflow {rows[0]['best']}, metaflow {mf.get('best')}"
            )
        else:
            rows[0]["metaflow_vs_rayflow"] = mf["seconds"] / rows[0]["seconds"]
    print(f"train and score {settings} SVMs on digits (one foreach split each)")
    print(table(rows, ["tool", "seconds", "models", "best", "efficiency", "metaflow_vs_rayflow"]))
    for note in notes:
        print("note:", note)
    print("saved", save("ml_flow", rows, {"metaflow": version, "notes": notes}))
    return rows


def cli(argv: list[str]) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks ml_flow")
    parser.add_argument("--settings", type=int, default=100, help="how many models (default 100)")
    parser.add_argument("--no-metaflow", action="store_true", help="skip Metaflow")
    args = parser.parse_args(argv)
    return main(args.settings, metaflow=not args.no_metaflow)


if __name__ == "__main__":
    import sys

    cli(sys.argv[1:])
