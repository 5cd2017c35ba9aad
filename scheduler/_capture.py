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
  (Ray's worker log), never to another task. Threads that existed before the step (Ray's
  own) write into whichever step is running, as before. The price: a thread pool kept in a
  module global, started by one step and reused by a later one, prints to the worker's log.
- each step gets a fresh pipe for its descriptors (``_fdpump``); a child that outlives the step
  still holds that pipe, so what it writes later is sent to the worker's own descriptor, not
  into the pipe of the next step. (A thread of an ended step that writes to fd 1 itself, with
  ``os.write``, cannot be told apart from the running step: that is the one gap.)
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from ._fdpump import _PUMPS, _FdPump, _pumps

Sink = Callable[[str, list[str]], None]


class _Tee(io.TextIOBase):
    def __init__(self, stream: str, sink: Sink | None) -> None:
        self.stream = stream
        self.sink = sink
        self.parts: list[str] = []
        self._line = ""
        self._lock = threading.Lock()
        self.spool: int | None = None  # a file descriptor each write also goes to (see spool_to)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = str(text)
        with self._lock:
            self.parts.append(text)
            if self.spool is not None:
                try:
                    os.write(self.spool, text.encode("utf-8", "replace"))
                except OSError:
                    self.spool = None
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
_OWNERS: dict[int, object] = {}  # thread ident -> the token of the step that started it
_ACTIVE: list[Capture] = []  # the capture of the step running now (at most one)


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
        self._spools: list[str] = []

    def spool_to(self, prefix: str) -> None:
        """Also write the output, as it comes, to ``prefix.stdout`` / ``prefix.stderr``: what a
        worker killed by a signal printed is then still there for the driver to store (the
        output kept in memory dies with the process). Removed when the capture ends normally."""
        for tee in (self.out, self.err):
            path = f"{prefix}.{tee.stream}"
            try:
                tee.spool = os.open(
                    path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600
                )
                self._spools.append(path)
            except OSError:
                tee.spool = None

    def _close_spools(self) -> None:
        for tee in (self.out, self.err):
            with tee._lock:
                fd, tee.spool = tee.spool, None
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for path in self._spools:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._spools = []

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
        routers = tuple(
            stream if isinstance(stream, _Router) else _Router(i, stream)
            for i, stream in enumerate(self._saved)
        )
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
        self._close_spools()
        assert self._saved is not None
        sys.stdout, sys.stderr = self._saved

    @property
    def stdout(self) -> str:
        return self.out.getvalue()

    @property
    def stderr(self) -> str:
        return self.err.getvalue()
