"""The result line says how long the user waited, with Ray's start-up named apart (issue 13.12).

A run used to report only its own time ("successful in 0.1s") when the command took 6 s: Python,
the imports and Ray's start-up were left out. The line now counts from the command's start and
names the part Ray's start-up took, when the command started Ray.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

import pytest
from click.testing import CliRunner

from tests.processes import kill_ray_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELLO = os.path.join(REPO, "examples", "hello.py")
LINE = re.compile(r"^run HelloFlow/(\S+) successful in (\d+\.\d)s(?: \((.*)\))?$", re.M)


@pytest.mark.timeout(120)
def test_a_run_that_started_ray_reports_the_wall_time_waited_and_rays_start_up(tmp_path):
    from rayflow import Run, metadata

    ray_tmp = tempfile.mkdtemp(prefix="rfw", dir="/tmp")
    datastore = str(tmp_path / "ds")
    env = {k: v for k, v in os.environ.items() if k != "RAYFLOW_DATASTORE"}
    env["RAY_TMPDIR"] = ray_tmp
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rayflow.cli", "run", HELLO, "--datastore", datastore],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=110,
        )
    finally:
        kill_ray_of(ray_tmp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = LINE.search(proc.stdout)
    assert found, proc.stdout
    run_id, total, notes = found.group(1), float(found.group(2)), found.group(3) or ""
    startup = re.fullmatch(r"Ray start-up (\d+\.\d)s", notes)
    assert startup, f"no Ray start-up part in {found.group(0)!r}"
    assert total >= float(startup.group(1))  # the total includes Ray's start-up
    metadata(datastore)
    try:
        record = Run(f"HelloFlow/{run_id}").record
    finally:
        metadata(None)
    assert total >= round(record["finished_at"] - record["created_at"], 1)  # ...and the run itself


def test_a_run_on_a_ray_already_up_names_no_start_up(ray_session, datastore):
    from rayflow.cli import cli

    result = CliRunner().invoke(cli, ["run", HELLO, "--datastore", datastore])
    assert result.exit_code == 0, result.output
    found = LINE.search(result.output)
    assert found and found.group(3) is None, result.output
