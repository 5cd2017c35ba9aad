"""Ray is owned once per process: runs started from one process share the Ray the first one
started, the last one to end stops it; ``AsyncRun.cancel`` stops a run, which ends cancelled.

The ownership tests run in a fresh Python process (no test-session Ray in it), as a script or a
notebook would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

SLEEPY = """
    import os, time
    from rayflow import FlowSpec, Parameter, step

    class Sleepy(FlowSpec):
        seconds = Parameter("seconds", default=0.0)
        folder = Parameter("folder", default="")

        @step
        def start(self):
            print(f"started for {self.seconds}", flush=True)
            if self.folder:
                open(os.path.join(self.folder, "started"), "w").close()
            until = time.time() + self.seconds
            while time.time() < until:  # Python code: Ray's cancel interrupts it between lines
                time.sleep(0.1)
            self.next(self.end)

        @step
        def end(self):
            if self.folder:
                open(os.path.join(self.folder, "ended"), "w").close()
"""


def _script(tmp_path, flow_source: str, body: str) -> subprocess.CompletedProcess:
    flow = tmp_path / "sleepy.py"
    flow.write_text(textwrap.dedent(flow_source).lstrip())
    script = tmp_path / "script.py"
    script.write_text(
        f"FLOW = {str(flow)!r}\nDS = {str(tmp_path / 'ds')!r}\n" + textwrap.dedent(body)
    )
    env = dict(os.environ, RAY_TMPDIR=os.environ["RAY_TMPDIR"], PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, str(script)],
        env=env,
        text=True,
        capture_output=True,
        timeout=240,
        cwd=str(tmp_path),
    )


def test_two_async_runs_without_a_ray_share_it_and_both_finish(tmp_path):
    done = _script(
        tmp_path,
        SLEEPY,
        """
        import ray
        from rayflow import Runner

        short = Runner(FLOW, datastore=DS).async_run(seconds=0.1)
        long = Runner(FLOW, datastore=DS).async_run(seconds=6)
        short.wait(); long.wait()
        print("statuses", short.status, long.status)
        print("ray still up", ray.is_initialized())
    """,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "statuses successful successful" in done.stdout
    assert "ray still up False" in done.stdout  # the last run to end stopped it


def test_live_output_of_a_run_after_ray_was_stopped_and_started_again(tmp_path):
    done = _script(
        tmp_path,
        SLEEPY,
        """
        import io
        from rayflow import Runner

        for seconds in (1, 2):
            out = io.StringIO()
            request = Runner(FLOW, datastore=DS, quiet=False).request({"seconds": seconds}, out=out)
            from rayflow.scheduler import launch
            result = launch(request)
            print(result.status, "live:", [ln for ln in out.getvalue().splitlines() if "started for" in ln])
    """,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "successful live: ['[start/0] started for 1.0']" in done.stdout
    assert "successful live: ['[start/0] started for 2.0']" in done.stdout


def test_cancel_stops_an_async_run_which_ends_cancelled(
    ray_session, datastore, tmp_path, write_flow
):
    from rayflow import Run, Runner

    flow = write_flow(SLEEPY)
    handle = Runner(flow, datastore=datastore).async_run(seconds=120, folder=str(tmp_path))
    deadline = time.time() + 120
    while not (tmp_path / "started").exists() and time.time() < deadline:
        assert handle.status == "running", handle.wait()
        time.sleep(0.2)
    handle.cancel()
    handle.wait(timeout=90)
    assert handle.status == "cancelled"
    assert Run(handle.pathspec).status == "cancelled"
    assert handle.outcome.cancelled == ["start/0"]
    assert not (tmp_path / "ended").exists()


def test_cancel_after_the_end_keeps_the_status(ray_session, datastore, write_flow):
    from rayflow import Runner

    handle = Runner(write_flow(SLEEPY), datastore=datastore).async_run()
    handle.wait(timeout=120)
    assert handle.cancel().status == "successful"


@pytest.fixture(autouse=True)
def _no_warm(monkeypatch):
    monkeypatch.setenv("RAYFLOW_WARM", "0")
