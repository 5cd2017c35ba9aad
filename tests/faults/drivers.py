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

FLOWS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flows.py")
RAYFLOW = [sys.executable, "-m", "rayflow.cli"]


class Driver:
    """A `rayflow run FLOWS:SplitsFlow` subprocess; its own session, so the test signals only it."""

    def __init__(self, datastore: str, folder: str, n: int = 12, work_seconds: float = 0.3,
                 flow: str = "SplitsFlow") -> None:
        self.ray_tmp = tempfile.mkdtemp(prefix="rfsk-", dir="/tmp")  # short: socket paths
        self.run_id_file = os.path.join(folder, "run_id")
        self.datastore, self.folder, self.flow = datastore, folder, flow
        env = dict(os.environ, RAY_TMPDIR=self.ray_tmp)
        self.proc = subprocess.Popen(
            RAYFLOW + ["run", f"{FLOWS}:{flow}", "--folder", folder, "--n", str(n),
                       "--work_seconds", str(work_seconds), "--datastore", datastore,
                       "--max-workers", "2", "--run-id-file", self.run_id_file],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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
        for pid in instance_processes(self.ray_tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.ray_tmp, ignore_errors=True)


def instance_processes(ray_tmp: str, exclude: int = 0) -> dict[int, str]:
    marker = ray_tmp.encode()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (exclude, os.getpid()):
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and (marker in cmd or b"RAY_TMPDIR=" + marker + b"\0" in env
                              or _has_file_in(int(name), ray_tmp)):
            found[int(name)] = cmd.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return found


def _has_file_in(pid: int, folder: str) -> bool:
    """Ray renames its processes (setproctitle), which can blank the environment /proc shows;
    each still holds its log files in the instance's session folder."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(folder + "/"):
                return True
        except OSError:
            continue
    return False


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
