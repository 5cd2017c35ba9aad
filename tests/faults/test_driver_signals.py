"""The driver itself dies (SIGKILL) or is interrupted (SIGINT): nothing finished is lost.

These start real `rayflow run` processes, each with its own embedded Ray, in their own process
group; the test kills the driver only, then cleans up that group (never `ray stop`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from rayflow import Runner
from rayflow.datastore import open_storage, records, taskrecords
from tests.processes import kill_ray_of

from .conftest import executions
from .drivers import Driver, executed, wait_until

FLOWS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flows.py")
RAYFLOW = [sys.executable, "-m", "rayflow.cli"]


def _start(datastore: str, folder: str, tmp_path) -> tuple[subprocess.Popen, str]:
    run_id_file = str(tmp_path / "run_id")
    ray_tmp = tempfile.mkdtemp(prefix="rfs", dir="/tmp")  # short: Ray's socket paths are limited
    env = dict(os.environ, RAY_TMPDIR=ray_tmp)
    proc = subprocess.Popen(
        RAYFLOW
        + [
            "run",
            f"{FLOWS}:SplitsFlow",
            "--folder",
            folder,
            "--n",
            "12",
            "--work_seconds",
            "0.5",
            "--datastore",
            datastore,
            "--max-workers",
            "2",
            "--run-id-file",
            run_id_file,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=env,
    )
    proc.ray_tmp = ray_tmp  # type: ignore[attr-defined]
    return proc, run_id_file


def _wait_for_splits(folder: str, count: int, proc: subprocess.Popen, limit: float = 90.0) -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        if sum(1 for e in executions(folder) if e.startswith("work/")) >= count:
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.1)
    raise AssertionError("splits did not start in time")


def _cleanup(proc: subprocess.Popen) -> None:
    """Kill the driver's group and every Ray process of its private temp dir (and only those)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    kill_ray_of(proc.ray_tmp)  # type: ignore[attr-defined]


def _settled_done_splits(datastore: str, run_id: str) -> list[int]:
    """Finished splits once no orphaned worker is still finishing one."""
    previous, stable_since = None, time.time()
    while time.time() - stable_since < 2.0:
        now = _done_splits(datastore, run_id)
        if now != previous:
            previous, stable_since = now, time.time()
        time.sleep(0.2)
    return previous or []


def _done_splits(datastore: str, run_id: str) -> list[int]:
    storage = open_storage(datastore)
    return [
        i for i in range(12) if taskrecords.is_done(storage, "SplitsFlow", run_id, "work", str(i))
    ]


@pytest.mark.timeout(240)
def test_driver_killed_with_sigkill_then_resume_clones_what_finished(
    ray_session, datastore, folder, tmp_path
):
    proc, run_id_file = _start(datastore, folder, tmp_path)
    try:
        _wait_for_splits(folder, 5, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _cleanup(proc)
    run_id = open(run_id_file).read().strip()
    finished = _settled_done_splits(datastore, run_id)
    assert 1 <= len(finished) < 12
    result = Runner(f"{FLOWS}:SplitsFlow", datastore=datastore).resume(origin_run_id=run_id)
    assert result.successful
    cloned_splits = sorted(int(t) for s, t in result.cloned if s == "work")
    assert cloned_splits == finished
    ran_splits = sorted(int(t) for s, t in result.executed if s == "work")
    assert ran_splits == sorted(set(range(12)) - set(finished))
    assert result.run.data.total == sum(i * i for i in range(12))


@pytest.mark.timeout(240)
def test_sigint_cancels_records_failure_and_exits_130(ray_session, datastore, folder, tmp_path):
    proc, run_id_file = _start(datastore, folder, tmp_path)
    try:
        _wait_for_splits(folder, 3, proc)
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        _cleanup(proc)
    assert proc.returncode == 130, output
    assert "interrupted" in output and "Traceback" not in output
    run_id = open(run_id_file).read().strip()
    record = records.read_run(open_storage(datastore), "SplitsFlow", run_id)
    assert record["status"] == "failed" and record["interrupted"] is True
    finished = _settled_done_splits(datastore, run_id)
    result = Runner(f"{FLOWS}:SplitsFlow", datastore=datastore).resume(origin_run_id=run_id)
    assert result.successful
    assert sorted(int(t) for s, t in result.cloned if s == "work") == finished


# Moments to press Ctrl-C at: (what must have happened first, then how long to wait). From Ray
# still starting (nothing recorded yet) through the foreach to the join and the end step.
MOMENTS = [
    ("launch", 3.0),
    ("start/", 0.0),
    ("work/", 0.0),
    ("work/", 0.4),
    ("work/", 1.0),
    ("join/", 0.0),
    ("end/", 0.0),
]


def _wait_for(event: str, driver: Driver, delay: float) -> None:
    if event != "launch":
        wait_until(
            lambda: any(e.startswith(event) for e in executed(driver.folder)), driver, what=event
        )
    time.sleep(delay)


def _assert_ended_one_defined_way(driver: Driver, code: int, interrupted: int) -> None:
    """Exit 130/143 with the resume hint and a failed run, or no run at all when Ray was still
    starting, or 0 and a successful run when it had finished — never Ray's crash."""
    out = driver.output
    assert "Check failed" not in out and "Traceback" not in out and "*** SIG" not in out, out
    if code == 0:
        assert driver.status() == "successful", out
        return
    assert code == interrupted, out
    if driver.run_id() is None:
        assert (
            out.strip().splitlines()[-1] in ("aborted", "interrupted")
            or "before the run started; nothing was run" in out
        ), out
        return
    assert driver.status() == "failed", out
    assert "resume with: rayflow resume " in out, out
    assert f"flows.py --origin-run-id {driver.run_id()}" in out, out


@pytest.mark.timeout(400)
def test_ctrl_c_at_any_moment_exits_130_with_the_resume_hint_and_a_failed_run(tmp_path):
    seen = []
    for i, (event, delay) in enumerate(MOMENTS):
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        driver = Driver(str(folder / "ds"), str(folder), n=12, work_seconds=0.3)
        try:
            _wait_for(event, driver, delay)
            if driver.proc.poll() is None:
                driver.signal(signal.SIGINT)
            code = driver.finish(timeout=90)
        finally:
            driver.cleanup()
        _assert_ended_one_defined_way(driver, code, 130)
        seen.append((code, driver.status()))
    assert (130, "failed") in seen, seen  # at least some moments fell inside the run


@pytest.mark.timeout(240)
def test_sigterm_ends_the_run_like_ctrl_c_with_exit_143(tmp_path):
    driver = Driver(str(tmp_path / "ds"), str(tmp_path), n=12, work_seconds=1)
    try:
        _wait_for("work/", driver, 0.5)
        driver.signal(signal.SIGTERM)
        code = driver.finish(timeout=90)
    finally:
        driver.cleanup()
    assert code == 143, driver.output
    assert (
        driver.output.strip()
        .splitlines()[-1]
        .startswith(f"run SplitsFlow/{driver.run_id()} terminated (SIGTERM); ")
    ), driver.output
    _assert_ended_one_defined_way(driver, code, 143)
