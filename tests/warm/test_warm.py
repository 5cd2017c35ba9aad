"""The warm local Ray: a local `rayflow run` leaves its Ray up for the next one, safely.

Real `rayflow run` subprocesses, a real `ray start --head`, real SIGKILLs; each test has its own
state folder (the `warm` fixture) and stops what it started by pid."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time

import pytest

from rayflow.scheduler import _warm, _warmreaper

from .conftest import Warm

NOTE = "the local Ray stays up for the next runs"


def _flow(folder, body: str, name: str = "flow.py") -> str:
    path = os.path.join(str(folder), name)
    with open(path, "w") as f:
        f.write(textwrap.dedent(body).lstrip())
    return path


HELLO = """
    from rayflow import FlowSpec, step

    class Hello(FlowSpec):
        @step
        def start(self):
            import os
            self.pid = os.getpid()
            self.next(self.end)

        @step
        def end(self):
            print("hello from the end")
"""


def _artifact(datastore: str, flow: str, name: str):
    import rayflow

    rayflow.metadata(datastore)
    rayflow.namespace(None)
    try:
        return getattr(rayflow.Flow(flow).latest_run.data, name)
    finally:
        rayflow.metadata(None)
        rayflow.default_namespace()


def _heads_alive(state: dict) -> bool:
    return all(_warmreaper.alive(v) for v in state["heads"].values())


def test_second_local_run_reuses_the_warm_ray_and_shutdown_stops_it(warm: Warm, tmp_path):
    flow = _flow(tmp_path, HELLO)
    first = warm.run("run", flow)
    assert first.returncode == 0, first.stdout + first.stderr
    assert NOTE in first.stderr  # said once, by the run that started it
    state = warm.state()
    assert _heads_alive(state)

    second = warm.run("run", flow)
    assert second.returncode == 0, second.stdout + second.stderr
    assert NOTE not in second.stderr and "Ray start-up" not in second.stdout
    assert "hello from the end" in second.stdout
    assert warm.state()["heads"] == state["heads"]  # the same instance

    stopped = warm.run("shutdown")
    assert (
        stopped.returncode == 0
        and f"stopped the warm local Ray at {state['address']}" in stopped.stdout
    )
    assert warm.states() == [] and warm.processes(state) == []
    assert not os.path.exists(state["temp_dir"]) and not _warmreaper.alive(state["reaper"])
    assert "no warm local Ray is running" in warm.run("shutdown").stdout


@pytest.mark.parametrize("how", ["--no-warm", "RAYFLOW_WARM=0"])
def test_turned_off_a_local_run_keeps_no_ray(warm: Warm, tmp_path, how):
    flow = _flow(tmp_path, HELLO)
    args, env = (["--no-warm"], None) if how == "--no-warm" else ([], {"RAYFLOW_WARM": "0"})
    done = warm.run("run", flow, *args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert NOTE not in done.stderr and warm.states() == []


def test_code_changes_between_runs_take_effect(warm: Warm, tmp_path):
    helper = tmp_path / "helper.py"
    helper.write_text("VALUE = 'first'\n")
    flow = _flow(
        tmp_path,
        """
        from rayflow import FlowSpec, step

        class Edited(FlowSpec):
            @step
            def start(self):
                import os
                import helper
                self.value = helper.VALUE
                self.marker = os.environ.get("MY_SETTING", "unset")
                self.next(self.end)

            @step
            def end(self):
                pass
    """,
    )
    datastore = warm.env["RAYFLOW_DATASTORE"]
    assert warm.run("run", flow).returncode == 0
    assert _artifact(datastore, "Edited", "value") == "first"
    helper.write_text("VALUE = 'second'\n")
    second = warm.run("run", flow, env={"MY_SETTING": "from the second shell"})
    assert second.returncode == 0, second.stdout + second.stderr
    assert NOTE not in second.stderr  # reused, and yet:
    assert _artifact(datastore, "Edited", "value") == "second"
    assert _artifact(datastore, "Edited", "marker") == "from the second shell"


def test_an_instance_that_died_is_replaced_without_a_word(warm: Warm, tmp_path):
    flow = _flow(tmp_path, HELLO)
    assert warm.run("run", flow).returncode == 0
    dead = warm.state()
    for pid, _ in dead["heads"].values():
        os.kill(pid, signal.SIGKILL)
    again = warm.run("run", flow)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "error" not in (again.stdout + again.stderr).lower()
    fresh = warm.state()
    assert fresh["token"] != dead["token"] and _heads_alive(fresh)
    assert warm.processes(dead) == [] and not os.path.exists(dead["temp_dir"])


def test_an_instance_of_another_ray_version_is_never_reused(warm: Warm, tmp_path):
    flow = _flow(tmp_path, HELLO)
    assert warm.run("run", flow).returncode == 0
    old = warm.state()
    path = next(p for p in os.listdir(warm.folder) if p.endswith(".json"))
    with open(os.path.join(warm.folder, path), "w") as f:
        json.dump({**old, "environment": {**old["environment"], "ray": "2.0.0"}}, f)
    again = warm.run("run", flow)
    assert again.returncode == 0, again.stdout + again.stderr
    assert NOTE in again.stderr  # a new instance was started, the old one stopped
    assert warm.state()["token"] != old["token"] and warm.processes(old) == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("ray", "2.0.0"),
        ("python", "3.9.0"),
        ("rayflow", "0.0.1"),
        ("rayflow_path", "/elsewhere"),
        ("prefix", "/other/venv"),
        ("uid", -1),
    ],
)
def test_reuse_needs_the_same_user_python_ray_and_rayflow(field, value):
    env = _warm.environment("2.60.0")
    assert field in env
    state = {"environment": {**env, field: value}, "uid": os.getuid(), "heads": {}}
    assert not _warm._usable(state, env)
    if field == "uid":
        assert not _warm._usable({"environment": env, "uid": value, "heads": {}}, env)


def test_two_runs_at_once_share_one_instance(warm: Warm, tmp_path):
    flow = _flow(tmp_path, HELLO)
    procs = [warm.popen("run", flow) for _ in range(2)]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum(NOTE in out for out in outputs) == 1
    state = warm.state()
    raylets = [pid for pid, _ in warm.processes(state) if _program(pid) == "raylet"]
    assert len(raylets) == 1


def _program(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(f.read().split(b"\0", 1)[0]).decode()
    except OSError:
        return ""


def test_sigkill_of_a_driver_leaves_the_warm_instance_usable(warm: Warm, tmp_path):
    flow = _flow(
        tmp_path,
        """
        from rayflow import FlowSpec, step

        class Slow(FlowSpec):
            @step
            def start(self):
                import os, time
                print("step pid", os.getpid(), flush=True)
                time.sleep(120)
                self.next(self.end)

            @step
            def end(self):
                pass
    """,
    )
    driver = warm.popen("run", flow)
    step_pid = None
    deadline = time.time() + 180
    while step_pid is None and time.time() < deadline:
        line = driver.stdout.readline()
        if "step pid" in line:
            step_pid = int(line.rsplit(" ", 1)[1])
        assert line or driver.poll() is None, "the run ended before its step started"
    assert step_pid is not None
    state = warm.state()
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    driver.stdout.close()
    deadline = time.time() + 60
    while _alive_pid(step_pid) and time.time() < deadline:
        time.sleep(0.5)
    assert not _alive_pid(step_pid)  # Ray ended the dead driver's job and its worker
    assert _heads_alive(state)
    hello = _flow(tmp_path, HELLO, "hello.py")
    again = warm.run("run", hello)
    assert again.returncode == 0, again.stdout + again.stderr
    assert warm.state()["token"] == state["token"]  # the same instance, still warm


def _alive_pid(pid: int) -> bool:
    return _warmreaper.start_time(pid) is not None


def test_an_idle_warm_instance_stops_itself(warm: Warm, tmp_path):
    flow = _flow(tmp_path, HELLO)
    done = warm.run("run", flow, env={"RAYFLOW_WARM_IDLE_MINUTES": "0.05"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "after 0.05 min idle" in done.stderr
    state = warm.state()
    deadline = time.time() + 60
    while (warm.states() or warm.processes(state)) and time.time() < deadline:
        time.sleep(1)
    assert warm.states() == [] and warm.processes(state) == []
    assert not _warmreaper.alive(state["reaper"]) and not os.path.exists(state["temp_dir"])


def test_live_output_of_a_warm_run_comes_through_files_left_nowhere(warm: Warm, tmp_path):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    flow = _flow(
        tmp_path,
        """
        from rayflow import FlowSpec, step

        class Chatty(FlowSpec):
            @step
            def start(self):
                print("one line")
                self.next(self.end)

            @step
            def end(self):
                import sys
                print("to stderr", file=sys.stderr)
    """,
    )
    for _ in range(2):  # the run that starts the warm Ray, and one that reuses it
        done = warm.run("run", flow, env={"TMPDIR": str(private_tmp)})
        assert done.returncode == 0, done.stdout + done.stderr
        assert "[start/0] one line" in done.stdout
        assert "[end/0] to stderr" in done.stdout + done.stderr
    assert [p.name for p in private_tmp.iterdir() if p.name.startswith("rayflow-live-")] == []
