"""Descriptor-level capture: what bypasses ``sys.stdout`` (a subprocess, ``os.system``, C code,
``os.write(1, ...)``) reaches the step's log through a pipe of the step's own on fds 1 and 2.

One pump thread per descriptor for the life of the worker process, a fresh pipe per step: a
child process that outlives its step keeps only that step's pipe, whose later output goes to
the worker's own descriptor (Ray's worker log), never into the next step's pipe.
"""

from __future__ import annotations

import codecs
import os
import queue
import select
import threading
from typing import Any


class _FdPump:
    """Descriptor ``fd`` of this worker, captured through a fresh pipe per step.

    ``attach`` points ``fd`` at the pipe the pump thread made ready for the next step (already
    blocked reading it, so a step pays a few system calls and no thread hand-off); the thread
    feeds what arrives into the step's tee. ``detach`` writes a marker after the step's last
    byte, points ``fd`` back and waits until the thread has passed the marker, so the step's
    output is complete when it returns. A pipe that a child of the step still holds open is
    then drained to the worker's own descriptor by a second thread until the child closes it;
    the next step's pipe is a new one, so nothing of the child reaches it.
    """

    _MARKER = b"\x00rayflow:end-of-step\x00"

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.original = os.dup(fd)
        self.saved = -1
        self.tee: Any = None  # the running step's tee (has write(str))
        self.passed = threading.Event()
        self._drainer: _Drainer | None = None
        read_end, self.next_write = os.pipe()
        threading.Thread(
            target=self._pump, args=(read_end,), daemon=True, name=f"rayflow-fd{fd}"
        ).start()

    def attach(self, tee: Any) -> None:
        write_end, self.next_write = self.next_write, -1
        if write_end < 0:  # the pump did not get past the last marker: Python-level only
            return
        self.tee = tee
        self.saved = os.dup(self.fd)
        os.dup2(write_end, self.fd)
        os.close(write_end)

    def detach(self) -> None:
        if self.saved < 0:
            return
        self.passed.clear()
        try:
            os.write(self.fd, self._MARKER)
        finally:
            os.dup2(self.saved, self.fd)
            os.close(self.saved)
            self.saved = -1
        self.passed.wait(timeout=2.0)
        self.tee = None

    def _emit(self, data: bytes, decoder: Any) -> None:
        if not data:
            return
        try:
            tee = self.tee
            if tee is None:
                os.write(self.original, data)
                return
            text = decoder.decode(data)
            if text:
                tee.write(text)
        except Exception:  # noqa: BLE001 - the pump must outlive any one step's output
            pass

    def _pump(self, read_end: int) -> None:
        while read_end >= 0:
            read_end = self._read_step(read_end)

    def _read_step(self, read_end: int) -> int:
        """Feed one step's pipe to its tee up to the marker; return the next step's pipe."""
        marker = self._MARKER
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        held = b""
        try:
            while chunk := os.read(read_end, 65536):
                data = held + chunk
                at = data.find(marker)
                if at >= 0:
                    self._emit(data[:at], decoder)
                    tail = decoder.decode(b"", final=True)
                    if tail and self.tee is not None:
                        self.tee.write(tail)
                    rest = data[at + len(marker) :]
                    if rest:
                        os.write(self.original, rest)
                    next_read, self.next_write = os.pipe()
                    self.passed.set()
                    self._retire(read_end)
                    return next_read
                # keep what may be the start of a marker split across two reads
                keep = next(
                    (n for n in range(len(marker) - 1, 0, -1) if data.endswith(marker[:n])), 0
                )
                held = data[len(data) - keep :] if keep else b""
                self._emit(data[: len(data) - keep], decoder)
        except OSError:
            pass
        self.passed.set()
        return -1

    def _retire(self, read_end: int) -> None:
        """Close an ended step's pipe, or leave it to the drainer while a child still holds it
        (``fd`` points back at once, so a writer left after that is a child of the step)."""
        try:
            poller = select.poll()
            poller.register(read_end, select.POLLIN)
            if poller.poll(50):
                chunk = os.read(read_end, 65536)
                if not chunk:
                    os.close(read_end)
                    return
                os.write(self.original, chunk)
        except OSError:
            return
        if self._drainer is None:
            self._drainer = _Drainer(self.original)
        self._drainer.add(read_end)


class _Drainer:
    """Sends what children of ended steps still write to the worker's own descriptor."""

    def __init__(self, original: int) -> None:
        self.original = original
        self.wake_read, self.wake_write = os.pipe()
        self.added: queue.SimpleQueue[int] = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True, name="rayflow-drain").start()

    def add(self, read_end: int) -> None:
        self.added.put(read_end)
        os.write(self.wake_write, b"x")

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.wake_read, select.POLLIN)
        while True:
            for end, _ in poller.poll():
                if end == self.wake_read:
                    os.read(self.wake_read, 512)
                    while not self.added.empty():
                        poller.register(self.added.get(), select.POLLIN)
                    continue
                try:
                    chunk = os.read(end, 65536)
                except OSError:
                    chunk = b""
                if chunk:
                    try:
                        os.write(self.original, chunk)
                    except OSError:
                        pass
                else:
                    poller.unregister(end)
                    os.close(end)


_PUMPS: list[_FdPump] = []
_PUMPS_LOCK = threading.Lock()


def _pumps() -> list[_FdPump]:
    """This process's two pumps (fds 1 and 2), made on first use."""
    with _PUMPS_LOCK:
        if not _PUMPS:
            _PUMPS.extend([_FdPump(1), _FdPump(2)])
        return _PUMPS
