"""The code that runs inside one Ray task: load inputs, run the user's step, checkpoint it.

Order of writes: blobs and logs, then the task record (``datastore.taskrecords``) last, marked
finished: a task killed at any moment is either complete or not done. The task returns only a
small ``TaskResult`` to the driver.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

import cloudpickle

from rayflow.datastore import (
    BlobCorruptError,
    BlobMissingError,
    BlobStore,
    DatastoreError,
    Packed,
    Storage,
    TaskRecord,
    UserFacingError,
    open_storage,
    pack,
    records,
    run_all,
    taskrecords,
)

from . import _crashes, _inputs, decorators
from ._capture import Capture
from ._errors import ForeachError, StepTimeout, TransitionError, WorkerDied
from ._identity import task_id_of
from ._result import Fanout, TaskResult
from ._taskstate import Inputs, InputView, TaskState
from ._tracebacks import _internal_dirs, located, qualified_name, user_traceback
from ._workdir import reenter_shipped_folder

_RUNS: OrderedDict[str, tuple[dict, type]] = OrderedDict()
_STORES: dict[str, Storage] = {}
_OUTPUT_TAIL = 64 * 1024
_HOLD_BYTES = 64 * 1024 * 1024  # pending blobs held before they are written at once


def _storage(url: str) -> Storage:
    store = _STORES.get(url)
    if store is None:
        store = _STORES[url] = open_storage(url)
    return store


def _run_context(box: list) -> tuple[dict, type]:
    """Fetch and unpickle the run's context and flow class once per worker, not once per task."""
    run_key, ctx_ref, class_ref = box
    hit = _RUNS.get(run_key)
    if hit is not None:
        return hit
    import ray

    from ._codefiles import forget_local_modules, restore

    ctx = ray.get(ctx_ref)
    if ctx.get("flow_dir"):
        if ctx["flow_dir"] not in sys.path:
            sys.path.insert(0, ctx["flow_dir"])
        forget_local_modules(ctx["flow_dir"])  # a new run: its local modules as they are now
    flow_cls = cloudpickle.loads(ray.get(class_ref))

    restore(flow_cls, ctx.get("code_files") or {})
    _RUNS[run_key] = (ctx, flow_cls)
    while len(_RUNS) > 16:
        _RUNS.popitem(last=False)
    return ctx, flow_cls


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray (tests of the body alone)
        return ""


def execute(box: list, wire: dict, sink: Any = None) -> TaskResult:
    """Run one attempt of one task; never raises for user errors (they go in the result)."""
    reenter_shipped_folder()  # the step's relative paths are the shipped folder's
    ctx, flow_cls = _run_context(box)
    return TaskRun(ctx, flow_cls, wire, sink).run()


class TaskRun:
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

    # -- main ------------------------------------------------------------------------------
    def run(self) -> TaskResult:
        forwarder = self._live_sink()
        capture = Capture(forwarder, fds=True)
        _crashes.arm(self.ctx, self.step, self.task_id, self.attempt,
                     lambda code: self._last_words(capture, forwarder, code))
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
        error = {"type": "WorkerExit", "internal": True, "message": message,
                 "traceback": _crashes.exit_location(_internal_dirs()) + message}
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
                    error = {"type": "Cancelled", "internal": True, "message": _CANCELLED,
                             "traceback": _CANCELLED}
                elif isinstance(exc, (KeyboardInterrupt, SystemExit)) and not isinstance(exc, StepTimeout):
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
        if error is not None and not caught:
            self._write_records(capture, {}, error, status="failed")
            return TaskResult.failure(error, output=self._tail(capture))
        try:
            record = self._write_records(capture, self._record_fields, error if caught else None,
                                         status="done")
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
            found = _inputs.finished(self.storage, ctx["flow"], ctx["run_id"], step, task_id, int(attempt))
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
            metas = _inputs.of_join(self.storage, ctx["flow"], ctx["run_id"], self.inputs,
                                    self.input_attempts, self._input)
            for (step, task_id), meta in zip(self.inputs, metas):
                views.append(InputView(self.blobs, f"{ctx['flow']}/{ctx['run_id']}/{step}/{task_id}",
                                       step, meta.artifacts, [tuple(f) for f in meta.frames]))
        elif self.inputs:
            first = self._input(0)
            mapping = dict(first.artifacts)
            self._sizes = {k: v for k, v in first.sizes.items() if k in mapping}
        else:
            mapping = dict(params)
        state = TaskState(self.blobs, self.pathspec, self.step, mapping, params, self.frames, is_join)
        flow = self.flow_cls.__new__(self.flow_cls)
        self._views = views
        flow._rf_enter(state, {
            "flow_name": ctx["flow"], "run_id": ctx["run_id"], "step_name": self.step,
            "task_id": self.task_id, "retry_count": self.attempt,
            "origin_run_id": ctx.get("origin_run_id"), "namespace": f"user:{ctx['user']}",
            "username": ctx["user"], "tags": list(ctx.get("tags", [])), "node_id": _node_id(),
            "trial": ctx.get("trial"), "parameter_names": list(ctx["params"]),
            "_datastore": ctx["root"],  # the client inside the step reads this run's datastore
            **_project_fields(self.flow_cls, ctx["flow"], ctx["user"]),
        }, ctx.get("reporter"))
        return state, flow

    def _call_step(self, flow: Any) -> None:
        method = getattr(flow, self.step)
        with decorators.wraps_step(self.node, self.decorator_classes, self._task_info()):
            if self.node["is_join"]:
                method(Inputs(self._views))
            else:
                method()

    def _task_info(self) -> decorators.TaskInfo:
        last = self.attempt + 1 >= self.ctx["max_attempts"].get(self.step, 1)
        return decorators.TaskInfo(self.step, self.attempt, last, self._kill_self)

    def _kill_self(self, message: str) -> None:
        """A decorator gives up on a stuck step: record the failure, then end the worker."""
        error = {"type": "StepTimeout", "internal": True, "message": message, "traceback": message}
        try:
            self._write_records(Capture(), {}, error, status="failed")
        finally:
            os.kill(os.getpid(), signal.SIGKILL)

    def _maybe_catch(self, state: TaskState | None, flow: Any, exc: BaseException) -> bool:
        if state is None or flow is None:
            return False
        if not decorators.on_failure(self.node, self.decorator_classes, self._task_info(), flow, exc):
            return False
        state.transition = None
        return True

    def _finish(self, state: TaskState | None, flow: Any, caught: bool) -> TaskResult:
        assert state is not None
        node = self.node
        transition = state.transition
        if node["type"] == "end":
            if transition is not None:
                raise TransitionError("the end step must not call self.next()")
        elif transition is None:
            if not caught:
                raise TransitionError(f"step '{self.step}' finished without calling self.next()")
            transition = {"out": list(node["out"]), "foreach": node["foreach"],
                          "condition": node["condition"], "switch": node["switch"]}
        elif (sorted(transition["out"]) != sorted(node["out"])
              or transition["foreach"] != node["foreach"]
              or transition["condition"] != node["condition"]):
            raise TransitionError(
                f"step '{self.step}' called self.next({', '.join(transition['out'])}) but its source "
                f"says self.next({', '.join(node['out'])}); transitions must match the static graph"
            )
        decorators.after_step(node, self.decorator_classes, flow, caught)
        mapping = self._persist(state, flow)
        meta: dict[str, Any] = {"artifacts": mapping,
                                "sizes": {k: v for k, v in self._sizes.items() if mapping.get(k)}}
        out = TaskResult(ok=True, next=list(node["out"]), attempt=self.attempt)
        if transition and transition["foreach"] and not caught:
            keys, items_blob = self._expand_foreach(flow, transition["foreach"])
            out.foreach = Fanout(len(keys), keys)
            meta["foreach"] = {"var": transition["foreach"], "n": len(keys), "items": items_blob}
        elif transition and transition["condition"]:
            out.next = [self._choose(flow, transition)]
            meta["switch"] = out.next[0]
        meta["next"] = out.next
        self._record_fields = meta
        return out

    def _persist(self, state: TaskState, flow: Any) -> dict[str, str]:
        mapping = dict(state.mapping)
        # Flow constants are artifacts of start (of any shape, branching too) and of every join,
        # where the inputs' artifacts are not carried over by themselves (as in Metaflow).
        if self.step == "start" or self.node.get("is_join"):
            for name, packed in type(flow)._rf_flow_constants():
                if self.step == "start" or name not in mapping:
                    mapping[name] = self._put(packed)
                    self._sizes[name] = packed.size
        for name, value in list(flow.__dict__.items()):
            if name == "_rf" or name.startswith("__"):
                continue
            packed = pack(f"{name}' of step '{self.step}", value)
            key = packed.key
            if state.loaded.get(name) != key:
                self._put(packed)
            mapping[name] = key
            self._sizes[name] = packed.size
        return mapping

    def _expand_foreach(self, flow: Any, var: str) -> tuple[list[str], str]:
        try:
            value = getattr(flow, var)
        except AttributeError:
            raise ForeachError(f"step '{self.step}': foreach artifact '{var}' does not exist") from None
        if not hasattr(value, "__iter__"):
            raise ForeachError(
                f"step '{self.step}': foreach artifact '{var}' is not iterable "
                f"(got {type(value).__name__})"
            )
        items = list(value)
        limit = self.ctx.get("max_num_splits")
        if limit and len(items) > limit:
            raise ForeachError(f"step '{self.step}': foreach over '{var}' produced {len(items)} splits, "
                               f"more than --max-num-splits {limit}")
        if not items:
            raise ForeachError(f"step '{self.step}': foreach over '{var}' produced zero splits")
        keys = [self._put(pack(f"{var}[{i}]' of step '{self.step}", item)) for i, item in enumerate(items)]
        return keys, self._put(pack(var, keys))

    def _put(self, packed: Packed) -> str:
        """Remember a blob to store with the task's other files (``_write_records``), all at
        once; large ones are stored as soon as they add up, so they are not all held in memory."""
        self._pending.setdefault(packed.key, packed)
        if sum(p.size for p in self._pending.values()) >= _HOLD_BYTES:
            self.blobs.put_many(list(self._pending.values()))
            self._pending.clear()
        return packed.key

    def _choose(self, flow: Any, transition: dict) -> str:
        var = transition["condition"]
        try:
            value = getattr(flow, var)
        except AttributeError:
            raise TransitionError(f"step '{self.step}': condition artifact '{var}' does not exist") from None
        target = transition["switch"].get(str(value))
        if target is None:
            cases = ", ".join(repr(k) for k in transition["switch"])
            raise TransitionError(
                f"step '{self.step}': condition '{var}' is {value!r}, which matches no case ({cases})"
            )
        return target

    # -- records ---------------------------------------------------------------------------
    def _write_records(self, capture: Capture, extra: dict, error: dict | None, status: str) -> TaskRecord:
        ctx = self.ctx
        stderr = capture.stderr
        if error is not None and status == "failed" and error.get("traceback"):
            # As in Metaflow, a failed task's stderr ends with its traceback (@catch prints its own).
            stderr += ("" if not stderr or stderr.endswith("\n") else "\n") + error["traceback"] + "\n"
        jobs: list[Callable[[], Any]] = []
        if status == taskrecords.DONE:  # a failed record points at no blob
            jobs.append(partial(self.blobs.put_many, list(self._pending.values())))
        for stream, text in (("stdout", capture.stdout), ("stderr", stderr)):
            if text:
                jobs.append(partial(records.write_log, self.storage, ctx["flow"], ctx["run_id"], self.step,
                                    self.task_id, stream, self.attempt, text))
        run_all(self.storage, jobs)  # at once on an object store; every one ended before the record
        record = TaskRecord(
            flow=ctx["flow"], run_id=ctx["run_id"], step=self.step, task_id=self.task_id,
            attempt=self.attempt, status=status, finished=status == taskrecords.DONE,
            frames=[list(f) for f in self.frames], inputs=[list(i) for i in self.inputs],
            ready_at=self.ready_at, started_at=self.started, finished_at=time.time(),
            node_id=_node_id(), host=socket.gethostname(), pid=os.getpid(), exception=error, **extra)
        taskrecords.write(self.storage, record)  # last: a finished record makes the task done
        return record

    def _describe(self, exc: BaseException) -> dict:
        user_error = isinstance(exc, UserFacingError)
        text = user_traceback(exc) if not user_error else located(exc)
        message = str(exc)
        if isinstance(exc, (BlobCorruptError, BlobMissingError)) and exc.key:
            from ._lostblob import hint

            more = hint(self.storage, self.ctx["flow"], self.ctx["run_id"], exc.key,
                        [list(f) for f in self.frames], self.inputs)
            message, text = message + more, text + more
        return {"type": type(exc).__name__, "qualified_type": qualified_name(exc),
                "message": message, "traceback": text, "internal": user_error}

    def _live_sink(self) -> Any:
        if self.sink is None:
            return None
        from ._logsink import LineForwarder

        return LineForwarder(self.sink, self.ctx["run_id"], f"{self.step}/{self.task_id}")

    @staticmethod
    def _tail(capture: Capture) -> dict:
        return {"stdout": capture.stdout[-_OUTPUT_TAIL:], "stderr": capture.stderr[-_OUTPUT_TAIL:]}


_CANCELLED = "cancelled: the run stopped (--fail-fast, or a pruned trial) before this task finished"


def _cancelled() -> bool:
    """Whether Ray cancelled this task (its KeyboardInterrupt is then not the user's)."""
    try:
        import ray

        return bool(ray.get_runtime_context().is_canceled())
    except Exception:  # noqa: BLE001 - outside Ray
        return False


def _project_fields(flow_cls: type, flow: str, user: str) -> dict[str, Any]:
    project = getattr(flow_cls, "_rf_project", None)
    if not project:
        return {}
    branch = getattr(flow_cls, "_rf_project_branch", None) or f"user.{user}"
    production = bool(getattr(flow_cls, "_rf_project_production", False))
    return {"project_name": project, "branch_name": branch, "is_production": production,
            "project_flow_name": f"{project}.{branch}.{flow}"}

