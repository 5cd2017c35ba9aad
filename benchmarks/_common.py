"""Helpers shared by the benchmark scripts: one Ray instance, timing, tables, JSON results."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
from typing import Any

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def start_ray(num_cpus: int | None = None) -> None:
    import ray

    os.environ.setdefault("RAY_TMPDIR", "/tmp/ray")
    if not ray.is_initialized():
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        with open("/proc/meminfo") as f:
            info["memory_gb"] = round(int(f.readline().split()[1]) / 2**20, 1)
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), ""
            )
    except (OSError, ValueError, IndexError):
        pass
    try:
        import ray

        info["ray"] = ray.__version__
    except ImportError:
        pass
    info["metaflow"] = metaflow_version()
    return info


def save(name: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> str:
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w") as f:
        json.dump({"machine": machine(), **(extra or {}), "rows": rows}, f, indent=2)
    return path


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    lines = ["  ".join(c.rjust(widths[c]) for c in columns)]
    lines += ["  ".join(_fmt(r.get(c)).rjust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if v < 100 else f"{v:.1f}"
    return "" if v is None else str(v)


# -- peers and measurements shared by several workloads ---------------------------------------
def metaflow_version() -> str | None:
    """Metaflow's version when the ``[bench]`` extra is installed, else None (the peer is skipped)."""
    try:
        import metaflow
    except ImportError:
        return None
    return getattr(metaflow, "__version__", "unknown")


def run_metaflow(
    flow_file: str, args: list[str], cwd: str, timeout: float = 3600
) -> tuple[float, subprocess.CompletedProcess]:
    """``python FLOW --no-pylint run ARGS`` with Metaflow's local runtime; (seconds, process).

    ``--max-workers`` defaults to the CPU count and ``--max-num-splits`` is raised above its
    default of 100, so Metaflow gets the same parallelism and fan-out as rayflow.
    """
    env = dict(
        os.environ,
        USERNAME="bench",
        METAFLOW_USER="bench",
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DEFAULT_METADATA="local",
    )
    cmd = [
        sys.executable,
        flow_file,
        "--no-pylint",
        "run",
        "--max-workers",
        str(os.cpu_count() or 2),
        "--max-num-splits",
        "100000",
        *args,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - t0, proc


def rss_mb() -> float:
    """Resident memory of this process in MB (from /proc, else psutil)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class RssSampler:
    """Samples this process's RSS every ``interval`` seconds in a thread; ``peak`` is the maximum."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(rss_mb())

    @property
    def peak(self) -> float:
        return max(self.samples) if self.samples else rss_mb()
