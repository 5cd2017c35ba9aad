"""The Ray executor: the one production ``Executor`` (``_executor_api``) of the driver loop.

Everything Ray-specific about running a task (the run's context in Ray's object store,
resources, SPREAD for foreach splits, no silent Ray-level retries, what Ray's errors mean for a
task) lives here, so the driver loop stays a plain ready-set loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ray

from . import _crashes, decorators
from ._errors import RayDied
from ._identity import LOOP, TaskSpec
from ._result import TaskResult
from ._task import execute
from ._worker import _storage


@ray.remote(max_retries=0)
def _run_task(box: list, wire: dict, sink: Any = None) -> TaskResult:
    return execute(box, wire, sink)


class RayExecutor:
    def __init__(
        self,
        ctx: dict,
        class_bytes: bytes,
        run_key: str,
        sink: Any = None,
        ray_died: Callable[[], str | None] | None = None,
    ) -> None:
        self.plan = ctx["plan"]
        self.ctx = ctx
        self.ray_died = ray_died  # what of the local Ray instance died, if it did
        self.class_bytes = class_bytes
        self.run_key = run_key
        self.box: list[Any] | None = None  # [run_key, context ref, class ref] once started
        self.sink = sink
        self._options: dict[tuple[str, bool], Any] = {}
        self._specs: dict[Any, TaskSpec] = {}
        self._faults = _crashes.fault_dir()
        _crashes.quiet_worker_deaths()

    def start(self) -> None:
        """Put the run's context and flow class in Ray's object store once, for every task."""
        self.box = [self.run_key, ray.put(self.ctx), ray.put(self.class_bytes)]

    def stop(self) -> None:
        """Drop this run's references (Ray frees the context once no task holds it)."""
        self.box = None
        self._specs.clear()
        self._options.clear()

    def _remote(self, spec: TaskSpec) -> Any:
        last = spec.frames[-1] if spec.frames else None
        spread = last is not None and last[0] != LOOP and self.plan[last[0]]["out"][0] == spec.step
        key = (spec.step, spread)
        fn = self._options.get(key)
        if fn is None:
            opts: dict[str, Any] = {
                "num_cpus": 1.0,
                "num_gpus": 0.0,
                **decorators.ray_options(self.plan[spec.step]),
                "max_retries": 0,
            }
            if spread:
                opts["scheduling_strategy"] = "SPREAD"
            fn = self._options[key] = _run_task.options(**opts)
        return fn

    def submit(self, spec: TaskSpec) -> Any:
        ref = self._remote(spec).remote(self.box, spec.to_wire(), self.sink)
        self._specs[ref] = spec
        return ref

    def wait(self, refs: list[Any], timeout: float) -> list[Any]:
        self._check_alive()
        done, rest = ray.wait(refs, num_returns=1, timeout=timeout)
        if done and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            done += more
        self._check_alive()  # before results that would blame the tasks for Ray's death
        return done

    def _check_alive(self) -> None:
        what = self.ray_died() if self.ray_died is not None else None
        if what:
            raise RayDied(what)

    def result(self, ref: Any) -> TaskResult:
        spec = self._specs.pop(ref, None)
        try:
            return ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            return TaskResult.failure(
                {
                    "type": "Cancelled",
                    "message": "cancelled",
                    "traceback": "cancelled",
                    "internal": True,
                },
                cancelled=True,
            )
        except ray.exceptions.RayTaskError as exc:
            # The task body itself failed before it could report (e.g. the flow's code does not
            # unpickle on that node): say what it was, not that a worker died.
            cause = exc.cause if isinstance(exc.cause, BaseException) else None
            text = f"{type(cause).__name__}: {cause}" if cause else _first_line(exc)
            return TaskResult.failure(
                {
                    "type": type(cause or exc).__name__,
                    "message": f"the task could not run on its worker: {text}",
                    "traceback": text,
                    "internal": True,
                },
                crashed=True,
            )
        except (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.LocalRayletDiedError,
            ray.exceptions.ObjectLostError,
            ray.exceptions.OwnerDiedError,
        ) as exc:
            if isinstance(exc, ray.exceptions.WorkerCrashedError):
                message = self._crash_message(spec)
            else:
                message = f"the worker running the task died: {_first_line(exc)}"
            return TaskResult.failure(
                {
                    "type": type(exc).__name__,
                    "message": message,
                    "traceback": message,
                    "internal": True,
                },
                crashed=True,
            )

    def _crash_message(self, spec: TaskSpec | None) -> str:
        """How the worker died, from the fault file it left; its traceback becomes the task's
        stderr (a worker that called ``os._exit`` wrote its own records first)."""
        if spec is None:
            return _crashes.describe(None)
        flow, run_id = self.ctx["flow"], self.ctx["run_id"]
        text = _crashes.collect(self._faults, flow, run_id, spec.step, spec.task_id, spec.attempt)
        logs = _crashes.collect_output(
            self._faults, flow, run_id, spec.step, spec.task_id, spec.attempt, text
        )
        for stream, log in logs.items():
            try:
                from rayflow.datastore import records

                records.write_log(
                    _storage(self.ctx["root"]),
                    flow,
                    run_id,
                    spec.step,
                    spec.task_id,
                    stream,
                    spec.attempt,
                    log,
                )
            except OSError:
                pass
        return _crashes.describe(text)

    def cancel(self, ref: Any, force: bool = False) -> None:
        try:
            ray.cancel(ref, force=force)
        except Exception:  # noqa: BLE001 - already finished
            pass


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(exc: BaseException) -> str:
    """The first line of Ray's message, without the terminal colours Ray puts in it."""
    text = _ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
