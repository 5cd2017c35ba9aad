"""A TCP forwarder on 127.0.0.1 that delays every response chunk by a fixed latency.

Object stores cost tens of milliseconds per request; SeaweedFS on loopback answers in well under
one. Put this proxy in front of it and the tests and benchmarks pay a real region's latency,
measured, not guessed. Each chunk the server sends is delivered ``latency`` seconds after it
arrived, in order (a delay line, like a long wire): a large response pays the latency once, not
once per chunk, and requests on other connections are not held up. Requests go through at once.

Two ways to run it:

- In this process: ``with LatencyProxy(("127.0.0.1", port), 0.02) as proxy: proxy.url`` — an
  asyncio loop in a daemon thread; ``peak_in_flight`` counts how many requests were waiting for
  their answer at the same time (the tests' view of concurrency), ``requests`` how many were
  sent (counted at the TCP level: bytes sent after an answer began start a new request).
- In its own process (benchmarks, so the proxy never waits for the measured process's GIL):
  ``with ProxyProcess(upstream_url, 0.02) as proxy: proxy.url``, or by hand
  ``python tests/latency_proxy.py http://127.0.0.1:8333 --latency 0.02`` (prints its URL).

Either way it stops by itself: ``stop`` is bounded (a few seconds at most), the thread is a
daemon, and the process exits when its parent dies or after ``max_seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

HOST = "127.0.0.1"
CHUNK = 1 << 16
DEFAULT_LATENCY = 0.020
DEFAULT_MAX_SECONDS = 6 * 3600.0


class LatencyProxyError(RuntimeError):
    """The proxy could not be started."""


def _split_url(upstream: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(upstream, tuple):
        return upstream
    parts = urlsplit(upstream if "//" in upstream else f"http://{upstream}")
    if parts.hostname is None or parts.port is None:
        raise LatencyProxyError(f"upstream {upstream!r} must name a host and a port")
    return parts.hostname, parts.port


class LatencyProxy:
    """The proxy itself: ``start()`` binds 127.0.0.1 on a free port and serves in a thread."""

    def __init__(
        self,
        upstream: str | tuple[str, int],
        latency: float = DEFAULT_LATENCY,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> None:
        self.upstream = _split_url(upstream)
        self.latency = float(latency)
        self.max_seconds = max_seconds
        self.port = 0
        self.connections = 0
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # -- lifecycle (thread) ----------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> LatencyProxy:
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise LatencyProxyError(f"latency proxy did not start: {self._error or 'timeout'}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection; return within ``timeout`` seconds."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def reset_counts(self) -> None:
        self.connections = 0
        self.requests = 0
        self.peak_in_flight = self.in_flight

    def __enter__(self) -> LatencyProxy:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.serve())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    # -- serving ---------------------------------------------------------------------------
    async def serve(self, announce: Any = None) -> None:
        """Serve until ``stop`` (or ``max_seconds``); ``announce(url)`` once listening."""
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._connection, HOST, 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        if announce is not None:
            announce(self.url)
        tasks = self._tasks
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.max_seconds)
        finally:
            server.close()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _connection(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        server_w = None
        waiting = [False]  # a request was sent and its answer has not started yet
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
            pumps = [
                asyncio.ensure_future(self._requests(client_r, server_w, waiting)),
                asyncio.ensure_future(self._responses(server_r, client_w, waiting)),
            ]
            try:
                # Both directions end when either side closes or fails.
                await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except (OSError, asyncio.CancelledError):  # a closed side, or stop(): end quietly
            pass
        finally:
            if waiting[0]:
                self.in_flight -= 1
            for writer in (client_w, server_w):
                if writer is not None:
                    writer.close()
            self._tasks.discard(task)

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, waiting: list[bool]
    ) -> None:
        while data := await reader.read(CHUNK):
            if not waiting[0]:
                waiting[0] = True
                self.requests += 1
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    async def _responses(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, waiting: list[bool]
    ) -> None:
        """Read chunks as they come and deliver each ``latency`` after its arrival, in order."""
        loop = asyncio.get_running_loop()
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await line.get()
                if not data:
                    return
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if waiting[0]:
                    waiting[0] = False
                    self.in_flight -= 1
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(CHUNK):
                line.put_nowait((loop.time() + self.latency, data))
            line.put_nowait((loop.time() + self.latency, b""))
            await sender
            with contextlib.suppress(OSError):
                writer.write_eof()
        finally:
            sender.cancel()


class ProxyProcess:
    """The proxy in a child process (``python tests/latency_proxy.py``), stopped by ``stop``."""

    def __init__(
        self,
        upstream: str,
        latency: float = DEFAULT_LATENCY,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> None:
        self.upstream, self.latency, self.max_seconds = upstream, latency, max_seconds
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 10.0) -> ProxyProcess:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                self.upstream,
                "--latency",
                str(self.latency),
                "--max-seconds",
                str(self.max_seconds),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        ready = threading.Event()
        got: list[str] = []

        def read_url() -> None:
            got.append(self._proc.stdout.readline().strip())  # type: ignore[union-attr]
            ready.set()

        threading.Thread(target=read_url, daemon=True).start()
        if not ready.wait(timeout) or not got or not got[0].startswith("http://"):
            self.stop()
            raise LatencyProxyError("latency proxy process did not start")
        self.url = got[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ProxyProcess:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python tests/latency_proxy.py")
    parser.add_argument("upstream", help="http://HOST:PORT to forward to")
    parser.add_argument(
        "--latency", type=float, default=DEFAULT_LATENCY, help="seconds per response"
    )
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    args = parser.parse_args(argv)
    proxy = LatencyProxy(args.upstream, args.latency, args.max_seconds)
    parent = os.getppid()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        serving = asyncio.ensure_future(proxy.serve(lambda url: print(url, flush=True)))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: proxy._stopping and proxy._stopping.set())
        while not serving.done():  # the parent died: nobody will stop us
            if os.getppid() != parent and proxy._stopping is not None:
                proxy._stopping.set()
            await asyncio.wait([serving], timeout=0.5)
        serving.result()

    asyncio.run(run())


if __name__ == "__main__":
    _main(sys.argv[1:])
