"""A private warm-instance state folder per test; whatever warm Ray a test started is stopped by
the pids its state records (and by its own marks), never with ``ray stop``."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid

import pytest

from rayflow.scheduler import _warmreaper

RAYFLOW = os.path.join(os.path.dirname(sys.executable), "rayflow")


class Warm:
    """Runs ``rayflow`` with the warm instance on, its state in ``folder``."""

    def __init__(self, folder: str, datastore: str) -> None:
        self.folder = folder
        self.env = dict(
            os.environ,
            RAYFLOW_WARM="1",
            RAYFLOW_WARM_DIR=folder,
            RAYFLOW_DATASTORE=datastore,
            PYTHONUNBUFFERED="1",
        )

    def run(
        self, *args: str, env: dict | None = None, timeout: float = 240
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [RAYFLOW, *args],
            env={**self.env, **(env or {})},
            text=True,
            capture_output=True,
            timeout=timeout,
        )

    def popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [RAYFLOW, *args],
            env={**self.env, **(env or {})},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def states(self) -> list[dict]:
        found = []
        for path in sorted(glob.glob(os.path.join(self.folder, "*.json"))):
            with open(path) as f:
                found.append(json.load(f))
        return found

    def state(self) -> dict:
        states = self.states()
        assert len(states) == 1, states
        return states[0]

    def processes(self, state: dict) -> list[tuple[int, int]]:
        """The live processes of the instance ``state`` records."""
        return _warmreaper._processes(state["token"], state["temp_dir"], {os.getpid()})

    def stop_all(self) -> None:
        for state in self.states():
            reaper = state.get("reaper")
            if reaper and _warmreaper.alive(reaper):
                os.kill(reaper[0], signal.SIGKILL)
            _warmreaper.stop_instance(state)


@pytest.fixture
def warm(tmp_path):
    # Ray's socket paths must stay short: the folder lies in the suite's RAY_TMPDIR, not tmp_path.
    folder = os.path.join(os.environ["RAY_TMPDIR"], f"w{uuid.uuid4().hex[:6]}")
    handle = Warm(folder, str(tmp_path / "ds"))
    yield handle
    handle.stop_all()
    shutil.rmtree(folder, ignore_errors=True)
