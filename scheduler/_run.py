"""``run_flow``: one flow run from start to its end (or its failures), recorded in run.json."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import cloudpickle

from rayflow.datastore import (
    BlobStore,
    DatastoreError,
    DatastoreURLError,
    LocalStorage,
    Storage,
    heartbeat_interval,
    open_storage,
    paths,
    records,
    settings,
)

from . import decorators
from ._crashrecord import record_crash
from ._errors import Interrupted, RayDied
from ._heartbeat import Heartbeat
from ._identity import TaskSpec, new_run_id, username
from ._result import TaskResult
from ._signals import Interrupts


@dataclass
class RunResult:
    flow: str
    run_id: str
    status: str
    datastore: str
    failures: list[tuple[str, dict]] = field(default_factory=list)
    executed: list[tuple[str, str]] = field(default_factory=list)
    cloned: list[tuple[str, str]] = field(default_factory=list)
    cached: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    ray_seconds: float | None = None  # spent starting Ray (or joining a cluster), when this run did
    ray_joined: bool = False  # Ray was a cluster joined, not an embedded instance started
    cancelled: list[str] = field(default_factory=list)  # labels of tasks --fail-fast stopped
    signum: int = 0  # the signal that interrupted the run (SIGINT or SIGTERM), else 0

    @property
    def pathspec(self) -> str:
        return f"{self.flow}/{self.run_id}"

    @property
    def successful(self) -> bool:
        return self.status == "successful"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        text = repr(value)
        return text if len(text) < 200 else text[:197] + "..."


def _unusable(storage: Storage, exc: OSError) -> DatastoreURLError:
    """One line for a datastore that failed when the run started (full disk, read-only...)."""
    text = exc.strerror or str(exc)
    return DatastoreURLError(f"datastore {storage.url} is not usable: {text[:1].lower()}{text[1:]}")


def _claim_run_id(storage: Storage, flow: str, run_id: str | None) -> str:
    if run_id is not None:
        paths.check_run_id(run_id)
        if records.run_exists(storage, flow, run_id):
            raise DatastoreURLError(f"run {flow}/{run_id} already exists in {storage.url}")
        return run_id
    for _ in range(20):
        candidate = new_run_id()
        if not records.run_exists(storage, flow, candidate):
            return candidate
    raise DatastoreURLError("could not find a free run id")


def _system_tags(flow_cls: type, user: str) -> list[str]:
    """Metaflow's system tags; ``@project`` adds its project and branch."""
    tags = [f"user:{user}", "runtime:dev", f"python_version:{platform.python_version()}"]
    project = getattr(flow_cls, "_rf_project", None)
    if project:
        branch = getattr(flow_cls, "_rf_project_branch", None) or f"user.{user}"
        tags += [f"project:{project}", f"project_branch:{branch}"]
    return tags


def _shown_path(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _class_bytes(flow_cls: type) -> bytes:
    module = sys.modules.get(flow_cls.__module__)
    if module is not None and flow_cls.__module__ != "__main__":
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:
            pass
    return cloudpickle.dumps(flow_cls)


def run_flow(flow_cls: type, plan: dict[str, dict[str, Any]], params: dict[str, Any],
             **options: Any) -> RunResult:
    """Run the flow to its end (or its failures); Ctrl-C and SIGTERM only set a flag the driver
    loop polls, so they end the run one defined way (see _signals)."""
    with Interrupts() as interrupts:
        return _run_flow(flow_cls, plan, params, interrupts=interrupts, **options)


def _run_flow(flow_cls: type, plan: dict[str, dict[str, Any]], params: dict[str, Any], *,
             interrupts: Interrupts, datastore: str, run_id: str | None = None, tags: tuple[str, ...] = (),
             max_workers: int | None = None, fail_fast: bool = False, cluster: str | None = None,
             flow_file: str | None = None, quiet: bool = False, out: TextIO | None = None,
             origin_run_id: str | None = None,
             cloner_factory: Callable[[Storage, str], Callable[[TaskSpec], TaskResult | None]] | None = None,
             extra: dict[str, Any] | None = None, run_id_file: str | None = None,
             runtime_env: dict[str, Any] | None = None, trial: Any = None,
             on_started: Callable[[str], None] | None = None,
             param_keys: dict[str, str] | None = None,
             should_stop: Callable[[], bool] | None = None, reporter: Any = None,
             shared_datastore: bool = False, cache: str = "auto",
             max_num_splits: int | None = None) -> RunResult:
    from ._cluster import check_cluster, cluster_runtime_env
    from ._codefiles import module_files
    from ._connect import cluster_cpus, connect, local_ray_died, resolve_address, shutdown
    from ._driver import Driver
    from ._planner import Planner
    from ._progress import Progress

    flow = flow_cls.__name__
    storage = open_storage(datastore, verify=True)
    blobs = BlobStore(storage, flow)
    user = username()
    try:
        run_id = _claim_run_id(storage, flow, run_id)
        if param_keys is None:
            param_keys = {attr: blobs.put(attr, value) for attr, value in params.items()}
    except DatastoreError:
        raise
    except OSError as exc:
        raise _unusable(storage, exc) from None
    # Join Ray and check the cluster against the plan before anything is recorded, so a
    # refused run leaves no run.json behind.
    local = isinstance(storage, LocalStorage)
    runtime_env, shipped, notes = cluster_runtime_env(cluster, flow_file, storage, runtime_env)
    if not quiet:  # before joining: uploading the folder is what the user waits for
        if shipped:
            print(f"rayflow: {shipped}", file=out or sys.stdout, flush=True)
        for note in notes:
            print(f"rayflow: note: {note}", file=sys.stderr)
    connecting = time.time()
    try:
        started_ray = connect(cluster, runtime_env=runtime_env)
    except SystemExit as exc:  # Ray's own SIGTERM handler while ray.init runs
        if exc.code == signal.SIGTERM:
            raise Interrupted(signal.SIGTERM) from None
        raise
    ray_seconds = time.time() - connecting if started_ray else None
    interrupts.install()  # again: ray.init took SIGTERM over
    interrupts.cancel_tasks = not started_ray  # else shutting Ray down ends the tasks
    try:
        shared = shared_datastore or settings.shared_datastore()
        check_cluster(plan, storage.url, local, shared)
        if interrupts.requested:
            raise Interrupted(interrupts.signum)
    except BaseException:
        shutdown(started_ray)
        raise
    started_at = time.time()
    record: dict[str, Any] = {
        "flow": flow, "run_id": run_id, "status": "running", "user": user, "tags": list(tags),
        "system_tags": _system_tags(flow_cls, user), "parameters": {k: _jsonable(v) for k, v in params.items()},
        "parameter_keys": param_keys, "created_at": started_at, "finished_at": None,
        "origin_run_id": origin_run_id, "plan": plan, "flow_file": flow_file,
        "python": platform.python_version(), "host": platform.node(),
        "heartbeat_interval": heartbeat_interval(),
    }
    record.update(extra or {})
    try:
        records.create_run(storage, flow, run_id, record)
    except BaseException as exc:
        shutdown(started_ray)
        if isinstance(exc, OSError) and not isinstance(exc, DatastoreError):
            raise _unusable(storage, exc) from None
        raise
    if run_id_file:
        with open(run_id_file, "w") as f:
            f.write(run_id)
    if on_started is not None:
        on_started(run_id)

    heartbeat = Heartbeat(storage, flow, run_id, record["heartbeat_interval"])
    class_bytes = _class_bytes(flow_cls)
    try:
        heartbeat.start()  # until the run's end is recorded (finally below)
        import ray

        record["ray_version"] = ray.__version__
        remote = bool(resolve_address(cluster))
        retries = {step: decorators.retry_policy(node, remote) for step, node in plan.items()}
        max_attempts = {step: times + 1 for step, (times, _) in retries.items()}
        ctx = {
            "flow": flow, "run_id": run_id, "root": storage.url, "plan": plan,
            "params": param_keys, "user": user, "tags": list(tags), "origin_run_id": origin_run_id,
            "max_attempts": max_attempts, "trial": trial, "reporter": reporter,
            "max_num_splits": max_num_splits,
            "flow_dir": os.path.dirname(os.path.abspath(flow_file)) if flow_file else None,
            "code_files": module_files(flow_cls),
            "decorator_classes": decorators.shipped_classes(plan),  # after _class_bytes: by value
        }
        run_key = hashlib.sha256(class_bytes + run_id.encode()).hexdigest()[:16]
        from ._executor import RayExecutor

        live = None
        if not quiet:
            from ._logsink import SinkReader

            live = SinkReader(run_id)
        executor = RayExecutor(ctx, class_bytes, run_key, sink=live.actor if live else None,
                               ray_died=local_ray_died)
        cpus = cluster_cpus()
        record["cpus"] = cpus  # parallel efficiency (rayflow._stats) needs the CPU count
        record["cluster"] = resolve_address(cluster) or "local"
        window = max_workers if max_workers else min(256, max(16, 8 * cpus))
        planner = Planner(plan)

        def on_crash(spec: TaskSpec, result: TaskResult) -> None:
            record_crash(storage, flow, run_id, spec, result)

        resume_cloner = cloner_factory(storage, run_id) if cloner_factory else None
        from ._cache import TaskCache

        cache_index = TaskCache(storage, flow, run_id, plan, param_keys, cache, flow_cls)

        def cloner(spec: TaskSpec) -> TaskResult | None:
            if resume_cloner is not None:
                found = resume_cloner(spec)
                if found is not None:
                    return found
            return cache_index.lookup(spec)

        steps = list(plan)
        with Progress(steps, out=out, quiet=quiet) as progress:
            driver = Driver(planner, executor, progress, window, fail_fast, retries,
                            on_crash=on_crash, cloner=cloner, live=live, should_stop=should_stop,
                            on_success=cache_index.record, interrupts=interrupts)
            try:
                outcome = driver.drive()
            except RayDied as exc:
                done = driver.outcome
                kept = len(done.executed) + len(done.cloned) + len(done.cached)
                shown = f" {_shown_path(flow_file)}" if flow_file else ""
                raise RayDied(f"the local Ray instance died ({exc}); {kept} finished task(s) are "
                              f"checkpointed; resume with: rayflow resume{shown} --origin-run-id "
                              f"{run_id}") from None
        ended = ("end", "0") in outcome.finished
        status = "successful" if ended and not outcome.failures else "failed"
        stopped = should_stop() if should_stop is not None else False
        if status == "failed" and stopped:  # "interrupted": the sweep driver got Ctrl-C
            status = "failed" if stopped == "interrupted" else "pruned"
        record.update(status=status, interrupted=outcome.interrupted or stopped == "interrupted",
                      finished_at=time.time(),
                      failed_tasks=[f"{s.step}/{s.task_id}" for s, _ in outcome.failures],
                      executed=len(outcome.executed), cloned=len(outcome.cloned),
                      cached=len(outcome.cached),
                      tags=records.read_tags(storage, flow, run_id, record["tags"]))
        records.write_run(storage, flow, run_id, record)
        return RunResult(flow, run_id, "interrupted" if outcome.interrupted else status, storage.url,
                         failures=[(s.label(), r.error or {}) for s, r in outcome.failures],
                         executed=outcome.executed, cloned=outcome.cloned, cached=outcome.cached,
                         seconds=time.time() - started_at, ray_seconds=ray_seconds,
                         ray_joined=bool(resolve_address(cluster)),
                         cancelled=[s.label() for s in outcome.cancelled],
                         signum=interrupts.signum if outcome.interrupted else 0)
    except BaseException:
        if record["status"] == "running":
            record.update(status="failed", finished_at=time.time(),
                          tags=records.read_tags(storage, flow, run_id, record["tags"]))
            try:
                records.write_run(storage, flow, run_id, record)
            except Exception:  # noqa: BLE001 - keep the original error
                pass
        raise
    finally:
        heartbeat.stop()
        shutdown(started_ray)
