"""The code that runs inside one Ray task: load inputs, run the user's step, checkpoint it.

Order of writes: blobs, logs, meta, and ``DONE`` last, so a task killed at any moment is either
complete or not done. The task returns only a small dict to the driver.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

import cloudpickle

from rayflow.datastore import (
    BlobCorruptError,
    BlobMissingError,
    BlobStore,
    DatastoreError,
    Storage,
    open_storage,
    pack,
    records,
)

from . import _crashes
from ._capture import Capture
from ._errors import ForeachError, StepTimeout, TransitionError, WorkerDied
from ._identity import task_id_of
from ._taskstate import Inputs, InputView, TaskState
from ._tracebacks import CaughtException, _internal_dirs, located, qualified_name, user_traceback

_RUNS: OrderedDict[str, tuple[dict, type]] = OrderedDict()
_STORES: dict[str, Storage] = {}
_OUTPUT_TAIL = 64 * 1024
_KILL_GRACE = 5.0


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


def execute(box: list, wire: dict, sink: Any = None) -> dict:
    """Run one attempt of one task; never raises for user errors (they go in the result)."""
    ctx, flow_cls = _run_context(box)
    return TaskRun(ctx, flow_cls, wire, sink).run()


class TaskRun:
    def __init__(self, ctx: dict, flow_cls: type, wire: dict, sink: Any) -> None:
        self.ctx = ctx
        self.flow_cls = flow_cls
        self.step = wire["step"]
        self.frames = [tuple(f) for f in wire["frames"]]
        self.inputs = [tuple(i) for i in wire["inputs"]]
        self.attempt = int(wire["attempt"])
        self.ready_at = wire.get("ready_at")
        self.caught = wire.get("caught")  # @catch after the worker died: store this, run nothing
        self.task_id = task_id_of(self.frames)
        self.node = ctx["plan"][self.step]
        self.storage = _storage(ctx["root"])
        self.blobs = BlobStore(self.storage, ctx["flow"])
        self.pathspec = f"{ctx['flow']}/{ctx['run_id']}/{self.step}/{self.task_id}"
        self.sink = sink
        self.started = time.time()

    # -- main ------------------------------------------------------------------------------
    def run(self) -> dict:
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

    def _run(self, capture: Capture) -> dict:
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
        result: dict[str, Any] = {}
        if error is None or caught:
            try:
                result = self._finish(state, flow, caught)
            except BaseException as exc:  # noqa: BLE001 - pickling, foreach and transition errors
                error, caught = self._describe(exc), False
        if error is not None and not caught:
            self._write_records(capture, {}, error, status="failed")
            return {"ok": False, "error": error, "output": self._tail(capture)}
        meta_extra = result.pop("_meta")
        self._write_records(capture, meta_extra, error if caught else None, status="done")
        records.mark_done(self.storage, self.ctx["flow"], self.ctx["run_id"], self.step, self.task_id,
                          self.attempt)
        result.update(ok=True, output=self._tail(capture), caught=caught)
        return result

    # -- steps of run() ----------------------------------------------------------------------
    def _bind(self) -> tuple[TaskState, Any]:
        ctx = self.ctx
        is_join = self.node["is_join"]
        params = dict(ctx["params"])
        views: list[InputView] = []
        if is_join:
            mapping = dict(params)
            for step, task_id in self.inputs:
                meta = records.read_meta(self.storage, ctx["flow"], ctx["run_id"], step, task_id)
                views.append(InputView(self.blobs, f"{ctx['flow']}/{ctx['run_id']}/{step}/{task_id}",
                                       step, meta["artifacts"], [tuple(f) for f in meta["frames"]]))
        elif self.inputs:
            step, task_id = self.inputs[0]
            meta = records.read_meta(self.storage, ctx["flow"], ctx["run_id"], step, task_id)
            mapping = dict(meta["artifacts"])
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
        seconds = _timeout_seconds(self.node["decorators"].get("timeout"))
        env = self.node["decorators"].get("environment", {}).get("vars") or {}
        saved_env = {k: os.environ.get(k) for k in env}
        os.environ.update({k: str(v) for k, v in env.items()})
        alarm = seconds > 0 and threading.current_thread() is threading.main_thread()
        watchdog = None
        if seconds > 0:
            # A step stuck where the alarm cannot reach it (C code, a swallowed exception) is
            # killed with its worker; the driver then counts the attempt as failed.
            watchdog = threading.Timer(seconds + _KILL_GRACE, self._kill_self, args=(seconds,))
            watchdog.daemon = True
            watchdog.start()
        if alarm:
            def on_alarm(signum: int, frame: Any) -> None:
                raise StepTimeout(f"step '{self.step}' timed out after {seconds:g} s (@timeout)")

            previous = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            if self.node["is_join"]:
                method(Inputs(self._views))
            else:
                method()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _kill_self(self, seconds: float) -> None:
        error = {"type": "StepTimeout", "internal": True,
                 "message": f"step '{self.step}' timed out after {seconds:g} s (@timeout); its worker was killed",
                 "traceback": f"step '{self.step}' timed out after {seconds:g} s (@timeout); its worker was killed"}
        try:
            self._write_records(Capture(), {}, error, status="failed")
        finally:
            os.kill(os.getpid(), signal.SIGKILL)

    def _maybe_catch(self, state: TaskState | None, flow: Any, exc: BaseException) -> bool:
        catch = self.node["decorators"].get("catch")
        if catch is None or state is None or flow is None:
            return False
        if self.attempt + 1 < self.ctx["max_attempts"].get(self.step, 1):
            return False
        if catch.get("print_exception", True):
            # Metaflow prints the whole traceback of what it caught.
            print(f"@catch caught this exception; the flow goes on:\n{user_traceback(exc)}",
                  file=sys.stderr)
        var = catch.get("var")
        if var:
            flow.__dict__[var] = CaughtException(exc)
        state.transition = None
        return True

    def _finish(self, state: TaskState | None, flow: Any, caught: bool) -> dict:
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
        catch = node["decorators"].get("catch") or {}
        if catch.get("var") and not caught and catch["var"] not in flow.__dict__:
            flow.__dict__[catch["var"]] = None
        mapping = self._persist(state, flow)
        meta: dict[str, Any] = {"artifacts": mapping}
        out: dict[str, Any] = {"next": list(node["out"]), "foreach": None}
        if transition and transition["foreach"] and not caught:
            out["foreach"] = self._expand_foreach(flow, transition["foreach"])
            meta["foreach"] = {"var": transition["foreach"], "n": out["foreach"]["n"],
                               "items": out["foreach"]["items_blob"]}
        elif transition and transition["condition"]:
            out["next"] = [self._choose(flow, transition)]
            meta["switch"] = out["next"][0]
        meta["next"] = out["next"]
        out["_meta"] = meta
        return out

    def _persist(self, state: TaskState, flow: Any) -> dict[str, str]:
        mapping = dict(state.mapping)
        # Flow constants are artifacts of start (of any shape, branching too) and of every join,
        # where the inputs' artifacts are not carried over by themselves (as in Metaflow).
        if self.step == "start" or self.node.get("is_join"):
            from rayflow._flowspec import packed_constants

            for name, packed in packed_constants(type(flow)):
                if self.step == "start" or name not in mapping:
                    mapping[name] = self.blobs.put_packed(packed)
        for name, value in list(flow.__dict__.items()):
            if name == "_rf" or name.startswith("__"):
                continue
            packed = pack(f"{name}' of step '{self.step}", value)
            key = packed.key
            if state.loaded.get(name) != key:
                self.blobs.put_packed(packed)
            mapping[name] = key
        return mapping

    def _expand_foreach(self, flow: Any, var: str) -> dict:
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
        keys = [self.blobs.put(f"{var}[{i}]' of step '{self.step}", item) for i, item in enumerate(items)]
        items_blob = self.blobs.put(f"{var}", keys)
        return {"n": len(keys), "items": keys, "items_blob": items_blob}

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
    def _write_records(self, capture: Capture, extra: dict, error: dict | None, status: str) -> None:
        ctx = self.ctx
        stderr = capture.stderr
        if error is not None and status == "failed" and error.get("traceback"):
            # As in Metaflow, a failed task's stderr ends with its traceback (@catch prints its own).
            stderr += ("" if not stderr or stderr.endswith("\n") else "\n") + error["traceback"] + "\n"
        for stream, text in (("stdout", capture.stdout), ("stderr", stderr)):
            if text:
                records.write_log(self.storage, ctx["flow"], ctx["run_id"], self.step, self.task_id,
                                  stream, self.attempt, text)
        meta = {
            "flow": ctx["flow"], "run_id": ctx["run_id"], "step": self.step, "task_id": self.task_id,
            "attempt": self.attempt, "status": status, "frames": [list(f) for f in self.frames],
            "inputs": [list(i) for i in self.inputs], "artifacts": {},
            "ready_at": self.ready_at, "started_at": self.started, "finished_at": time.time(),
            "node_id": _node_id(), "host": socket.gethostname(), "pid": os.getpid(),
            "exception": error,
        }
        meta.update(extra)
        records.write_meta(self.storage, meta)

    def _describe(self, exc: BaseException) -> dict:
        user_error = isinstance(exc, DatastoreError)
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


def _timeout_seconds(options: dict | None) -> float:
    if not options:
        return 0.0
    return (float(options.get("seconds") or 0) + 60 * float(options.get("minutes") or 0)
            + 3600 * float(options.get("hours") or 0))
