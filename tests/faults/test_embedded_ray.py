"""The embedded Ray instance dies with its driver, and the driver survives its instance's death
with a rayflow summary. Real `rayflow run` processes, real SIGKILLs; every other Ray instance on
the machine (this test session's own, other runs') must be left alone."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rayflow import Runner

from .drivers import FLOWS, Driver, executed, wait_until

AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _gone_within(driver: Driver, seconds: float) -> dict[int, str]:
    """What is left of the driver's Ray instance once it is all gone, or after ``seconds``."""
    deadline = time.time() + seconds
    left = driver.processes()
    while left and time.time() < deadline:
        time.sleep(0.5)
        left = driver.processes()
    return left


@pytest.mark.timeout(240)
@pytest.mark.parametrize("moment", ["ray-starting", "step-running"])
def test_driver_sigkill_leaves_no_process_of_its_ray_instance(
    ray_session, run_flow, datastore, folder, moment
):
    # Killed while Ray starts, the raylet's agents used to outlive the driver for good.
    driver = Driver(datastore, folder, n=4, work_seconds=60)
    try:
        if moment == "ray-starting":
            wait_until(
                lambda: any(c.startswith(AGENTS) for c in driver.processes().values()),
                driver,
                what="Ray's agents",
            )
        else:
            wait_until(
                lambda: any(e.startswith("work/") for e in executed(folder)),
                driver,
                what="a split to start",
            )
        assert driver.proc.poll() is None, driver.proc.communicate()[0]
        assert driver.processes(), "the run has no Ray processes to watch"
        driver.signal(signal.SIGKILL)
        driver.proc.wait(timeout=30)
        left = _gone_within(driver, 30)
        assert not left, f"outlived the driver by 30 s: {left}"
    finally:
        driver.cleanup()
    # This session's own Ray instance (a separate one) was not touched.
    outcome = run_flow(f"{FLOWS}:SplitsFlow", folder=folder, n=2)
    assert outcome.successful and outcome.run.data.total == 1


@pytest.mark.timeout(240)
def test_raylet_killed_mid_run_ends_with_a_rayflow_summary_and_a_failed_run(
    ray_session, datastore, folder
):
    driver = Driver(datastore, folder, n=12, work_seconds=1)
    try:
        wait_until(
            lambda: sum(e.startswith("work/") for e in executed(folder)) >= 3,
            driver,
            what="three splits to start",
        )
        raylet = [
            pid
            for pid, cmd in driver.processes().items()
            if cmd.split(" ", 1)[0].endswith("/raylet")
        ]
        assert len(raylet) == 1, driver.processes()
        os.kill(raylet[0], signal.SIGKILL)
        code = driver.finish(timeout=120)
    finally:
        driver.cleanup()
    last = driver.output.strip().splitlines()[-1]
    assert code == 1, driver.output
    assert last.startswith("error: the local Ray instance died (raylet exited); "), driver.output
    assert (
        "flows.py --origin-run-id " + str(driver.run_id()) in last
        and "resume with: rayflow resume " in last
    )
    assert "Traceback" not in driver.output and "Check failed" not in driver.output
    assert driver.status() == "failed"
    # What it says is checkpointed is: a resume clones exactly that many and finishes the run.
    kept = int(last.split("; ")[1].split()[0])
    result = Runner(f"{FLOWS}:SplitsFlow", datastore=datastore).resume(
        origin_run_id=driver.run_id()
    )
    assert result.successful and result.run.data.total == sum(i * i for i in range(12))
    assert len(result.cloned) >= kept  # a task may finish as Ray dies, before the driver hears
