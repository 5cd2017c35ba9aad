"""Real `rayflow run` driver processes, each with its own embedded Ray in its own short temp
dir, and the processes of that Ray instance found through /proc (by that temp dir, which every
process of the instance has in its command line, its environment or its open files)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from tests.processes import instance_processes, kill_ray_of

FLOWS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flows.py")
RAYFLOW = [sys.executable, "-m", "rayflow.cli"]


class Driver:
    """A `rayflow run FLOWS:SplitsFlow` subprocess; its own session, so the test signals only it."""

    def __init__(
        self,
        datastore: str,
        folder: str,
        n: int = 12,
        work_seconds: float = 0.3,
        flow: str = "SplitsFlow",
    ) -> None:
        self.ray_tmp = tempfile.mkdtemp(prefix="rfsk-", dir="/tmp")  # short: socket paths
        self.run_id_file = os.path.join(folder, "run_id")
        self.datastore, self.folder, self.flow = datastore, folder, flow
        env = dict(os.environ, RAY_TMPDIR=self.ray_tmp)
        self.proc = subprocess.Popen(
            RAYFLOW
            + [
                "run",
                f"{FLOWS}:{flow}",
                "--folder",
                folder,
                "--n",
                str(n),
                "--work_seconds",
                str(work_seconds),
                "--datastore",
                datastore,
                "--max-workers",
                "2",
                "--run-id-file",
                self.run_id_file,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.output = ""

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def finish(self, timeout: float = 120) -> int:
        self.output, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode

    def run_id(self) -> str | None:
        if not os.path.exists(self.run_id_file):
            return None
        return open(self.run_id_file).read().strip() or None

    def status(self) -> str | None:
        run_id = self.run_id()
        if run_id is None:
            return None
        path = os.path.join(self.datastore, self.flow, "runs", run_id, "run.json")
        with open(path) as f:
            return json.load(f)["status"]

    def processes(self) -> dict[int, str]:
        """pid -> command line of every live process of this driver's Ray instance."""
        return instance_processes(self.ray_tmp, exclude=self.proc.pid)

    def cleanup(self) -> None:
        """Kill the driver and whatever of its Ray instance is left (and nothing else)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        kill_ray_of(self.ray_tmp)
        shutil.rmtree(self.ray_tmp, ignore_errors=True)


def executed(folder: str) -> list[str]:
    path = os.path.join(folder, "executions.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def wait_until(condition, driver: Driver, limit: float = 120.0, what: str = "") -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        if condition():
            return
        if driver.proc.poll() is not None:
            return  # the run ended first; the caller checks how
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
