"""Capture a step's stdout/stderr while still letting the output reach the terminal live.

Lines are kept for the datastore and handed, as they complete, to an optional ``sink`` callable
that forwards them to the driver. Python's ``print`` is caught at ``sys.stdout``; what bypasses
it (a subprocess, ``os.system``, C extensions, ``os.write(1, ...)``) is caught at the file
descriptors 1 and 2, which point at pipes while the step runs (a Ray worker runs one task at a
time, so the process's descriptors are the task's).
"""

from __future__ import annotations

import codecs
import io
import os
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


class _FdPump:
    """Point descriptor ``fd`` at a pipe and feed what arrives into ``tee`` until ``stop``."""

    def __init__(self, fd: int, tee: _Tee) -> None:
        self.fd = fd
        self.tee = tee
        self.saved = -1
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        read_end, write_end = os.pipe()
        self.saved = os.dup(self.fd)
        os.dup2(write_end, self.fd)
        os.close(write_end)
        self.thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True,
                                       name=f"rayflow-fd{self.fd}")
        self.thread.start()

    def _pump(self, read_end: int) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            while chunk := os.read(read_end, 65536):
                text = decoder.decode(chunk)
                if text:
                    self.tee.write(text)
            tail = decoder.decode(b"", final=True)
            if tail:
                self.tee.write(tail)
        finally:
            os.close(read_end)

    def stop(self) -> None:
        if self.saved < 0:
            return
        os.dup2(self.saved, self.fd)  # closes our last handle on the pipe's write end
        os.close(self.saved)
        self.saved = -1
        if self.thread is not None:
            # A background child still holding the pipe keeps it open: don't wait for it long.
            self.thread.join(timeout=2.0)


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
        self._pumps = [_FdPump(1, self.out), _FdPump(2, self.err)] if fds else []

    def __enter__(self) -> Capture:
        _flush_real_streams()
        started = []
        try:
            for pump in self._pumps:
                pump.start()
                started.append(pump)
        except OSError:  # no spare descriptors: Python-level capture only
            for pump in started:
                pump.stop()
            self._pumps = []
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self.out, self.err
        return self

    def __exit__(self, *exc: Any) -> None:
        _flush_real_streams()
        for pump in self._pumps:
            pump.stop()
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
