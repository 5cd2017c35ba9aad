"""A datastore filled by real runs, and ``rayflow ui`` servers over it (real subprocesses)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("jinja2")
pytest.importorskip("httpx")


@dataclass
class Filled:
    """What the ui tests browse: one datastore, the runs in it, and what they should show."""

    url: str
    fan: str = ""  # FanFlow run id (foreach of 5, successful)
    fan2: str = ""  # FanFlow run id (foreach of 3, other label, tagged)
    flaky_failed: str = ""  # FlakyFlow run that failed at work/2
    flaky_resumed: str = ""  # its resume, successful
    cached: str = ""  # CachedFlow's second run: heavy came from the cache
    study: str = "quad-study"
    runs: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def filled(ray_session, tmp_path_factory):
    from rayflow import Runner
    from rayflow.sweeps import Sweep

    from .flows import CachedFlow, FanFlow, FlakyFlow, QuadFlow

    root = tmp_path_factory.mktemp("ui")
    url = str(root / "ds")
    data = Filled(url)
    data.fan = Runner(FanFlow, datastore=url).run(n=5).run_id
    data.fan2 = Runner(FanFlow, datastore=url, tags=["best"]).run(n=3, label="second").run_id
    marker = str(root / "marker")
    failed = Runner(FlakyFlow, datastore=url).run(marker=marker)
    assert failed.status == "failed"
    data.flaky_failed = failed.run_id
    open(marker, "w").close()
    resumed = Runner(FlakyFlow, datastore=url).resume(origin_run_id=failed.run_id)
    assert resumed.status == "successful"
    data.flaky_resumed = resumed.run_id
    Runner(CachedFlow, datastore=url).run()
    data.cached = Runner(CachedFlow, datastore=url).run().run_id
    import optuna

    Sweep(
        QuadFlow,
        space={"x": optuna.distributions.FloatDistribution(-2.0, 3.0)},
        objective="loss",
        concurrency=2,
        datastore=url,
        study_name=data.study,
        sampler="random",
    ).run(n_trials=4)
    return data


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    out: list[str]


def start_server(datastore: str, *args: str, env: dict[str, str] | None = None) -> Server:
    """``rayflow ui --port 0`` in a subprocess; returns once it printed its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rayflow.cli", "ui", "--datastore", datastore, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: list[str] = []
    deadline = time.time() + 30
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"(http://\S+)", line)
        if m and "serving" in line:
            base = m.group(1).split("?")[0].rstrip("/")
            return Server(base, proc, lines)
    proc.kill()
    raise AssertionError("rayflow ui did not start:\n" + "".join(lines))


def stop_server(server: Server) -> int:
    server.proc.send_signal(signal.SIGINT)
    try:
        out, _ = server.proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        out, _ = server.proc.communicate()
    server.out.append(out or "")
    return server.proc.returncode


@pytest.fixture(scope="session")
def server(filled):
    srv = start_server(filled.url)
    yield srv
    stop_server(srv)
