"""Bad cluster addresses and datastore URLs: one clear line, a non-zero exit, well within 15 s,
and nothing recorded. These need no cluster: they must fail before one is joined."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from tests.cluster.conftest import clean_env, rayflow

HELLO = """
    from rayflow import FlowSpec, step


    class HelloFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass
"""


@pytest.fixture
def hello(flow_dir):
    return flow_dir.write("hello.py", HELLO)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _single_error(result) -> str:
    """The one ``error: ...`` line on stderr (after rayflow's "running ..." line on stdout)."""
    assert result.returncode != 0
    lines = result.error_lines
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    assert "Exception ignored" not in result.stderr
    return lines[0]


def _one_error_line(result) -> str:
    line = _single_error(result)
    assert result.seconds < 15
    return line


@pytest.mark.parametrize("address", ["nohost", "http://head:6379", "head:99999", "ray://head"])
def test_a_malformed_cluster_address_is_one_line(hello, tmp_path, address):
    result = rayflow(
        "run", hello, "--cluster", address, "--datastore", str(tmp_path / "ds"), env=clean_env()
    )
    line = _one_error_line(result)
    assert f"malformed cluster address '{address}'" in line
    assert "auto, host:port or ray://host:port" in line
    assert not os.path.exists(tmp_path / "ds" / "HelloFlow" / "runs")


def test_an_unreachable_cluster_is_one_line_and_fast(hello, tmp_path):
    address = f"127.0.0.1:{_closed_port()}"
    result = rayflow(
        "run", hello, "--datastore", str(tmp_path / "ds"), env=clean_env(RAYFLOW_CLUSTER=address)
    )  # the variable works like --cluster
    line = _one_error_line(result)
    assert f"cannot reach Ray cluster at {address}: connection refused" in line
    assert "GCS port" in line
    assert not os.path.exists(tmp_path / "ds" / "HelloFlow" / "runs")


def test_an_unreachable_ray_client_address_is_one_line(hello, tmp_path):
    address = f"ray://127.0.0.1:{_closed_port()}"
    result = rayflow(
        "run", hello, "--cluster", address, "--datastore", str(tmp_path / "ds"), env=clean_env()
    )
    line = _one_error_line(result)
    assert f"cannot reach Ray cluster at {address}" in line and "Ray Client" in line


def test_a_bucket_that_does_not_exist_is_one_line(hello, s3):
    result = rayflow(
        "run", hello, "--datastore", "s3://no-such-bucket-rf/prefix", env=clean_env(**s3.env)
    )
    line = _one_error_line(result)
    assert "bucket 'no-such-bucket-rf' does not exist" in line
    assert s3.endpoint_url in line


def test_wrong_s3_credentials_are_one_line_and_never_printed(hello, s3, bucket):
    env = clean_env(**{**s3.env, "AWS_SECRET_ACCESS_KEY": "wrong-secret-value"})
    result = rayflow("run", hello, "--datastore", f"s3://{bucket}/p", env=env)
    line = _one_error_line(result)
    assert f"access to bucket '{bucket}' denied" in line
    assert "wrong-secret-value" not in result.stderr + result.stdout
    assert s3.access_key not in result.stderr + result.stdout
    assert not s3.filesystem().ls(bucket, refresh=True)


def test_a_datastore_protocol_whose_package_is_missing_names_the_package(hello):
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401

        pytest.skip("gcsfs is installed")
    except ImportError:
        pass
    result = rayflow("run", hello, "--datastore", "gs://bucket/prefix", env=clean_env())
    line = _one_error_line(result)
    assert "gs://bucket/prefix" in line and "gcsfs" in line


# -- an S3 datastore that cannot be used: one line wherever it is first touched -------------


def _no_credentials_env(s3) -> dict[str, str]:
    """The endpoint but no keys, and nowhere else for boto to find any."""
    return clean_env(
        AWS_ENDPOINT_URL=s3.endpoint_url,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )


def test_s3_without_credentials_is_one_line_for_run_and_for_reading(hello, s3, bucket):
    env = _no_credentials_env(s3)
    url = f"s3://{bucket}/nocreds"
    for args in (("run", hello), ("runs", "HelloFlow"), ("resume", hello), ("show", "HelloFlow/1")):
        line = _single_error(rayflow(*args, "--datastore", url, env=env))
        assert line == (
            f"error: datastore {url}: no credentials found (set AWS_ACCESS_KEY_ID "
            f"and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        ), args
    assert not s3.filesystem().ls(bucket, refresh=True)


def test_s3_client_api_without_credentials_raises_one_line(s3, bucket, monkeypatch):
    import rayflow
    from rayflow.datastore import DatastoreError

    for name, value in _no_credentials_env(s3).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    rayflow.metadata(f"s3://{bucket}/client")
    try:
        with pytest.raises(DatastoreError) as info:
            rayflow.Flow("HelloFlow")
    finally:
        rayflow.metadata(None)
    assert str(info.value) == (
        f"datastore s3://{bucket}/client: no credentials found (set "
        f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
    )


def test_an_s3_endpoint_that_refuses_connections_is_one_line(hello, tmp_path):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    env = clean_env(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    line = _single_error(rayflow("run", hello, "--datastore", "s3://bucket/p", env=env))
    assert (
        line
        == f"error: datastore s3://bucket/p: cannot reach the endpoint at {endpoint} (connection refused)"
    )


@pytest.fixture
def silent_endpoint():
    """A TCP server that accepts connections and never answers: a hung S3 endpoint."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()
    for conn in held:
        conn.close()


def test_an_s3_endpoint_that_never_answers_is_one_line_after_a_bounded_wait(hello, silent_endpoint):
    env = clean_env(
        AWS_ENDPOINT_URL=silent_endpoint, AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s"
    )
    line = _single_error(rayflow("run", hello, "--datastore", "s3://bucket/p", env=env, timeout=60))
    assert line == (
        f"error: datastore s3://bucket/p: no answer within 10 s from the endpoint at "
        f"{silent_endpoint} (is it reachable?)"
    )


def test_reading_runs_from_a_bucket_that_does_not_exist_names_the_bucket(s3):
    result = rayflow(
        "runs", "HelloFlow", "--datastore", "s3://no-such-bucket-rf/prefix", env=clean_env(**s3.env)
    )
    line = _single_error(result)
    assert "bucket 'no-such-bucket-rf' does not exist" in line


# -- shipping the flow's folder: refused or announced before the cluster is joined -----------


def test_a_folder_too_big_to_ship_is_refused_before_joining(flow_dir, tmp_path):
    hello = flow_dir.write("hello.py", HELLO)
    os.makedirs(os.path.join(flow_dir.path, "data"))
    for i in range(12):
        with open(os.path.join(flow_dir.path, "data", f"part{i}.bin"), "wb") as f:
            f.truncate(9 * 1024 * 1024)
    address = f"127.0.0.1:{_closed_port()}"  # never reached: the refusal comes first
    result = rayflow(
        "run", hello, "--cluster", address, "--datastore", str(tmp_path / "ds"), env=clean_env()
    )
    line = _one_error_line(result)
    assert line.startswith(
        f"error: the flow's folder {flow_dir.path} is too big to ship to the "
        f"cluster (over 100 MiB; largest: data 108 MiB)"
    )
    assert "RAYFLOW_MAX_SHIP_MB" in line
    assert not os.path.exists(tmp_path / "ds" / "HelloFlow" / "runs")


def test_what_is_shipped_is_said_before_joining(hello, flow_dir, tmp_path):
    address = f"127.0.0.1:{_closed_port()}"
    result = rayflow(
        "run",
        hello,
        "--cluster",
        address,
        "--datastore",
        os.path.join(flow_dir.path, ".rayflow"),
        env=clean_env(),
    )
    assert f"cannot reach Ray cluster at {address}" in _one_error_line(result)
    size = os.path.getsize(hello)
    assert (
        f"rayflow: shipping {flow_dir.path} to the cluster: 1 file(s), {size} bytes "
        f"(left out: .rayflow/ (the datastore))"
    ) in result.stdout.splitlines()
