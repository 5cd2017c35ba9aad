"""Real ``rayflow sweep`` driver processes for tests, and the cleanup of everything they start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import optuna

from tests.processes import kill_ray_of

HERE = os.path.dirname(os.path.abspath(__file__))


class Driver:
    """``rayflow sweep`` in its own session with its own Ray temp dir."""

    def __init__(self, args: list[str]) -> None:
        self.ray_tmp = tempfile.mkdtemp(prefix="rfw", dir="/tmp")
        self.cmd = [sys.executable, "-m", "rayflow.cli", "sweep", *args]
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=dict(os.environ, RAY_TMPDIR=self.ray_tmp),
        )
        self.output = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def finish(self, timeout: float = 240) -> int:
        try:
            self.output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.output, _ = self.proc.communicate()
            raise
        return self.proc.returncode

    def kill(self) -> None:
        kill_group_and_ray(self.proc, self.ray_tmp)


def gate_args(
    storage: str, study: str, datastore: str, gate: str, trials: int, *extra: str
) -> list[str]:
    return [
        f"{HERE}/flows.py:GateFlow",
        "--space",
        "x=float:0:1",
        "--objective",
        "start.loss",
        "--trials",
        str(trials),
        "--concurrency",
        "2",
        "--sampler",
        "random",
        "--storage",
        storage,
        "--study",
        study,
        "--datastore",
        datastore,
        "--gate",
        gate,
        "--heartbeat-interval",
        "1",
        "--grace-period",
        "5",
        *extra,
    ]


def wait_for(
    storage: str,
    study: str,
    ready: Callable[[list], bool],
    drivers: list[Driver],
    timeout: float = 150,
) -> list:
    """Poll the study until ``ready(trials)``; fail early, with its output, if a driver exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for d in drivers:
            assert d.alive(), d.proc.stdout.read() if d.proc.stdout else ""
        try:
            trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
            if ready(trials):
                return trials
        except KeyError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the study never got ready in {timeout} s")


def kill_group_and_ray(proc: subprocess.Popen | None, ray_tmp: str) -> None:
    """SIGKILL the driver's process group and every process of its Ray (found by its temp dir)."""
    if proc is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    kill_ray_of(ray_tmp)
