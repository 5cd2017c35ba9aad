"""``launch``: one run from its request to its end, in named phases.

open (datastore, run id, parameter blobs) -> connect (Ray, cluster check; nothing recorded yet,
so a refused run leaves no run.json) -> record (run.json ``running``, heartbeat) -> drive (the
driver loop) -> finish (run.json's end, the ``RunResult``). Ctrl-C and SIGTERM only set a flag
the driver loop polls, so they end the run one defined way (see _signals).
"""

from __future__ import annotations

import hashlib
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from rayflow.datastore import (
    BlobStore,
    DatastoreError,
    LocalStorage,
    Storage,
    heartbeat_interval,
    open_storage,
    pages,
    records,
    settings,
)

from . import decorators
from ._crashrecord import record_crash
from ._errors import Interrupted, RayDied
from ._heartbeat import Heartbeat
from ._identity import TaskSpec, username
from ._paging import Cloners, PagedExecutor
from ._request import RunRequest
from ._result import TaskResult
from ._run import (
    RunResult,
    _claim_run_id,
    _class_bytes,
    _jsonable,
    _shown_path,
    _system_tags,
    _unusable,
)
from ._signals import Interrupts


@dataclass
class _Opened:
    """What the open phase settled: where the run goes and under which id."""

    storage: Storage
    run_id: str
    user: str
    param_keys: dict[str, str]


def launch(request: RunRequest) -> RunResult:
    """Run the request's flow to its end (or its failures) and say how it ended."""
    with Interrupts() as interrupts:
        return _launch(request, interrupts)


def _launch(req: RunRequest, interrupts: Interrupts) -> RunResult:
    from ._connect import shutdown

    opened = _open(req)
    started_ray, ray_seconds = _connect(req, opened.storage, interrupts)
    record = _record(req, opened, started_ray)
    heartbeat = Heartbeat(opened.storage, req.flow, opened.run_id, record["heartbeat_interval"])
    try:
        heartbeat.start()  # until the run's end is recorded (finally below)
        started_at = record["created_at"]
        outcome = _drive(req, opened, record, interrupts)
        result = _finish(req, opened, record, outcome)
        result.seconds, result.ray_seconds = time.time() - started_at, ray_seconds
        result.signum = interrupts.signum if outcome.interrupted else 0
        return result
    except BaseException:
        _record_failed(opened, req.flow, record)
        raise
    finally:
        heartbeat.stop()
        shutdown(started_ray)


def _open(req: RunRequest) -> _Opened:
    """Open the datastore, claim the run id, store the parameters (or reuse the given keys)."""
    storage = open_storage(req.datastore, verify=True)
    try:
        run_id = _claim_run_id(storage, req.flow, req.run_id)
        keys = req.param_keys
        if keys is None:
            blobs = BlobStore(storage, req.flow)
            keys = {attr: blobs.put(attr, value) for attr, value in req.params.items()}
    except DatastoreError:
        raise
    except OSError as exc:
        raise _unusable(storage, exc) from None
    return _Opened(storage, run_id, username(), keys)


def _connect(
    req: RunRequest, storage: Storage, interrupts: Interrupts
) -> tuple[bool, float | None]:
    """Start or join Ray and check the cluster against the plan; (started Ray, seconds it took)."""
    from ._cluster import check_cluster, cluster_runtime_env
    from ._connect import connect, shared, shutdown

    runtime_env, shipped, notes = cluster_runtime_env(
        req.cluster, req.flow_file, storage, req.runtime_env
    )
    if not req.quiet:  # before joining: uploading the folder is what the user waits for
        if shipped:
            print(f"rayflow: {shipped}", file=req.out or sys.stdout, flush=True)
        for note in notes:
            print(f"rayflow: note: {note}", file=sys.stderr)
    connecting = time.time()
    try:
        started_ray = connect(req.cluster, runtime_env=runtime_env, warm=req.warm)
    except SystemExit as exc:  # Ray's own SIGTERM handler while ray.init runs
        if exc.code == signal.SIGTERM:
            raise Interrupted(signal.SIGTERM) from None
        raise
    ray_seconds = time.time() - connecting if started_ray and not _warm_reused() else None
    interrupts.install()  # again: ray.init took SIGTERM over
    _warm_note(req)
    # Else shutting Ray down (or, on a warm Ray, the driver's exit) ends the tasks.
    interrupts.cancel_tasks = not started_ray or shared()
    try:
        shared = req.shared_datastore or settings.shared_datastore()
        check_cluster(req.plan, storage.url, isinstance(storage, LocalStorage), shared)
        if interrupts.requested:
            raise Interrupted(interrupts.signum)
    except BaseException:
        shutdown(started_ray)
        raise
    return started_ray, ray_seconds


def _warm_reused() -> bool:
    """Connected to a warm local Ray started by an earlier run (so there was no start-up)."""
    from ._connect import connected_warm, warm_started

    return connected_warm() and not warm_started()


def _warm_connected() -> bool:
    from ._connect import connected_warm

    return connected_warm()


def _warm_note(req: RunRequest) -> None:
    from ._connect import warm_started

    if warm_started() and not req.quiet:
        minutes = settings.warm_idle_seconds() / 60
        print(
            f"rayflow: the local Ray stays up for the next runs (stops after {minutes:g} min "
            "idle; 'rayflow shutdown' stops it now; --no-warm or RAYFLOW_WARM=0 turn this off)",
            file=sys.stderr,
            flush=True,
        )


def _record(req: RunRequest, opened: _Opened, started_ray: bool) -> dict[str, Any]:
    """Create run.json (status ``running``); then the run id is the caller's to see."""
    from ._connect import shutdown

    flow, user = req.flow, opened.user
    record: dict[str, Any] = {
        "flow": flow,
        "run_id": opened.run_id,
        "status": "running",
        "user": user,
        "tags": list(req.tags),
        "system_tags": _system_tags(req.flow_cls, user),
        "parameters": {k: _jsonable(v) for k, v in req.params.items()},
        "parameter_keys": opened.param_keys,
        "created_at": time.time(),
        "finished_at": None,
        "origin_run_id": req.origin_run_id,
        "plan": req.plan,
        "flow_file": req.flow_file,
        "python": platform.python_version(),
        "host": platform.node(),
        "heartbeat_interval": heartbeat_interval(),
    }
    record.update(req.extra or {})
    try:
        records.create_run(opened.storage, flow, opened.run_id, record)
    except BaseException as exc:
        shutdown(started_ray)
        if isinstance(exc, OSError) and not isinstance(exc, DatastoreError):
            raise _unusable(opened.storage, exc) from None
        raise
    if req.run_id_file:
        with open(req.run_id_file, "w") as f:
            f.write(opened.run_id)
    if req.on_started is not None:
        req.on_started(opened.run_id)
    return record


def _drive(req: RunRequest, opened: _Opened, record: dict[str, Any], interrupts: Interrupts) -> Any:
    """Hand the plan to the driver loop over a Ray executor; the loop's outcome."""
    import ray

    from ._connect import cluster_cpus, resolve_address
    from ._driver import Driver
    from ._planner import Planner
    from ._progress import Progress

    record["ray_version"] = ray.__version__
    retries = {
        step: decorators.retry_policy(node, bool(resolve_address(req.cluster)))
        for step, node in req.plan.items()
    }
    live = None
    if not req.quiet:
        from ._connect import local_own
        from ._livefiles import FileSinkReader
        from ._logsink import SinkReader

        # Workers on this machine only: files, not an actor (which needs a worker of its own).
        live = FileSinkReader(opened.run_id) if local_own() else SinkReader(opened.run_id)
    writer = pages.PageWriter(opened.storage, req.flow, opened.run_id)
    executor = PagedExecutor(
        _executor(req, opened, {step: times + 1 for step, (times, _) in retries.items()}, live),
        writer,
        req.plan,
    )
    cpus = cluster_cpus()
    record["cpus"] = cpus  # parallel efficiency (rayflow._stats) needs the CPU count
    record["cluster"] = resolve_address(req.cluster) or "local"
    window = req.max_workers if req.max_workers else min(256, max(16, 8 * cpus))
    cloner, on_success = _cloner(req, opened, writer)
    if _warm_connected():
        from ._prime import settle

        settle()  # the worker primed at connect (_prime) is ready for the first task

    def on_crash(spec: TaskSpec, result: TaskResult) -> None:
        record_crash(opened.storage, req.flow, opened.run_id, spec, result)

    with Progress(list(req.plan), out=req.out, quiet=req.quiet) as progress:
        driver = Driver(
            Planner(req.plan),
            executor,
            progress,
            window,
            req.fail_fast,
            retries,
            on_crash=on_crash,
            cloner=cloner,
            live=live,
            should_stop=req.should_stop,
            on_success=on_success,
            interrupts=interrupts,
        )
        try:
            return driver.drive()
        except RayDied as exc:
            done = driver.outcome
            kept = len(done.executed) + len(done.cloned) + len(done.cached)
            shown = f" {_shown_path(req.flow_file)}" if req.flow_file else ""
            raise RayDied(
                f"the local Ray instance died ({exc}); {kept} finished task(s) are "
                f"checkpointed; resume with: rayflow resume{shown} --origin-run-id "
                f"{opened.run_id}"
            ) from None
        finally:
            cloner.close()
            writer.flush()
            if hasattr(live, "close"):
                live.close()  # the folder of a FileSinkReader


def _executor(req: RunRequest, opened: _Opened, max_attempts: dict[str, int], live: Any) -> Any:
    """The Ray executor, with the context every task of this run reads."""
    from ._codefiles import module_files
    from ._connect import local_ray_died
    from ._executor import RayExecutor

    class_bytes = _class_bytes(req.flow_cls)
    ctx = {
        "flow": req.flow,
        "run_id": opened.run_id,
        "root": opened.storage.url,
        "plan": req.plan,
        "params": opened.param_keys,
        "user": opened.user,
        "tags": list(req.tags),
        "origin_run_id": req.origin_run_id,
        "max_attempts": max_attempts,
        "trial": req.trial,
        "reporter": req.reporter,
        "max_num_splits": req.max_num_splits,
        "flow_dir": os.path.dirname(os.path.abspath(req.flow_file)) if req.flow_file else None,
        "code_files": module_files(req.flow_cls),
        "decorator_classes": decorators.shipped_classes(req.plan),  # after _class_bytes: by value
    }
    run_key = hashlib.sha256(class_bytes + opened.run_id.encode()).hexdigest()[:16]
    return RayExecutor(
        ctx, class_bytes, run_key, sink=live.actor if live else None, ray_died=local_ray_died
    )


def _cloner(req: RunRequest, opened: _Opened, writer: pages.PageWriter) -> tuple[Cloners, Any]:
    """(cloner, on_success): a resume's origin first, then the cross-run cache."""
    from ._cache import TaskCache
    from ._resume import Cloner

    resume = None
    if req.resuming:
        resume = Cloner(
            opened.storage, req.flow, req.origin_run_id, opened.run_id, set(req.rerun or ()), writer
        )
    cache = TaskCache(
        opened.storage,
        req.flow,
        opened.run_id,
        req.plan,
        opened.param_keys,
        req.cache,
        req.flow_cls,
    )
    return Cloners(resume, cache, writer), cache.record


def _finish(req: RunRequest, opened: _Opened, record: dict[str, Any], outcome: Any) -> RunResult:
    """Record how the run ended in run.json; the caller's ``RunResult``."""
    from ._connect import resolve_address

    storage, flow, run_id = opened.storage, req.flow, opened.run_id
    ended = ("end", "0") in outcome.finished
    status = "successful" if ended and not outcome.failures else "failed"
    stopped = req.should_stop() if req.should_stop is not None else False
    if status == "failed" and stopped:  # "interrupted": the sweep driver got Ctrl-C
        status = {"interrupted": "failed", "cancelled": "cancelled"}.get(str(stopped), "pruned")
    record.update(
        status=status,
        interrupted=outcome.interrupted or stopped == "interrupted",
        finished_at=time.time(),
        failed_tasks=[f"{s.step}/{s.task_id}" for s, _ in outcome.failures],
        executed=len(outcome.executed),
        cloned=len(outcome.cloned),
        cached=len(outcome.cached),
        tags=records.read_tags(storage, flow, run_id, record["tags"]),
    )
    records.write_run(storage, flow, run_id, record)
    return RunResult(
        flow,
        run_id,
        "interrupted" if outcome.interrupted else status,
        storage.url,
        failures=[(s.label(), r.error or {}) for s, r in outcome.failures],
        executed=outcome.executed,
        cloned=outcome.cloned,
        cached=outcome.cached,
        ray_joined=bool(resolve_address(req.cluster)),
        cancelled=[s.label() for s in outcome.cancelled],
    )


def _record_failed(opened: _Opened, flow: str, record: dict[str, Any]) -> None:
    """An error ended the run before its end was recorded: say ``failed``, keep the error."""
    if record["status"] != "running":
        return
    record.update(
        status="failed",
        finished_at=time.time(),
        tags=records.read_tags(opened.storage, flow, opened.run_id, record["tags"]),
    )
    try:
        records.write_run(opened.storage, flow, opened.run_id, record)
    except Exception:  # noqa: BLE001 - keep the original error
        pass


__all__ = ["launch"]
