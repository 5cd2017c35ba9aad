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
    """Descriptor ``fd`` of this worker, sent through one pipe for the life of the process.

    While a step runs, ``attach`` points ``fd`` at the pipe and a thread feeds what arrives into
    the step's tee; ``detach`` points ``fd`` back and waits until the thread has passed a marker
    written after the step's last byte, so the step's output is complete when it returns. One
    pipe and one thread per process, not per task: a task pays a few system calls.
    Output arriving while no step is attached (a background child of an earlier step) goes
    where ``fd`` normally goes.
    """

    _MARKER = b"\x00rayflow:end-of-step\x00"

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.read_end, self.write_end = os.pipe()
        self.original = os.dup(fd)
        self.saved = -1
        self.tee: _Tee | None = None
        self.passed = threading.Event()
        threading.Thread(target=self._pump, daemon=True, name=f"rayflow-fd{fd}").start()

    def attach(self, tee: _Tee) -> None:
        self.tee = tee
        self.saved = os.dup(self.fd)
        os.dup2(self.write_end, self.fd)

    def detach(self) -> None:
        if self.saved < 0:
            return
        os.dup2(self.saved, self.fd)
        os.close(self.saved)
        self.saved = -1
        self.passed.clear()
        os.write(self.write_end, self._MARKER)
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

    def _pump(self) -> None:
        marker = self._MARKER
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        held = b""
        while chunk := os.read(self.read_end, 65536):
            data = held + chunk
            while (at := data.find(marker)) >= 0:
                self._emit(data[:at], decoder)
                tail = decoder.decode(b"", final=True)
                if tail and self.tee is not None:
                    self.tee.write(tail)
                decoder.reset()
                data = data[at + len(marker):]
                self.passed.set()
            # keep what may be the start of a marker split across two reads
            keep = next((n for n in range(len(marker) - 1, 0, -1) if data.endswith(marker[:n])), 0)
            held = data[len(data) - keep:] if keep else b""
            self._emit(data[:len(data) - keep], decoder)


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
        sys.stdout, sys.stderr = self.out, self.err
        return self

    def __exit__(self, *exc: Any) -> None:
        _flush_real_streams()
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
