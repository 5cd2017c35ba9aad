"""Shared fixtures: one real local Ray instance per test session, a datastore per test."""

from __future__ import annotations

import logging
import os
import textwrap

import pytest

os.environ.setdefault("RAY_TMPDIR", "/tmp/rft")
os.environ.setdefault("RAYFLOW_USER", "tester")
# No warm local Ray (scheduler/_warm.py) outlives the suite: every `rayflow run` a test starts
# stops its own Ray. The tests of the warm instance turn it on for their own processes only.
os.environ["RAYFLOW_WARM"] = "0"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def ray_session():
    """A real local Ray instance (2 CPUs) shared by every test that runs flows in-process."""
    import ray

    os.makedirs(os.environ["RAY_TMPDIR"], exist_ok=True)
    started = False
    if not ray.is_initialized():
        ray.init(
            num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
        )
        started = True
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture
def datastore(tmp_path, monkeypatch):
    """A fresh local datastore; the client (``Flow``, ``Run``...) reads it too."""
    import rayflow

    url = str(tmp_path / "ds")
    monkeypatch.setenv("RAYFLOW_DATASTORE", url)
    rayflow.metadata(url)
    rayflow.namespace(None)
    yield url
    rayflow.metadata(None)
    rayflow.default_namespace()


@pytest.fixture
def run_flow(ray_session, datastore):
    """``run_flow(FlowClassOrFile, **params)`` runs it in-process and returns a RunOutcome."""
    from rayflow import Runner

    def run(flow, *, runner_options=None, **params):
        return Runner(flow, datastore=datastore, **(runner_options or {})).run(**params)

    return run


@pytest.fixture
def write_flow(tmp_path):
    """``write_flow(source, name='flow.py')`` writes dedented source and returns its path."""

    def write(source: str, name: str = "flow.py") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source).lstrip())
        return str(path)

    return write


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (for the timeline and ``rayflow ui`` browser tests), installed with
    apt-get when missing; the tests that need it are skipped, with the reason, only when it
    cannot be installed."""
    import shutil
    import subprocess

    path = "/usr/bin/chromium"
    if os.path.exists(path):
        return path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("chromium is not installed and apt-get is not usable here (needs root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "chromium",
        "chromium-driver",
    ]
    try:
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"Debian's chromium could not be installed: {exc}")
    if done.returncode != 0 or not os.path.exists(path):
        pytest.skip(f"Debian's chromium could not be installed: {done.stderr.strip()[-300:]}")
    return path
