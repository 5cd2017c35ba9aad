"""How parallel a run was: wall time, task time, efficiency, scheduling latency, critical path.

Everything is computed from the records the scheduler writes for every task attempt (``ready_at``,
``started_at``, ``finished_at``, node, worker pid, status, inputs) and from run.json (created and
finished times, the plan, the CPU count). Nothing here talks to Ray.

Definitions a caller can rely on:
- *wall time*: run.json ``finished_at - created_at`` (a run still going: up to its latest record).
- *task time*: the sum of ``finished_at - started_at`` over every attempt that ran in this run,
  failed ones included; cloned tasks (resume) and cached tasks ran elsewhere and count zero.
- *parallel efficiency*: task time / (wall time x CPUs). CPUs are the ones Ray reported when the
  run started (``cpus`` in run.json); for older runs, the peak number of attempts seen running at
  once, a lower bound (so the efficiency is then an upper bound).
- *scheduling latency*: ``started_at - ready_at`` per attempt (when the driver made it ready to
  when the task body began): the driver's and Ray's overhead, plus the wait for a free CPU when
  more tasks are ready than CPUs (a 1,000-split foreach on 2 CPUs waits long by design). For a
  retry, the planned pause between attempts is not counted.
- *critical path*: the chain of tasks, following each task's ``inputs``, whose run times add up to
  the most; what the run would take with unlimited CPUs and no overhead.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rayflow.datastore import MissingRecordError, Storage, TaskRecord, records, taskrecords
from rayflow.scheduler import decorators

from ._critpath import critical_path, peak_concurrency, percentile


@dataclass
class Attempt:
    """One attempt of one task, as its meta file recorded it."""

    step: str
    task_id: str
    attempt: int
    status: str  # "done" or "failed"
    ready_at: float | None
    started_at: float | None
    finished_at: float | None
    node_id: str = ""
    host: str = ""
    pid: int | None = None
    inputs: list[tuple[str, str]] = field(default_factory=list)
    cloned: bool = False  # resumed or cached: its record points at another run's work
    retried: bool = False  # a later attempt of the same task exists
    error: str | None = None  # exception type: message
    retry_delay: float = 0.0  # planned pause before this attempt (retries only)

    @property
    def key(self) -> tuple[str, str]:
        return (self.step, self.task_id)

    @property
    def label(self) -> str:
        return f"{self.step}/{self.task_id}"

    @property
    def failed(self) -> bool:
        return self.status != "done"

    @property
    def duration(self) -> float | None:
        """Seconds the task body ran; None when the worker died before it said when it began."""
        if self.cloned or self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - self.started_at)

    @property
    def latency(self) -> float | None:
        """Seconds between ready (plus any planned retry pause) and start."""
        if self.cloned or self.started_at is None or self.ready_at is None:
            return None
        return max(0.0, self.started_at - self.ready_at - self.retry_delay)

    def row(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "task_id": self.task_id,
            "attempt": self.attempt,
            "status": self.status,
            "cloned": self.cloned,
            "retried": self.retried,
            "ready_at": self.ready_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "latency": self.latency,
            "node_id": self.node_id,
            "host": self.host,
            "pid": self.pid,
            "error": self.error,
        }


@dataclass
class StepStats:
    step: str
    tasks: int = 0
    attempts: int = 0
    failed: int = 0
    cloned: int = 0
    task_s: float = 0.0
    max_s: float = 0.0


@dataclass
class RunStats:
    flow: str
    run_id: str
    status: str
    created_at: float | None
    finished_at: float | None
    wall_s: float
    task_s: float
    cpus: int
    cpus_recorded: bool
    efficiency: float | None
    latency_median_s: float | None
    latency_p95_s: float | None
    critical_path: list[tuple[str, str]]
    critical_path_s: float
    attempts: list[Attempt]
    steps: list[StepStats]
    peak_running: int

    @property
    def tasks(self) -> int:
        return len({a.key for a in self.attempts})

    @property
    def failed_attempts(self) -> int:
        return sum(1 for a in self.attempts if a.failed)

    @property
    def retried_tasks(self) -> int:
        return len({a.key for a in self.attempts if a.attempt > 0})

    @property
    def cloned_tasks(self) -> int:
        return sum(1 for a in self.attempts if a.cloned)

    @property
    def nodes(self) -> list[str]:
        return sorted(
            {a.node_id or a.host for a in self.attempts if not a.cloned and (a.node_id or a.host)}
        )

    @property
    def workers(self) -> int:
        return len(
            {(a.node_id, a.pid) for a in self.attempts if not a.cloned and a.pid is not None}
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "run_id": self.run_id,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "wall_s": self.wall_s,
            "task_s": self.task_s,
            "cpus": self.cpus,
            "cpus_recorded": self.cpus_recorded,
            "efficiency": self.efficiency,
            "latency_median_s": self.latency_median_s,
            "latency_p95_s": self.latency_p95_s,
            "critical_path": [f"{s}/{t}" for s, t in self.critical_path],
            "critical_path_s": self.critical_path_s,
            "peak_running": self.peak_running,
            "tasks": self.tasks,
            "failed_attempts": self.failed_attempts,
            "retried_tasks": self.retried_tasks,
            "cloned_tasks": self.cloned_tasks,
            "nodes": len(self.nodes),
            "workers": self.workers,
            "attempts": [a.row() for a in self.attempts],
        }


# -- reading ---------------------------------------------------------------------------------
def _retry_delay(plan: dict[str, Any], step: str, remote: bool) -> float:
    # The pause planned before a retry: on a cluster only (a local run retries at once).
    try:
        return decorators.retry_policy(plan.get(step) or {}, remote)[1]
    except (TypeError, ValueError, AttributeError):  # a hand-edited run.json
        return 0.0


def _attempt(meta: TaskRecord, retry_delay: float) -> Attempt:
    error = meta.exception
    text = None
    if error:
        text = (
            f"{error.get('type', 'Error')}: {error.get('message', '')}"
            if isinstance(error, dict)
            else str(error)
        )
    return Attempt(
        step=meta.step,
        task_id=meta.task_id,
        attempt=meta.attempt,
        status="done" if meta.status in ("done", "running") else "failed",
        ready_at=meta.ready_at,
        started_at=meta.started_at,
        finished_at=meta.finished_at,
        node_id=meta.node_id or "",
        host=meta.host or "",
        pid=meta.pid,
        inputs=[(str(s), str(t)) for s, t in meta.inputs],
        cloned=meta.reused,
        error=text,
        retry_delay=retry_delay if meta.attempt > 0 else 0.0,
    )


def _task_attempts(
    storage: Storage, flow: str, run_id: str, step: str, task_id: str, delay: float
) -> list[Attempt]:
    out = []
    for number in taskrecords.attempts(storage, flow, run_id, step, task_id):
        try:
            meta = taskrecords.read_attempt(storage, flow, run_id, step, task_id, number, None)
        except (MissingRecordError, ValueError):
            continue
        out.append(_attempt(meta, delay))
    for a in out[:-1]:
        a.retried = True
    return out


def load_attempts(
    storage: Storage,
    flow: str,
    run_id: str,
    plan: dict[str, Any] | None = None,
    threads: int = 16,
    remote: bool = True,
) -> list[Attempt]:
    """Every recorded attempt of every task of a run (read in parallel: remote stores are slow)."""
    plan = plan or {}
    jobs = [
        (step, task_id)
        for step in records.list_steps(storage, flow, run_id)
        for task_id in records.list_tasks(storage, flow, run_id, step)
    ]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        found = pool.map(
            lambda job: _task_attempts(
                storage, flow, run_id, job[0], job[1], _retry_delay(plan, job[0], remote)
            ),
            jobs,
        )
        return [a for group in found for a in group]


# -- computing -------------------------------------------------------------------------------
def compute(record: dict[str, Any], attempts: list[Attempt]) -> RunStats:
    """The numbers of one run from its run.json record and its attempts (pure: no I/O)."""
    plan = record.get("plan") or {}
    order = {s: i for i, s in enumerate(plan)}
    attempts = sorted(
        attempts,
        key=lambda a: (
            order.get(a.step, len(order)),
            a.step,
            tuple(int(p) for p in a.task_id.split(".")),
            a.attempt,
        ),
    )
    ran = [a for a in attempts if a.duration is not None]
    created = record.get("created_at")
    ends = [a.finished_at for a in attempts if a.finished_at]
    finished = record.get("finished_at") or (max(ends) if ends else None)
    if created is None:
        starts = [a.ready_at or a.started_at for a in attempts if a.ready_at or a.started_at]
        created = min(starts) if starts else None
    wall = max(0.0, finished - created) if created and finished else 0.0
    task_s = sum(a.duration or 0.0 for a in ran)
    peak = peak_concurrency(ran)
    recorded = record.get("cpus")
    cpus = int(recorded) if recorded else max(1, peak)
    efficiency = task_s / (wall * cpus) if wall > 0 else None
    latencies = [a.latency for a in attempts if a.latency is not None]
    path, path_s = critical_path(attempts)
    steps: dict[str, StepStats] = {}
    for a in attempts:
        s = steps.setdefault(a.step, StepStats(a.step))
        s.attempts += 1
        s.failed += a.failed
        s.cloned += a.cloned
        if not a.retried:
            s.tasks += 1
        s.task_s += a.duration or 0.0
        s.max_s = max(s.max_s, a.duration or 0.0)
    return RunStats(
        flow=record.get("flow", ""),
        run_id=record.get("run_id", ""),
        status=record.get("status", "unknown"),
        created_at=created,
        finished_at=finished,
        wall_s=wall,
        task_s=task_s,
        cpus=cpus,
        cpus_recorded=bool(recorded),
        efficiency=efficiency,
        latency_median_s=statistics.median(latencies) if latencies else None,
        latency_p95_s=percentile(latencies, 95),
        critical_path=path,
        critical_path_s=path_s,
        attempts=attempts,
        steps=list(steps.values()),
        peak_running=peak,
    )


def run_stats(run: Any) -> RunStats:
    """Stats of a client ``Run`` (or a ``Flow/run_id`` pathspec), read from its datastore."""
    from . import _namespace as ns
    from ._client import Run

    if isinstance(run, str):
        run = Run(run)
    storage = ns.storage()
    record = run.record  # its status as readers show it (a dead driver's run: crashed)
    remote = record.get("cluster", "remote") != "local"  # runs recorded before "cluster": remote
    return compute(
        record, load_attempts(storage, run.flow_name, run.id, record.get("plan"), remote=remote)
    )


__all__ = [
    "Attempt",
    "RunStats",
    "StepStats",
    "compute",
    "critical_path",
    "load_attempts",
    "percentile",
    "run_stats",
]
