"""Ctrl-C and SIGTERM end a run one defined way, whatever the moment they arrive.

Left to Python, Ctrl-C raises KeyboardInterrupt wherever the main thread happens to be; landing
inside a Ray call (a task half submitted, ``ray.get``, a forced ``ray.cancel``) left Ray's core
worker inconsistent, and the driver then died in Ray's C++ code ("Check failed: Tried to
complete task that was not pending", exit 1, the run left ``running``). Ray makes SIGTERM a
``sys.exit`` from inside whatever call is running, with its own signal dump.

So while a run is driven, both signals only record that they came: the driver loop polls
``requested`` between Ray calls, stops submitting, and returns an interrupted outcome; the run is
recorded failed, Ray is shut down (which ends the tasks still running), and the CLI exits 130
after Ctrl-C, 143 after SIGTERM, with the resume hint. A third signal means "now": the process
exits at once with that code (the watchdog of the embedded Ray then ends its processes).

Handlers are installed only from the main thread (Python allows no other), and a signal that was
ignored when the run began (``nohup``, a background job) stays ignored.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

_HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Which signal asked the run to stop (0: none); ``with Interrupts() as stop: ...``."""

    def __init__(self) -> None:
        self.signum = 0
        self.count = 0
        self.cancel_tasks = True  # Ray outlives the run: cancel its tasks (else shutdown ends them)
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum != 0

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if not self.signum:
            self.signum = signum
        if self.count >= 3:
            os.write(2, b"rayflow: interrupted again; exiting now\n")
            os._exit(128 + signum)

    def install(self) -> None:
        """Take SIGINT and SIGTERM over (again: ``ray.init`` replaces the SIGTERM handler)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in _HANDLED:
            current = signal.getsignal(signum)
            if signum not in self._previous:
                if current is signal.SIG_IGN:
                    continue
                self._previous[signum] = current
            if current is not self._on_signal:
                signal.signal(signum, self._on_signal)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            try:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
            except (ValueError, TypeError):
                pass
        self._previous.clear()

    def __enter__(self) -> Interrupts:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()


def raise_if_requested(interrupts: Interrupts) -> None:
    """Before the run is recorded, an interrupt ends it like a plain Ctrl-C (nothing ran)."""
    if interrupts.requested:
        sys.stderr.flush()
        raise KeyboardInterrupt
