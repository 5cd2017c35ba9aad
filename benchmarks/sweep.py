"""Sweep throughput: 64 trials of a ~0.1 s CPU-bound objective, 4 at once.

Side by side in one process: rayflow's sweep (each trial a one-step flow run), Ray Tune with
OptunaSearch, and plain Optuna ``optimize(n_jobs=2)``. Ray Tune is skipped when ``ray[tune]`` is
not installed. Run: ``python -m benchmarks.sweep``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from benchmarks._common import save, start_ray, table
from rayflow import FlowSpec, Parameter, step

TRIALS = 64
CONCURRENCY = 4


def burn(x: float, seconds: float = 0.1) -> float:
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        pass
    return (x - 2.0) ** 2


class ObjectiveFlow(FlowSpec):
    x = Parameter("x", default=0.0)

    @step
    def start(self):
        self.loss = burn(self.x)
        self.next(self.end)

    @step
    def end(self):
        pass


def bench_rayflow(n: int) -> dict:
    import optuna

    from rayflow.sweeps import Sweep, parse_space

    folder = tempfile.mkdtemp(prefix="rf-sweep-")
    sweep = Sweep(
        ObjectiveFlow,
        space=parse_space(["x=float:-10:10"]),
        objective="start.loss",
        concurrency=CONCURRENCY,
        datastore=os.path.join(folder, "ds"),
        storage=f"sqlite:///{folder}/study.db",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    sweep.run(n_trials=2)  # warm the workers; not timed
    t0 = time.perf_counter()
    sweep.run(n_trials=n + 2)
    elapsed = time.perf_counter() - t0
    return {
        "tool": "rayflow sweep",
        "trials": n,
        "seconds": elapsed,
        "trials_per_min": 60 * n / elapsed,
    }


def bench_optuna(n: int) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(lambda t: burn(t.suggest_float("x", -10, 10)), n_trials=n, n_jobs=2)
    elapsed = time.perf_counter() - t0
    return {
        "tool": "optuna n_jobs=2",
        "trials": n,
        "seconds": elapsed,
        "trials_per_min": 60 * n / elapsed,
    }


def bench_tune(n: int) -> dict | None:
    try:
        from ray import tune
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        return None

    def trainable(config: dict) -> dict:
        return {"loss": burn(config["x"])}

    search = OptunaSearch(metric="loss", mode="min")
    tuner = tune.Tuner(
        trainable,
        param_space={"x": tune.uniform(-10, 10)},
        tune_config=tune.TuneConfig(
            search_alg=search, num_samples=n, max_concurrent_trials=CONCURRENCY
        ),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="tune-"), verbose=0),
    )
    t0 = time.perf_counter()
    tuner.fit()
    elapsed = time.perf_counter() - t0
    return {
        "tool": "ray tune + OptunaSearch",
        "trials": n,
        "seconds": elapsed,
        "trials_per_min": 60 * n / elapsed,
    }


def main(n: int = TRIALS) -> list[dict]:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    start_ray()
    rows = [bench_rayflow(n), bench_optuna(n)]
    tune_row = bench_tune(n)
    if tune_row:
        rows.append(tune_row)
    print(
        f"{n} trials of a 0.1 s CPU-bound objective, concurrency {CONCURRENCY}, {os.cpu_count()} CPUs"
    )
    print(table(rows, ["tool", "trials", "seconds", "trials_per_min"]))
    print("2-core limit: 1,200 trials/min; target: rayflow >= 600 and >= 10x Ray Tune")
    print("saved", save("sweep", rows))
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else TRIALS)
