"""``@timeout``: a step running past its time fails (and may be retried).

``SIGALRM`` raises ``StepTimeout`` in the step when it runs on the worker's main thread; a step
stuck where the alarm cannot reach it (C code, a swallowed exception) is killed with its worker a
few seconds later, and the driver counts the attempt as failed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

from .._errors import StepTimeout
from ._base import StepDecorator, TaskInfo

KILL_GRACE = 5.0


class TimeoutDecorator(StepDecorator):
    name = "timeout"
    defaults: ClassVar[dict[str, Any]] = {"seconds": 0, "minutes": 0, "hours": 0}

    @classmethod
    def wraps_step(
        cls, attrs: dict[str, Any], task: TaskInfo
    ) -> contextlib.AbstractContextManager[Any]:
        return _limited(task, seconds_of(attrs))


def seconds_of(attrs: dict[str, Any] | None) -> float:
    if not attrs:
        return 0.0
    return (
        float(attrs.get("seconds") or 0)
        + 60 * float(attrs.get("minutes") or 0)
        + 3600 * float(attrs.get("hours") or 0)
    )


@contextlib.contextmanager
def _limited(task: TaskInfo, seconds: float) -> Iterator[None]:
    if seconds <= 0:
        yield
        return
    message = f"step '{task.step}' timed out after {seconds:g} s (@timeout)"
    watchdog = threading.Timer(
        seconds + KILL_GRACE, task.kill, args=(f"{message}; its worker was killed",)
    )
    watchdog.daemon = True
    watchdog.start()
    alarm = threading.current_thread() is threading.main_thread()
    if alarm:

        def on_alarm(signum: int, frame: Any) -> None:
            raise StepTimeout(message)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        watchdog.cancel()
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
