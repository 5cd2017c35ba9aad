"""The driver loop: keep a bounded window of tasks running, collect results, plan what is next.

The window is larger than the CPU count so workers never wait for the driver, yet bounded so a
10,000-way foreach never floods the executor's queue. Failed tasks are retried here (not by the
executor) so each attempt gets its own record and ``current.retry_count``. The loop talks to an
``Executor`` (``_executor_api``): Ray in runs, an in-process one in unit tests.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import decorators
from ._executor_api import Executor, Handle
from ._identity import TaskSpec
from ._planner import Planner
from ._result import TaskResult


@dataclass
class Outcome:
    failures: list[tuple[TaskSpec, TaskResult]] = field(default_factory=list)
    cancelled: list[TaskSpec] = field(default_factory=list)  # by --fail-fast or should_stop
    interrupted: bool = False
    finished: set[tuple[str, str]] = field(default_factory=set)
    executed: list[tuple[str, str]] = field(default_factory=list)
    cloned: list[tuple[str, str]] = field(default_factory=list)
    cached: list[tuple[str, str]] = field(default_factory=list)


class Driver:
    def __init__(
        self,
        planner: Planner,
        executor: Executor,
        progress: Any,
        window: int,
        fail_fast: bool,
        retries: dict[str, tuple[int, float]],
        on_crash: Callable[[TaskSpec, TaskResult], None] | None = None,
        cloner: Callable[[TaskSpec], TaskResult | None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        live: Any = None,
        on_success: Callable[[TaskSpec], None] | None = None,
        interrupts: Any = None,
    ) -> None:
        self.planner = planner
        self.executor = executor
        self.progress = progress
        self.window = max(1, window)
        self.fail_fast = fail_fast
        self.retries = retries
        self.on_crash = on_crash
        self.cloner = cloner
        self.should_stop = should_stop
        self.live = live
        self.on_success = on_success
        self.interrupts = (
            interrupts  # _signals.Interrupts: Ctrl-C/SIGTERM polled between executor calls
        )
        self._printed_any = False
        self._counter = 0  # orders retries due at the same moment
        self.outcome = Outcome()
        # Per-step limits (``@concurrency``): tasks over the limit wait here, not in the executor.
        self.limits = {
            step: n for step, node in planner.plan.items() if (n := decorators.max_running(node))
        }
        self._running: dict[str, int] = {step: 0 for step in self.limits}
        self._held: dict[str, deque[TaskSpec]] = {step: deque() for step in self.limits}

    def drive(self) -> Outcome:
        """Run the plan to its end (or its failures) on the executor, started and stopped here."""
        self.executor.start()
        try:
            return self._drive()
        finally:
            self.executor.stop()

    def _drive(self) -> Outcome:
        ready: deque[TaskSpec] = deque(self.planner.initial())
        delayed: list[tuple[float, int, TaskSpec]] = []
        inflight: dict[Handle, TaskSpec] = {}
        cancelled: set[Handle] = set()  # handles this loop cancelled: their end is not a failure
        stopping = False
        try:
            while ready or inflight or delayed:
                self._check_interrupt()
                now = time.time()
                while delayed and delayed[0][0] <= now:
                    spec = heapq.heappop(delayed)[2]
                    self.progress.waited(spec.step)
                    ready.append(spec)
                if not stopping:
                    self._submit(ready, inflight, now)
                if stopping and not inflight:
                    break
                if not inflight:
                    if delayed:
                        time.sleep(max(0.0, min(0.5, delayed[0][0] - time.time())))
                        continue
                    if ready:
                        continue
                    break
                base = 0.2 if self.live is not None else 0.5
                timeout = base if not delayed else max(0.0, min(base, delayed[0][0] - time.time()))
                self._poll_live()
                for ref in self.executor.wait(list(inflight), timeout):
                    spec = inflight.pop(ref)
                    self._release(spec, ready)
                    result = self.executor.result(ref)
                    self._show_output(spec, result)
                    was_cancelled = ref in cancelled
                    cancelled.discard(ref)
                    if result.cancelled or (was_cancelled and not result.ok):
                        self.progress.finished(spec.step, False, cancelled=True)
                        self.outcome.cancelled.append(spec)
                        continue
                    if result.ok:
                        self.outcome.finished.add(spec.key)
                        self.outcome.executed.append(spec.key)
                        self.progress.finished(spec.step, True)
                        if self.on_success is not None:
                            self.on_success(spec)
                        ready.extend(self.planner.on_done(spec, result))
                        continue
                    if result.crashed and self.on_crash is not None:
                        self.on_crash(spec, result)
                    if not stopping and self._again(spec, result, ready, delayed):
                        continue
                    self.progress.finished(spec.step, False)
                    self.outcome.failures.append((spec, result))
                    self._show_failure(spec, result)
                    if self.fail_fast and not stopping:
                        stopping = True
                        self._stop(ready, delayed, inflight, cancelled)
                if self.should_stop is not None and self.should_stop() and not stopping:
                    stopping = True
                    self._stop(ready, delayed, inflight, cancelled)
        except KeyboardInterrupt:
            self.outcome.interrupted = True
            if self.interrupts is None or self.interrupts.cancel_tasks:
                for ref in inflight:
                    self.executor.cancel(ref, force=True)
        self._poll_live(final=True)
        return self.outcome

    def _submit(self, ready: deque[TaskSpec], inflight: dict[Handle, TaskSpec], now: float) -> None:
        """Hand ready tasks to the executor while the window has room (clones take none)."""
        while ready and len(inflight) < self.window:
            self._check_interrupt()
            spec = ready.popleft()
            if self._hold(spec) or self._try_clone(spec, ready):
                continue
            spec.ready_at = spec.ready_at or now
            inflight[self.executor.submit(spec)] = spec
            if spec.step in self._running:
                self._running[spec.step] += 1
            self.progress.submitted(spec.step)

    def _again(
        self, spec: TaskSpec, result: TaskResult, ready: deque[TaskSpec], delayed: list
    ) -> bool:
        """Schedule another attempt of a failed task, if its step's decorators give one."""
        times, delay = self.retries.get(spec.step, (0, 0.0))
        if spec.attempt < times:
            self.progress.retrying(spec.step, waiting=True)
            self._show_failure(spec, result, retrying=True)
            self.progress.message(
                f"[{spec.label()}] retrying (retry {spec.attempt + 1} of {times})"
                + (f" in {delay:g} s" if delay else ""),
                err=True,
            )
            self._counter += 1
            retry = replace(spec, attempt=spec.attempt + 1, ready_at=time.time(), caught=None)
            heapq.heappush(delayed, (time.time() + delay, self._counter, retry))
            return True
        if result.crashed and self._catches(spec):
            # As Metaflow does: one more attempt that runs no user code and stores
            # what killed the worker in the @catch variable; the flow goes on.
            self._show_failure(spec, result)
            self.progress.retrying(spec.step)
            ready.append(
                replace(
                    spec, attempt=spec.attempt + 1, ready_at=time.time(), caught=result.error or {}
                )
            )
            return True
        return False

    def _stop(self, ready: deque, delayed: list, inflight: dict, cancelled: set) -> None:
        """Schedule nothing more and cancel what runs: those tasks end as cancelled."""
        ready.clear()
        for held in self._held.values():
            held.clear()
        for _, _, spec in delayed:
            self.progress.waited(spec.step, cancelled=True)
            self.outcome.cancelled.append(spec)
        delayed.clear()
        for other in inflight:
            cancelled.add(other)
            self.executor.cancel(other, force=False)

    def _hold(self, spec: TaskSpec) -> bool:
        """Park a task whose step already runs its limit of tasks (``@concurrency``)."""
        limit = self.limits.get(spec.step)
        if limit is None or self._running[spec.step] < limit:
            return False
        self._held[spec.step].append(spec)
        return True

    def _release(self, spec: TaskSpec, ready: deque[TaskSpec]) -> None:
        """A task of a limited step ended: the next held one of that step may go."""
        if spec.step not in self._running:
            return
        self._running[spec.step] -= 1
        if self._held[spec.step]:
            ready.appendleft(self._held[spec.step].popleft())

    def _catches(self, spec: TaskSpec) -> bool:
        return spec.caught is None and decorators.catches_crash(self.planner.plan[spec.step])

    def _check_interrupt(self) -> None:
        """Stop here, between executor calls, once a signal asked for it (never inside one)."""
        if self.interrupts is not None and self.interrupts.requested:
            raise KeyboardInterrupt

    def _poll_live(self, final: bool = False) -> None:
        if self.live is None or (final and not self._printed_any):
            return
        for label, stream, lines in self.live.poll(final=final):
            self.progress.lines(label, stream, lines)

    def _try_clone(self, spec: TaskSpec, ready: deque) -> bool:
        if self.cloner is None:
            return False
        prepare = getattr(self.cloner, "prepare", None)
        if prepare is not None and prepare(spec, ready):
            return True  # cloned in a batch with the tasks waiting: back behind the ones that run
        result = self.cloner(spec)
        if result is None:
            return False
        self.outcome.finished.add(spec.key)
        if result.cached:
            self.outcome.cached.append(spec.key)
        else:
            self.outcome.cloned.append(spec.key)
        self.progress.finished(spec.step, True, cloned=True, cached=result.cached)
        ready.extend(self.planner.on_done(spec, result))
        return True

    def _show_output(self, spec: TaskSpec, result: TaskResult) -> None:
        output = result.output or {}
        if self.live is not None:
            if output.get("stdout") or output.get("stderr") or result.crashed:
                self._printed_any = True
                self._poll_live(final=True)  # this task's lines before anything said about it
            return
        for stream in ("stdout", "stderr"):
            text = output.get(stream) or ""
            if text:
                self.progress.lines(spec.label(), stream, text.rstrip("\n").split("\n"))

    def _show_failure(self, spec: TaskSpec, result: TaskResult, retrying: bool = False) -> None:
        err = result.error or {}
        label = f"[{spec.label()}]"
        what = f"attempt {spec.attempt} failed" if retrying else "step failed"
        if err.get("internal"):
            self.progress.message(
                f"{label} error: {err.get('traceback') or err.get('message')}", err=True
            )
        else:
            text = (err.get("traceback") or "").rstrip()
            body = "\n".join(f"{label} {line}" for line in text.split("\n"))
            self.progress.message(f"{label} {what}:\n{body}", err=True)
