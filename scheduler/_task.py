"""The code that runs inside one Ray task: load inputs, run the user's step, checkpoint it.

Order of writes: blobs and logs, then the task record (``datastore.taskrecords``) last, marked
finished: a task killed at any moment is either complete or not done. The task returns only a
small ``TaskResult`` to the driver.

``TaskRun`` is one attempt's life (bind its inputs, call the step, catch or describe its error);
what the step leaves is ``_stepoutputs``, what the task writes and reports is ``_taskwrites``,
what a worker keeps between tasks is ``_worker``.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from rayflow.datastore import BlobStore, DatastoreError, Packed, TaskRecord, taskrecords

from . import _crashes, _inputs, decorators
from ._capture import Capture
from ._errors import StepTimeout, TimeoutException, WorkerDied
from ._identity import task_id_of
from ._result import TaskResult
from ._stepoutputs import StepOutputs
from ._taskstate import Inputs, InputView, TaskState
from ._taskwrites import TaskWrites
from ._tracebacks import _internal_dirs
from ._workdir import reenter_shipped_folder
from ._worker import _cancelled, _node_id, _run_context, _storage


def execute(box: list, wire: dict, sink: Any = None) -> TaskResult:
    """Run one attempt of one task; never raises for user errors (they go in the result)."""
    reenter_shipped_folder()  # the step's relative paths are the shipped folder's
    ctx, flow_cls = _run_context(box)
    return TaskRun(ctx, flow_cls, wire, sink).run()


class TaskRun(StepOutputs, TaskWrites):
    def __init__(self, ctx: dict, flow_cls: type, wire: dict, sink: Any) -> None:
        self.ctx = ctx
        self.flow_cls = flow_cls
        self.step = wire["step"]
        self.frames = [tuple(f) for f in wire["frames"]]
        self.inputs = [tuple(i) for i in wire["inputs"]]
        # The attempt of each input that finished, as the driver knows it: read directly.
        self.input_attempts = list(wire.get("input_attempts") or [None] * len(self.inputs))
        self.attempt = int(wire["attempt"])
        self.ready_at = wire.get("ready_at")
        self.caught = wire.get("caught")  # @catch after the worker died: store this, run nothing
        self.task_id = task_id_of(self.frames)
        self.node = ctx["plan"][self.step]
        self.decorator_classes = decorators.classes_for(ctx)
        self.storage = _storage(ctx["root"])
        self.blobs = BlobStore(self.storage, ctx["flow"])
        self.pathspec = f"{ctx['flow']}/{ctx['run_id']}/{self.step}/{self.task_id}"
        self.sink = sink
        self.started = time.time()
        self._record_fields: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}  # payload size of each artifact, as written
        self._pending: dict[str, Packed] = {}  # blobs to write (at once) before the record
        self._cards: list[tuple[str, str]] = []  # (file name, HTML) of the task's cards
        self._outputs: dict[str, int] = {}  # artifact name -> size, once the step is persisted

    # -- main ------------------------------------------------------------------------------
    def run(self) -> TaskResult:
        forwarder = self._live_sink()
        capture = Capture(forwarder, fds=True)
        _crashes.arm(
            self.ctx,
            self.step,
            self.task_id,
            self.attempt,
            lambda code: self._last_words(capture, forwarder, code),
            capture,
        )
        try:
            return self._run(capture)
        finally:
            _crashes.disarm()
            if forwarder is not None:
                forwarder.close()

    def _last_words(self, capture: Capture, forwarder: Any, code: int) -> None:
        """``os._exit(code)`` in the step: record the attempt as failed, with its output so far,
        before the process ends (the driver then shows this error, not Ray's)."""
        capture.__exit__(None, None, None)
        message = f"the worker process exited with code {code} (os._exit in step '{self.step}')"
        error = {
            "type": "WorkerExit",
            "internal": True,
            "message": message,
            "traceback": _crashes.exit_location(_internal_dirs()) + message,
        }
        self._write_records(capture, {}, error, status="failed")
        if forwarder is not None:
            forwarder.close()

    def _run(self, capture: Capture) -> TaskResult:
        error: dict | None = None
        caught = False
        state: TaskState | None = None
        flow: Any = None
        with capture:
            try:
                state, flow = self._bind()
                if self.caught is not None:
                    raise WorkerDied(self.caught.get("message") or "the worker process died")
                self._call_step(flow)
            except BaseException as exc:  # noqa: BLE001 - user code may raise anything
                if isinstance(exc, KeyboardInterrupt) and _cancelled():
                    error = {
                        "type": "Cancelled",
                        "internal": True,
                        "message": _CANCELLED,
                        "traceback": _CANCELLED,
                    }
                elif isinstance(exc, (KeyboardInterrupt, SystemExit)) and not isinstance(
                    exc, StepTimeout
                ):
                    error = self._describe(exc)
                else:
                    error = self._describe(exc)
                    caught = self._maybe_catch(state, flow, exc)
            finally:
                if flow is not None:
                    flow._rf_exit()
        result = TaskResult(ok=True, attempt=self.attempt)
        if error is None or caught:
            try:
                result = self._finish(state, flow, caught)
            except BaseException as exc:  # noqa: BLE001 - pickling, foreach and transition errors
                error, caught = self._describe(exc), False
            else:
                if decorators.makes_cards(self.node, self.decorator_classes):
                    with (
                        capture
                    ):  # what the cards print (an unknown type, a failed render) is the task's
                        self._cards = decorators.task_cards(
                            self.node, self.decorator_classes, flow, self._task_info(self._outputs)
                        )
        if error is not None and not caught:
            self._write_records(capture, {}, error, status="failed")
            return TaskResult.failure(error, output=self._tail(capture))
        try:
            record = self._write_records(
                capture, self._record_fields, error if caught else None, status="done"
            )
        except (OSError, DatastoreError) as exc:  # a blob or log that could not be stored
            error = self._describe(exc)
            self._write_records(capture, {}, error, status="failed")
            return TaskResult.failure(error, output=self._tail(capture))
        result.output, result.caught, result.record = self._tail(capture), caught, record.to_json()
        return result

    def _input(self, i: int) -> TaskRecord:
        """The record of input ``i``: its finished attempt, read directly when the driver named it
        (and kept by the worker: the splits of one foreach all read their parent's record)."""
        step, task_id = self.inputs[i]
        ctx = self.ctx
        attempt = self.input_attempts[i] if i < len(self.input_attempts) else None
        if attempt is not None:
            found = _inputs.finished(
                self.storage, ctx["flow"], ctx["run_id"], step, task_id, int(attempt)
            )
            if found is not None:
                return found
        return taskrecords.read_task(self.storage, ctx["flow"], ctx["run_id"], step, task_id)

    # -- steps of run() ----------------------------------------------------------------------
    def _bind(self) -> tuple[TaskState, Any]:
        ctx = self.ctx
        is_join = self.node["is_join"]
        params = dict(ctx["params"])
        views: list[InputView] = []
        if is_join:
            mapping = dict(params)
            # From the done pages where they hold the inputs, else one read per input (by the
            # attempt the driver named), at once on an object store.
            metas = _inputs.of_join(
                self.storage,
                ctx["flow"],
                ctx["run_id"],
                self.inputs,
                self.input_attempts,
                self._input,
            )
            for (step, task_id), meta in zip(self.inputs, metas):
                views.append(
                    InputView(
                        self.blobs,
                        f"{ctx['flow']}/{ctx['run_id']}/{step}/{task_id}",
                        step,
                        meta.artifacts,
                        [tuple(f) for f in meta.frames],
                    )
                )
        elif self.inputs:
            first = self._input(0)
            mapping = dict(first.artifacts)
            self._sizes = {k: v for k, v in first.sizes.items() if k in mapping}
        else:
            mapping = dict(params)
        state = TaskState(
            self.blobs, self.pathspec, self.step, mapping, params, self.frames, is_join
        )
        flow = self.flow_cls.__new__(self.flow_cls)
        self._views = views
        flow._rf_enter(
            state,
            {
                "flow_name": ctx["flow"],
                "run_id": ctx["run_id"],
                "step_name": self.step,
                "task_id": self.task_id,
                "retry_count": self.attempt,
                "origin_run_id": ctx.get("origin_run_id"),
                "namespace": f"user:{ctx['user']}",
                "username": ctx["user"],
                "tags": list(ctx.get("tags", [])),
                "node_id": _node_id(),
                "trial": ctx.get("trial"),
                "parameter_names": list(ctx["params"]),
                "_datastore": ctx["root"],  # the client inside the step reads this run's datastore
                **_project_fields(self.flow_cls, ctx["flow"], ctx["user"]),
            },
            ctx.get("reporter"),
        )
        return state, flow

    def _call_step(self, flow: Any) -> None:
        method = getattr(flow, self.step)
        with decorators.wraps_step(self.node, self.decorator_classes, self._task_info()):
            if self.node["is_join"]:
                method(Inputs(self._views))
            else:
                method()

    def _task_info(self, artifacts: dict[str, int] | None = None) -> decorators.TaskInfo:
        last = self.attempt + 1 >= self.ctx["max_attempts"].get(self.step, 1)
        return decorators.TaskInfo(
            self.step, self.attempt, last, self._kill_self, self.pathspec, artifacts
        )

    def _kill_self(self, message: str) -> None:
        """A decorator gives up on a stuck step: record the failure, then end the worker."""
        error = {
            "type": "TimeoutException",
            "qualified_type": TimeoutException.metaflow_name,
            "internal": True,
            "message": message,
            "traceback": message,
        }
        try:
            self._write_records(Capture(), {}, error, status="failed")
        finally:
            os.kill(os.getpid(), signal.SIGKILL)

    def _maybe_catch(self, state: TaskState | None, flow: Any, exc: BaseException) -> bool:
        if state is None or flow is None:
            return False
        if not decorators.on_failure(
            self.node, self.decorator_classes, self._task_info(), flow, exc
        ):
            return False
        state.transition = None
        return True


_CANCELLED = "cancelled: the run stopped (--fail-fast, or a pruned trial) before this task finished"


def _project_fields(flow_cls: type, flow: str, user: str) -> dict[str, Any]:
    project = getattr(flow_cls, "_rf_project", None)
    if not project:
        return {}
    branch = getattr(flow_cls, "_rf_project_branch", None) or f"user.{user}"
    production = bool(getattr(flow_cls, "_rf_project_production", False))
    return {
        "project_name": project,
        "branch_name": branch,
        "is_production": production,
        "project_flow_name": f"{project}.{branch}.{flow}",
    }
