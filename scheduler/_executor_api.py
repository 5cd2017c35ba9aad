"""The executor interface the driver loop talks to: start, submit, wait, result, cancel, stop.

The driver loop (``_driver``) decides what runs, when, and what a result means; an executor only
runs tasks somewhere and hands their results back. Ray (``_executor.RayExecutor``) is the one
production executor; ``_inprocess.InProcessExecutor`` runs tasks in the caller's process so the
planner and driver loop can be tested in milliseconds without Ray. Nothing Ray-specific may leak
through this interface: a handle is opaque to the driver (only hashed and handed back).

The contract, as the driver relies on it:

- ``start()`` once before the first ``submit``; ``stop()`` once after the loop, also when it
  ended by an error or an interrupt (tasks still running are then left to whoever owns them).
- ``wait(handles, timeout)`` returns the handles among ``handles`` that have finished (maybe none,
  once ``timeout`` seconds passed); it may raise an executor error (``RayDied``) but never a
  task's error.
- ``result(handle)`` is called once per finished handle and never raises for a task that failed,
  crashed or was cancelled: that is in the ``TaskResult`` (``ok``/``crashed``/``cancelled``).
- ``cancel(handle, force)`` asks a task to stop; a cancelled task still finishes (``wait``
  returns it) with a result, and cancelling a finished one does nothing. ``force``: end it now
  (Ctrl-C), else let it record itself as cancelled first.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from ._identity import TaskSpec
from ._result import TaskResult

Handle = Hashable  # what ``submit`` returns: a Ray ObjectRef, an int in process...


class Executor(Protocol):
    def start(self) -> None:
        """Get ready to run this run's tasks (e.g. put the run's context where workers read it)."""

    def submit(self, spec: TaskSpec) -> Handle:
        """Start (or queue) one attempt of one task; return its handle at once."""

    def wait(self, handles: list[Handle], timeout: float) -> list[Handle]:
        """The handles among ``handles`` that finished, waiting up to ``timeout`` s for one."""

    def result(self, handle: Handle) -> TaskResult:
        """The result of a finished task (called once per handle)."""

    def cancel(self, handle: Handle, force: bool = False) -> None:
        """Ask a task to stop; it still finishes, as cancelled."""

    def stop(self) -> None:
        """Forget this run's tasks and context (once, after the loop)."""


__all__ = ["Executor", "Handle"]
