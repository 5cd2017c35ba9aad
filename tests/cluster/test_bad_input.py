"""Bad cluster addresses and datastore URLs: one clear line, a non-zero exit, well within 15 s,
and nothing recorded. These need no cluster: they must fail before one is joined."""

from __future__ import annotations

import os
import socket

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


def _one_error_line(result) -> str:
    assert result.returncode != 0
    lines = result.error_lines
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    assert result.seconds < 15
    return lines[0]


@pytest.mark.parametrize("address", ["nohost", "http://head:6379", "head:99999", "ray://head"])
def test_a_malformed_cluster_address_is_one_line(hello, tmp_path, address):
    result = rayflow("run", hello, "--cluster", address, "--datastore", str(tmp_path / "ds"),
                     env=clean_env())
    line = _one_error_line(result)
    assert f"malformed cluster address '{address}'" in line
    assert "auto, host:port or ray://host:port" in line
    assert not os.path.exists(tmp_path / "ds" / "HelloFlow" / "runs")


def test_an_unreachable_cluster_is_one_line_and_fast(hello, tmp_path):
    address = f"127.0.0.1:{_closed_port()}"
    result = rayflow("run", hello, "--datastore", str(tmp_path / "ds"),
                     env=clean_env(RAYFLOW_CLUSTER=address))  # the variable works like --cluster
    line = _one_error_line(result)
    assert f"cannot reach Ray cluster at {address}: connection refused" in line
    assert "GCS port" in line
    assert not os.path.exists(tmp_path / "ds" / "HelloFlow" / "runs")


def test_an_unreachable_ray_client_address_is_one_line(hello, tmp_path):
    address = f"ray://127.0.0.1:{_closed_port()}"
    result = rayflow("run", hello, "--cluster", address, "--datastore", str(tmp_path / "ds"),
                     env=clean_env())
    line = _one_error_line(result)
    assert f"cannot reach Ray cluster at {address}" in line and "Ray Client" in line


def test_a_bucket_that_does_not_exist_is_one_line(hello, s3):
    result = rayflow("run", hello, "--datastore", "s3://no-such-bucket-rf/prefix",
                     env=clean_env(**s3.env))
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
