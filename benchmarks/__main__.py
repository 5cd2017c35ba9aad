"""``python -m benchmarks all | NAME [ARGS...]``: run every workload, or one of them.

Every workload runs in this one process on one local Ray instance (started once, not timed), and
saves its rows to ``benchmarks/results/NAME.json``. ``all`` goes on past a workload that fails and
exits non-zero at the end if any did.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

# The workloads first, then the ones other features added.
WORKLOADS = {
    "fanout": "no-op foreach, N = 10..1000: rayflow vs raw Ray vs Metaflow local vs a Python loop",
    "artifacts": "10 MB / 200 MB / 1 GB artifact written by one step, read by the next, vs pickle",
    "resume": "resume of a 200-split foreach where one split failed, vs Metaflow resume",
    "driver_scale": "driver memory and time for a 10,000-split foreach",
    "ml_flow": "100 scikit-learn models in a foreach: rayflow vs Metaflow local",
    "cache": "a second, fully cached run of a flow (@cache / --cache)",
    "sweep": "Optuna sweep throughput: rayflow vs Ray Tune + OptunaSearch vs plain Optuna",
    "ui": "rayflow ui pages: a flow with 1,000 runs, a 10,000-task run, a live page's delta",
    "scaling": "CPU-bound splits on 1/2/3-node clusters; artifact MB/s on local disk vs s3://",
    "objectstore": "s3:// behind a 20 ms proxy: foreach, resume, join, listing; vs Metaflow on the same S3",
    "warm": "the edit-run loop: 1st and 2nd `rayflow run examples/hello.py` (warm local Ray) vs Metaflow",
    "metaflow_suite": "Metaflow's test/core on rayflow (needs --source DIR: a Metaflow checkout)",
}
# Needs a Metaflow checkout (--source), so ``all`` leaves it out.
NOT_IN_ALL = {"metaflow_suite"}


def run(name: str, args: list[str]) -> object:
    module = importlib.import_module(f"benchmarks.{name}")
    entry = getattr(module, "cli", None)
    if entry is not None:
        return entry(args)
    if args:
        return module.main(*(int(a) for a in args))
    return module.main()


def usage() -> str:
    lines = ["usage: python -m benchmarks all | NAME [ARGS...]", "", "workloads:"]
    lines += [f"  {name:<13} {text}" for name, text in WORKLOADS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, args = argv[0], argv[1:]
    if name != "all":
        if name not in WORKLOADS:
            print(f"unknown workload {name!r}\n\n{usage()}", file=sys.stderr)
            return 2
        run(name, args)
        return 0
    failed = []
    started = time.perf_counter()
    for workload in WORKLOADS:
        if workload in NOT_IN_ALL:
            continue
        print(f"\n=== {workload}: {WORKLOADS[workload]}", flush=True)
        t0 = time.perf_counter()
        try:
            run(workload, [])
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("benchmarks."):
                print(f"(skipped: {exc.name} is not in this checkout)")
                continue
            traceback.print_exc()
            failed.append(workload)
        except (Exception, SystemExit):  # noqa: BLE001 - report and go on with the next workload
            traceback.print_exc()
            failed.append(workload)
        print(f"=== {workload} took {time.perf_counter() - t0:.0f} s", flush=True)
    print(
        f"\nall workloads took {time.perf_counter() - started:.0f} s"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
