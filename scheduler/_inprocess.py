"""An executor that runs tasks in the caller's process, one at a time: for fast unit tests of the
planner and the driver loop (``tests/scheduler/unit``), never for runs.

A submitted task does not run at once: it waits in submission order until the driver waits for
it, then runs to its end. So everything the driver can see of a real executor happens here too,
deterministically: tasks queued while others end, cancellation of queued tasks (``--fail-fast``),
how many tasks of a step were in flight at once (``@concurrency``). What runs a task is a plain
callable, ``spec -> TaskResult``: a scripted one for the driver's logic alone, or ``task_body``,
the real task body (``_task.TaskRun``) against a real datastore.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

from ._identity import TaskSpec
from ._result import TaskResult

RunTask = Callable[[TaskSpec], TaskResult]

CANCELLED = {
    "type": "Cancelled",
    "message": "cancelled",
    "traceback": "cancelled",
    "internal": True,
}


class InProcessExecutor:
    """``Executor`` (``_executor_api``) in this process. ``submitted`` lists every attempt handed
    to it, in order; ``peak`` the most tasks of each step in flight at once."""

    def __init__(self, run: RunTask) -> None:
        self.run = run
        self.submitted: list[TaskSpec] = []
        self.cancelled: list[TaskSpec] = []
        self.peak: Counter[str] = Counter()
        self.started = self.stopped = False
        self._ids = itertools.count()
        self._queued: dict[int, TaskSpec] = {}
        self._done: dict[int, tuple[TaskSpec, TaskResult]] = {}
        self._inflight: Counter[str] = Counter()

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True
        self._queued.clear()

    def submit(self, spec: TaskSpec) -> int:
        if not self.started or self.stopped:
            raise RuntimeError("submit before start() or after stop()")
        handle = next(self._ids)
        self._queued[handle] = spec
        self.submitted.append(spec)
        self._inflight[spec.step] += 1
        self.peak[spec.step] = max(self.peak[spec.step], self._inflight[spec.step])
        return handle

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        """Run the first queued task among ``handles`` unless one has already ended; never sleeps."""
        if not any(h in self._done for h in handles):
            first = next((h for h in handles if h in self._queued), None)
            if first is not None:
                spec = self._queued.pop(first)
                self._done[first] = (spec, self._call(spec))
        return [h for h in handles if h in self._done]

    def _call(self, spec: TaskSpec) -> TaskResult:
        try:
            return self.run(spec)
        except Exception as exc:  # noqa: BLE001 - as Ray reports a task body that raised
            text = f"{type(exc).__name__}: {exc}"
            return TaskResult.failure(
                {
                    "type": type(exc).__name__,
                    "internal": True,
                    "traceback": text,
                    "message": f"the task could not run on its worker: {text}",
                },
                crashed=True,
            )

    def result(self, handle: Any) -> TaskResult:
        spec, result = self._done.pop(handle)
        self._inflight[spec.step] -= 1
        return result

    def cancel(self, handle: Any, force: bool = False) -> None:
        spec = self._queued.pop(handle, None)
        if spec is not None:  # a queued task never starts; a finished one stays as it ended
            self.cancelled.append(spec)
            self._done[handle] = (spec, TaskResult.failure(dict(CANCELLED), cancelled=True))


def task_body(ctx: dict[str, Any], flow_cls: type) -> RunTask:
    """Run each task with the real task body, here: it reads and writes ``ctx["root"]``."""
    from ._task import TaskRun

    def run(spec: TaskSpec) -> TaskResult:
        return TaskRun(ctx, flow_cls, spec.to_wire(), None).run()

    return run


__all__ = ["InProcessExecutor", "RunTask", "task_body"]
