"""The latency proxy that tests and benchmarks put in front of SeaweedFS: it adds its latency
to each answer and passes every byte through unchanged, both directions."""

from __future__ import annotations

import os
import time

from rayflow.datastore import open_storage
from tests.latency_proxy import LatencyProxy, ProxyProcess


def test_a_request_through_the_proxy_takes_at_least_its_latency_and_data_passes_unchanged(
    s3_server, s3_bucket
):
    data = os.urandom(3_000_000)  # many chunks each way
    with LatencyProxy(s3_server.endpoint_url, latency=0.25) as proxy:
        assert proxy.url.startswith("http://127.0.0.1:")
        import s3fs

        slow = s3fs.S3FileSystem(
            endpoint_url=proxy.url,
            key=s3_server.access_key,
            secret=s3_server.secret_key,
            skip_instance_cache=True,
        )
        slow.pipe_file(f"{s3_bucket}/proxy/blob", data)
        t0 = time.monotonic()
        back = slow.cat_file(f"{s3_bucket}/proxy/blob")
        elapsed = time.monotonic() - t0
    assert back == data
    assert s3_server.filesystem().cat_file(f"{s3_bucket}/proxy/blob") == data
    assert elapsed >= 0.25


def test_the_slow_s3_fixture_serves_a_working_datastore(s3_slow_url, s3_slow_proxy):
    storage = open_storage(s3_slow_url)
    before = s3_slow_proxy.connections
    storage.write_atomic("Flow/runs/1/run.json", b'{"a": 1}')
    assert storage.read_bytes("Flow/runs/1/run.json") == b'{"a": 1}'
    assert s3_slow_proxy.connections > before


def test_the_proxy_process_forwards_and_stops(s3_server, s3_bucket):
    with ProxyProcess(s3_server.endpoint_url, latency=0.01) as proxy:
        fs = type(s3_server.filesystem())(
            endpoint_url=proxy.url,
            key=s3_server.access_key,
            secret=s3_server.secret_key,
            skip_instance_cache=True,
        )
        fs.pipe_file(f"{s3_bucket}/proxy/p", b"through a process")
        assert fs.cat_file(f"{s3_bucket}/proxy/p") == b"through a process"
        proc = proxy._proc
    assert proc is not None and proc.poll() is not None
