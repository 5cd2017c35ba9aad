"""A run's status is true everywhere: a run whose driver died reads ``crashed``, never ``running``.

The driver keeps a heartbeat in the datastore; readers (client, CLI, UI) decide with one
function, ``rayflow.datastore.effective_status``. The real test starts a real ``rayflow run``
process (its own embedded Ray, a 0.5 s heartbeat so it goes stale after 3 s), SIGKILLs that
process only, then cleans up the Ray processes of its private temp dir (never `ray stop`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from click.testing import CliRunner

from rayflow.datastore import effective_status
from tests.processes import kill_ray_of

FLOWS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "status_flows.py")


# -- the one function that decides ---------------------------------------------------------
def test_a_running_record_with_a_fresh_heartbeat_is_running():
    record = {"status": "running", "created_at": 1000.0, "heartbeat_interval": 10.0}
    assert effective_status(record, {"at": 1500.0, "interval": 10.0}, now=1530.0) == "running"


def test_a_running_record_whose_heartbeat_is_older_than_six_intervals_is_crashed():
    record = {"status": "running", "created_at": 1000.0, "heartbeat_interval": 10.0}
    assert effective_status(record, {"at": 1500.0, "interval": 10.0}, now=1561.0) == "crashed"
    # the run's own interval decides: a 1 s driver is stale after 6 s
    assert effective_status(record, {"at": 1500.0, "interval": 1.0}, now=1507.0) == "crashed"


def test_a_run_without_a_heartbeat_yet_has_a_grace_period_from_its_creation():
    record = {"status": "running", "created_at": 1000.0}
    assert effective_status(record, None, now=1030.0) == "running"
    assert effective_status(record, None, now=1100.0) == "crashed"


def test_a_finished_run_keeps_its_recorded_status_whatever_its_heartbeat():
    for status in ("successful", "failed", "pruned"):
        record = {"status": status, "created_at": 1000.0}
        assert effective_status(record, {"at": 1000.0, "interval": 1.0}, now=99999.0) == status


def test_the_staleness_limit_is_set_by_environment_but_never_below_two_intervals(monkeypatch):
    record = {"status": "running", "created_at": 1000.0}
    monkeypatch.setenv("RAYFLOW_HEARTBEAT_STALE_SECONDS", "100")
    assert effective_status(record, {"at": 1000.0, "interval": 10.0}, now=1090.0) == "running"
    assert effective_status(record, {"at": 1000.0, "interval": 10.0}, now=1101.0) == "crashed"
    monkeypatch.setenv("RAYFLOW_HEARTBEAT_STALE_SECONDS", "1")
    assert effective_status(record, {"at": 1000.0, "interval": 10.0}, now=1015.0) == "running"


# -- a real driver, really killed ----------------------------------------------------------
def _start_driver(datastore: str, folder: str, run_id_file: str, ray_tmp: str) -> subprocess.Popen:
    env = dict(os.environ, RAY_TMPDIR=ray_tmp, RAYFLOW_HEARTBEAT_SECONDS="0.5")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rayflow.cli",
            "run",
            f"{FLOWS}:HoldFlow",
            "--folder",
            folder,
            "--datastore",
            datastore,
            "--run-id-file",
            run_id_file,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=env,
    )


def _wait_for(path: str, proc: subprocess.Popen, limit: float = 120.0) -> None:
    deadline = time.time() + limit
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise AssertionError(
                f"the run ended early: {proc.stdout.read() if proc.stdout else ''}"
            )
        assert time.time() < deadline, f"{path} did not appear in time"
        time.sleep(0.1)


def _cli(*args: str) -> str:
    from rayflow.cli import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _run_row(output: str, run_id: str) -> str:
    return next(line for line in output.splitlines() if run_id in line)


@pytest.mark.timeout(300)
def test_a_run_whose_driver_was_sigkilled_reads_crashed_in_client_cli_and_ui_then_resumes(
    ray_session, datastore, tmp_path
):
    import httpx

    from rayflow import Run
    from tests.ui.conftest import start_server, stop_server

    folder = tmp_path / "work"
    folder.mkdir()
    open(folder / "hold", "w").close()
    run_id_file = str(tmp_path / "run_id")
    ray_tmp = tempfile.mkdtemp(prefix="rfh", dir="/tmp")  # short: Ray's socket paths are limited
    proc = _start_driver(datastore, str(folder), run_id_file, ray_tmp)
    ui = None
    try:
        _wait_for(str(folder / "holding"), proc)
        run_id = open(run_id_file).read().strip()
        pathspec = f"HoldFlow/{run_id}"
        ui = start_server(datastore)  # a real `rayflow ui` process
        time.sleep(4.0)  # longer than the 3 s staleness limit: the live driver's beats count
        assert Run(pathspec).status == "running"
        assert "running" in _run_row(_cli("runs", "HoldFlow", "--datastore", datastore), run_id)
        live = httpx.get(f"{ui.url}/api/runs/{pathspec}").json()
        assert (live["status"], live["running"]) == ("running", True)
        assert "data-live=" in httpx.get(f"{ui.url}/runs/{pathspec}").text

        os.kill(proc.pid, signal.SIGKILL)  # the driver only
        proc.wait(timeout=30)
        kill_ray_of(ray_tmp)
        deadline = time.time() + 30
        while Run(pathspec).status != "crashed":
            assert time.time() < deadline, (
                f"still {Run(pathspec).status!r} 30 s after the driver died"
            )
            time.sleep(0.5)
        assert not Run(pathspec).successful
        assert "crashed" in _run_row(_cli("runs", "HoldFlow", "--datastore", datastore), run_id)
        shown = _cli("show", pathspec, "--datastore", datastore)
        assert re.search(r"^status\s+crashed", shown, re.M), shown
        api = httpx.get(f"{ui.url}/api/runs/{pathspec}").json()
        assert (api["status"], api["running"]) == ("crashed", False)  # the live page stops polling
        page = httpx.get(f"{ui.url}/runs/{pathspec}").text
        assert "data-live=" not in page and 'id="run-crashed"' in page
        flow_page = httpx.get(f"{ui.url}/flows/HoldFlow", params={"status": "crashed"}).text
        assert f'data-run="{run_id}" data-status="crashed"' in flow_page
    finally:
        if ui is not None:
            stop_server(ui)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        kill_ray_of(ray_tmp)

    # `rayflow resume FILE` takes the latest run, the crashed one, and finishes it.
    os.remove(folder / "hold")
    output = _cli("resume", f"{FLOWS}:HoldFlow", "--datastore", datastore)
    assert f"resuming {pathspec}" in output
    assert "note: the origin run crashed" in output
    assert "cloned 1 task(s), ran 2" in output
    assert Run(pathspec).status == "crashed"


@pytest.mark.timeout(300)
def test_the_runs_of_a_sigkilled_sweep_driver_read_crashed_in_the_client_sweep_show_and_ui(
    ray_session, datastore, tmp_path
):
    import httpx
    import optuna
    from optuna.trial import TrialState

    from rayflow import Run
    from tests.ui.conftest import start_server, stop_server

    sweep_flows = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sweeps", "flows.py"
    )
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    ray_tmp = tempfile.mkdtemp(prefix="rfh", dir="/tmp")
    env = dict(os.environ, RAY_TMPDIR=ray_tmp, RAYFLOW_HEARTBEAT_SECONDS="0.5")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rayflow.cli",
            "sweep",
            f"{sweep_flows}:TimedFlow",
            "--space",
            "x=float:0:1",
            "--objective",
            "start.loss",
            "--trials",
            "2",
            "--concurrency",
            "2",
            "--storage",
            storage,
            "--datastore",
            datastore,
            "--sleep",
            "120",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=env,
    )
    try:
        deadline = time.time() + 120
        runs: list[str] = []
        while len(runs) < 2:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.time() < deadline, "the sweep's trials did not start in time"
            time.sleep(0.2)
            try:
                trials = optuna.load_study(study_name="TimedFlow", storage=storage).get_trials(
                    deepcopy=False
                )
            except KeyError:
                continue
            runs = [
                t.user_attrs["run_pathspec"]
                for t in trials
                if t.state == TrialState.RUNNING and "run_pathspec" in t.user_attrs
            ]
        assert [Run(p).status for p in runs] == ["running", "running"]
        os.kill(proc.pid, signal.SIGKILL)  # the sweep driver only
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        kill_ray_of(ray_tmp)
    deadline = time.time() + 30
    while [Run(p).status for p in runs] != ["crashed", "crashed"]:
        assert time.time() < deadline, [Run(p).status for p in runs]
        time.sleep(0.5)
    shown = _cli(
        "sweep",
        "show",
        "TimedFlow",
        "--storage",
        storage,
        "--datastore",
        datastore,
        "--plots",
        str(tmp_path / "plots"),
    )
    assert shown.count("running (its run crashed)") == 2, shown
    ui = start_server(datastore, "--sweeps-storage", storage)
    try:
        page = httpx.get(f"{ui.url}/sweeps/TimedFlow").text
    finally:
        stop_server(ui)
    assert page.count("its run crashed (the sweep driver died)") == 2
