"""Capture a step's stdout/stderr while still letting the output reach the terminal live.

Lines are kept for the datastore and handed, as they complete, to an optional ``sink`` callable
that forwards them to the driver. Python's ``print`` is caught at ``sys.stdout``; what bypasses
it (a subprocess, ``os.system``, C extensions, ``os.write(1, ...)``) is caught at the file
descriptors 1 and 2, which point at a pipe of the step's own while it runs (a Ray worker runs
one task at a time, so the process's descriptors are the task's).

A worker runs many tasks one after the other, and a step may leave a thread or a child process
behind that keeps writing. Their output must not land in a later task's log, so:

- ``print`` is routed by thread: a thread born while a step ran belongs to that step for its
  whole life; once the step has ended, what the thread prints goes to the worker's own stream
  (Ray's worker log), never to another task. Threads that existed before the step (Ray's, a
  pool a module made at import) write into whichever step is running, as before.
- each step gets a fresh pipe for its descriptors; a child that outlives the step still holds
  that pipe, so what it writes later is sent to the worker's own descriptor, not into the pipe
  of the next step.
"""

from __future__ import annotations

import codecs
import io
import os
import queue
import select
import sys
import threading
from collections.abc import Callable
from typing import Any

Sink = Callable[[str, list[str]], None]


class _Tee(io.TextIOBase):
    def __init__(self, stream: str, sink: Sink | None) -> None:
        self.stream = stream
        self.sink = sink
        self.parts: list[str] = []
        self._line = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = str(text)
        with self._lock:
            self.parts.append(text)
            if self.sink is not None:
                buf = self._line + text
                if "\n" in buf:
                    *lines, self._line = buf.split("\n")
                    self.sink(self.stream, lines)
                else:
                    self._line = buf
        return len(text)

    def flush(self) -> None:
        pass

    def close_line(self) -> None:
        if self.sink is not None and self._line:
            self.sink(self.stream, [self._line])
            self._line = ""

    def getvalue(self) -> str:
        return "".join(self.parts)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def isatty(self) -> bool:
        return False


# -- Python-level output, routed by thread ---------------------------------------------------
_OWNERS: dict[int, object] = {}    # thread ident -> the token of the step that started it
_ACTIVE: list[Capture] = []        # the capture of the step running now (at most one)


class _Router(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of a worker once it ran a step: each write goes to the step
    that owns the writing thread, or, when that step is over, straight to the worker's own
    descriptor (not through ``fd`` 1/2, which may point at the running step's pipe)."""

    def __init__(self, index: int, original: Any) -> None:
        self.index = index  # 0: stdout, 1: stderr
        self.original = original

    def write(self, text: str) -> int:
        owner = _OWNERS.get(threading.get_ident())
        try:
            active = _ACTIVE[-1] if _ACTIVE else None
        except IndexError:  # the step ended between the two reads
            active = None
        try:
            if owner is None or (active is not None and owner is active.token):
                if active is not None:
                    return (active.out, active.err)[self.index].write(text)
                return self.original.write(text)
            if _PUMPS:  # a thread of a step that has ended
                os.write(_PUMPS[self.index].original, str(text).encode("utf-8", "replace"))
            return len(text)
        except (OSError, ValueError, AttributeError):
            return len(text)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        try:
            self.original.flush()
        except (OSError, ValueError, AttributeError):
            pass

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def isatty(self) -> bool:
        return False


def _live_idents() -> set[int]:
    return {t.ident for t in threading.enumerate() if t.ident is not None}


# -- descriptor-level output, one pipe per step ------------------------------------------------
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
        self.tee: _Tee | None = None
        self.passed = threading.Event()
        self._drainer: _Drainer | None = None
        read_end, self.next_write = os.pipe()
        threading.Thread(target=self._pump, args=(read_end,), daemon=True,
                         name=f"rayflow-fd{fd}").start()

    def attach(self, tee: _Tee) -> None:
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
                    rest = data[at + len(marker):]
                    if rest:
                        os.write(self.original, rest)
                    next_read, self.next_write = os.pipe()
                    self.passed.set()
                    self._retire(read_end)
                    return next_read
                # keep what may be the start of a marker split across two reads
                keep = next((n for n in range(len(marker) - 1, 0, -1) if data.endswith(marker[:n])), 0)
                held = data[len(data) - keep:] if keep else b""
                self._emit(data[:len(data) - keep], decoder)
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


def _flush_real_streams() -> None:
    """What Python buffered for the real stdout/stderr belongs before (or after) the step."""
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


class Capture:
    """``with Capture(sink) as cap: ...`` then ``cap.stdout`` / ``cap.stderr``."""

    def __init__(self, sink: Sink | None = None, fds: bool = False) -> None:
        self.out = _Tee("stdout", sink)
        self.err = _Tee("stderr", sink)
        self._saved: tuple[Any, Any] | None = None
        self._fds = fds
        self._pumps: list[_FdPump] = []
        self._born_before: set[int] = set()
        self.token = object()  # what a thread's owner entry holds (not the output itself)

    def __enter__(self) -> Capture:
        _flush_real_streams()
        if self._fds:
            try:
                self._pumps = _pumps()
            except OSError:  # no spare descriptors: Python-level capture only
                self._pumps = []
            for pump, tee in zip(self._pumps, (self.out, self.err)):
                pump.attach(tee)
        self._saved = (sys.stdout, sys.stderr)
        routers = tuple(stream if isinstance(stream, _Router) else _Router(i, stream)
                        for i, stream in enumerate(self._saved))
        live = _live_idents()
        for ident in [i for i in _OWNERS if i not in live]:
            del _OWNERS[ident]  # dead threads: their idents may be reused
        _OWNERS[threading.get_ident()] = self.token
        self._born_before = live
        _ACTIVE.append(self)
        sys.stdout, sys.stderr = routers
        self._saved = routers  # left in place after the step: threads it started stay routed
        return self

    def __exit__(self, *exc: Any) -> None:
        _flush_real_streams()
        for ident in _live_idents() - self._born_before:
            _OWNERS.setdefault(ident, self.token)  # threads the step started stay the step's
        _OWNERS.pop(threading.get_ident(), None)
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        for pump in self._pumps:
            pump.detach()
        self.out.close_line()
        self.err.close_line()
        assert self._saved is not None
        sys.stdout, sys.stderr = self._saved

    @property
    def stdout(self) -> str:
        return self.out.getvalue()

    @property
    def stderr(self) -> str:
        return self.err.getvalue()
