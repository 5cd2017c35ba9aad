"""Driver memory and time for a wide no-op foreach (default 1,000 and 10,000 splits).

The driver is this process (rayflow's ``run_flow`` in-process, on a local Ray instance started
once beforehand). Its resident memory is sampled every 50 ms from /proc/self/status during the
run; the table shows the memory before the run, the peak during it, and the growth, so a driver
that keeps O(N) or O(N^2) state shows up as growth that scales with N. The run's own records give
the scheduling latency and parallel efficiency (``rayflow._stats``).

Run: ``python -m benchmarks driver_scale [N ...]``.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time

from benchmarks._common import RssSampler, rss_mb, save, start_ray, table
from benchmarks.fanout import FanoutFlow as WideFlow

SIZES = [1000, 10000]


def _one(n: int, folder: str) -> dict:
    from rayflow import metadata, namespace
    from rayflow._prepare import plan_for
    from rayflow._stats import run_stats
    from rayflow.scheduler import run_flow

    _, plan = plan_for(WideFlow)
    gc.collect()
    before = rss_mb()
    with RssSampler(0.05) as rss:
        t0 = time.perf_counter()
        result = run_flow(WideFlow, plan, {"n": n}, datastore=folder, quiet=True)
        elapsed = time.perf_counter() - t0
    assert result.successful, result.failures
    metadata(folder)
    namespace(None)
    t0 = time.perf_counter()
    stats = run_stats(f"{result.flow}/{result.run_id}")
    stats_s = time.perf_counter() - t0
    metadata(None)
    return {
        "splits": n,
        "run_s": elapsed,
        "ms_per_split": 1000 * elapsed / n,
        "rss_before_MB": before,
        "rss_peak_MB": rss.peak,
        "rss_growth_MB": rss.peak - before,
        "latency_median_ms": 1000 * (stats.latency_median_s or 0),
        "latency_p95_ms": 1000 * (stats.latency_p95_s or 0),
        "efficiency": stats.efficiency,
        "stats_read_s": stats_s,
    }


def main(sizes: list[int] | None = None) -> list[dict]:
    sizes = sizes or SIZES
    start_ray()
    _one(10, tempfile.mkdtemp(prefix="rf-warm-"))
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="rf-wide-") as tmp:
            rows.append(_one(n, tmp))
        print(table(rows[-1:], list(rows[-1])), flush=True)
    print("\nno-op foreach; driver = this process, RSS sampled every 50 ms")
    print(table(rows, list(rows[0])))
    biggest = max(rows, key=lambda r: r["splits"])
    print(
        f"target: driver RSS <= 500 MB at {biggest['splits']} splits: peak {biggest['rss_peak_MB']:.0f} MB"
    )
    print("saved", save("driver_scale", rows))
    return rows


def cli(argv: list[str]) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks driver_scale")
    parser.add_argument("sizes", nargs="*", type=int, help=f"split counts (default {SIZES})")
    return main(parser.parse_args(argv).sizes or SIZES)


if __name__ == "__main__":
    import sys

    cli(sys.argv[1:])
