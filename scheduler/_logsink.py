"""Live task output: workers push their lines to a small actor, the driver drains it.

Lines travel fire-and-forget from the worker (batched every ~0.2 s), so printing never blocks a
step; the complete logs are written to the datastore by the task itself, this is only the live
view. One actor serves every run of a driver process (sweeps run many flows at once). A run on
this machine's own Ray uses files instead of the actor (_livefiles).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ray

from ._livefiles import FileSink


@ray.remote(num_cpus=0, max_restarts=0)
class LogSink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, list[str]]] = []

    def write(self, run_id: str, label: str, stream: str, lines: list[str]) -> None:
        self.lines.append((run_id, label, stream, lines))

    def drain(self) -> list[tuple[str, str, str, list[str]]]:
        out, self.lines = self.lines, []
        return out


class SinkReader:
    """Driver side: non-blocking polls; lines of other runs are kept for their own readers.

    The actor belongs to the Ray job (the driver's connection) that created it: a reader made
    after Ray was shut down and started again gets a new one, never a handle into the session
    that ended (``forget`` is called when it ends; the job id is checked as well)."""

    _actor: Any = None
    _job: str | None = None
    _lock = threading.Lock()
    _backlog: dict[str, list[tuple[str, str, list[str]]]] = {}

    def __init__(self, run_id: str) -> None:
        job = ray.get_runtime_context().get_job_id()
        with SinkReader._lock:
            if SinkReader._actor is None or SinkReader._job != job:
                SinkReader._actor, SinkReader._job = LogSink.remote(), job
        self.actor = SinkReader._actor
        self.run_id = run_id
        self._pending: Any = None
        self._last = 0.0

    def poll(self, final: bool = False) -> list[tuple[str, str, list[str]]]:
        """Lines that reached the actor. ``final`` waits for a drain issued now, so every line a
        finished task sent (its last batch is sent synchronously) is returned."""
        if final:
            self._settle(self._pending)
            self._pending = self.actor.drain.remote()
            self._settle(self._pending)
            return self._take()
        now = time.monotonic()
        if self._pending is None and now - self._last > 0.2:
            self._pending = self.actor.drain.remote()
            self._last = now
        if self._pending is not None and ray.wait([self._pending], timeout=0)[0]:
            self._settle(self._pending)
        return self._take()

    def _settle(self, ref: Any) -> None:
        """Wait for the drain ``ref`` (if any) and file its lines under their runs."""
        if ref is None:
            return
        try:
            batch = ray.get(ref, timeout=10.0)
        except Exception:  # noqa: BLE001 - live output is best effort
            batch = []
        self._pending = None
        with SinkReader._lock:
            for run_id, label, stream, lines in batch:
                SinkReader._backlog.setdefault(run_id, []).append((label, stream, lines))

    @classmethod
    def forget(cls) -> None:
        """The Ray session ended: its actor is gone with it."""
        with cls._lock:
            cls._actor, cls._job = None, None
            cls._backlog.clear()

    def _take(self) -> list[tuple[str, str, list[str]]]:
        with SinkReader._lock:
            return SinkReader._backlog.pop(self.run_id, [])


class LineForwarder:
    """Worker side: batches complete lines and sends them at most every 0.2 s."""

    def __init__(self, actor: Any, run_id: str, label: str) -> None:
        self.actor = actor
        self.run_id = run_id
        self.label = label
        self.buffer: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None

    def __call__(self, stream: str, lines: list[str]) -> None:
        with self.lock:
            self.buffer.extend((stream, line) for line in lines)
            if self.timer is None:
                self.timer = threading.Timer(0.2, self.flush)
                self.timer.daemon = True
                self.timer.start()

    def flush(self, wait: bool = False) -> None:
        """Send what is buffered; ``wait`` until the actor has it (the task's last batch, so the
        driver's next drain is sure to see every line the task printed)."""
        with self.lock:
            items, self.buffer = self.buffer, []
            self.timer = None
        by_stream: list[tuple[str, list[str]]] = []
        for stream, line in items:
            if by_stream and by_stream[-1][0] == stream:
                by_stream[-1][1].append(line)
            else:
                by_stream.append((stream, [line]))
        if isinstance(self.actor, FileSink):  # a run on this machine's own Ray (_livefiles)
            if by_stream:
                self.actor.append(self.run_id, self.label, by_stream)
            return
        refs = []
        for stream, lines in by_stream:
            try:
                refs.append(self.actor.write.remote(self.run_id, self.label, stream, lines))
            except Exception:  # noqa: BLE001 - best effort
                pass
        if wait and refs:
            try:
                ray.wait(refs, num_returns=len(refs), timeout=10.0)
            except Exception:  # noqa: BLE001 - best effort
                pass

    def close(self) -> None:
        with self.lock:
            timer = self.timer
        if timer is not None:
            timer.cancel()
        self.flush(wait=True)
