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

import math
import statistics
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rayflow.datastore import MissingRecordError, Storage, TaskRecord, records, taskrecords
from rayflow.scheduler import decorators


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
def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    data = sorted(values)
    if not data:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(data)))
    return data[min(rank, len(data)) - 1]


def peak_concurrency(attempts: Iterable[Attempt]) -> int:
    events = []
    for a in attempts:
        if a.duration is not None:
            events += [(a.started_at, 1), (a.finished_at, -1)]
    peak = running = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    return peak


def critical_path(attempts: list[Attempt]) -> tuple[list[tuple[str, str]], float]:
    """The chain of tasks (start first) whose run times add up to the most, and that sum.

    A task's weight is the run time of all its attempts (retries run one after another); cloned
    tasks weigh nothing. Ties go to the input that finished last.
    """
    weight: dict[tuple[str, str], float] = {}
    inputs: dict[tuple[str, str], list[tuple[str, str]]] = {}
    finished: dict[tuple[str, str], float] = {}
    for a in attempts:
        weight[a.key] = weight.get(a.key, 0.0) + (a.duration or 0.0)
        if a.inputs or a.key not in inputs:
            inputs[a.key] = [i for i in a.inputs]
        finished[a.key] = max(finished.get(a.key, 0.0), a.finished_at or 0.0)
    for key in inputs:
        inputs[key] = [i for i in inputs[key] if i in weight]
    children: dict[tuple[str, str], list[tuple[str, str]]] = {k: [] for k in weight}
    missing = {k: len(v) for k, v in inputs.items()}
    for key, ins in inputs.items():
        for i in ins:
            children[i].append(key)
    todo = [k for k, n in missing.items() if n == 0]
    best: dict[tuple[str, str], float] = {}
    via: dict[tuple[str, str], tuple[str, str] | None] = {}
    while todo:
        key = todo.pop()
        ins = inputs[key]
        if ins:
            prev = max(ins, key=lambda i: (best[i], finished.get(i, 0.0)))
            best[key], via[key] = best[prev] + weight[key], prev
        else:
            best[key], via[key] = weight[key], None
        for child in children[key]:
            missing[child] -= 1
            if missing[child] == 0:
                todo.append(child)
    if not best:
        return [], 0.0
    tail: tuple[str, str] | None = max(best, key=lambda k: (best[k], finished.get(k, 0.0)))
    total = best[tail]
    path = []
    while tail is not None:
        path.append(tail)
        tail = via[tail]
    return path[::-1], total


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


# -- text ------------------------------------------------------------------------------------
def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0 s"
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.001 else f"{value * 1000:.2f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{int(value // 60)}m{value % 60:04.1f}s"


def path_text(path: list[tuple[str, str]], limit: int = 12) -> str:
    labels = [f"{s}/{t}" for s, t in path]
    if len(labels) > limit:
        labels = labels[: limit // 2] + ["..."] + labels[-limit // 2 :]
    return " -> ".join(labels) if labels else "-"


def _n(count: int, word: str) -> str:
    return (
        f"{count} {word}" if count == 1 else f"{count} {word}{'es' if word.endswith('s') else 's'}"
    )


def summary_lines(stats: RunStats) -> list[tuple[str, str]]:
    """(label, value) pairs: the numbers shown by ``show --stats`` and above the timeline."""
    cpus = (
        f"{stats.cpus} (recorded)"
        if stats.cpus_recorded
        else f"{stats.cpus} (estimated: most attempts seen running at once)"
    )
    eff = f"{100 * stats.efficiency:.0f}%" if stats.efficiency is not None else "-"
    ran = sum(1 for a in stats.attempts if a.duration is not None)
    lines = [
        ("wall time", seconds(stats.wall_s)),
        (
            "task time",
            f"{seconds(stats.task_s)} in {_n(ran, 'attempt')} of {_n(stats.tasks, 'task')}"
            + (f" ({stats.failed_attempts} failed)" if stats.failed_attempts else ""),
        ),
        ("CPUs", cpus),
        (
            "parallel efficiency",
            f"{eff}  (task time / (wall time x CPUs); at most {stats.peak_running} ran at once)",
        ),
        (
            "scheduling latency",
            f"median {seconds(stats.latency_median_s)}, "
            f"p95 {seconds(stats.latency_p95_s)}  (ready -> start)",
        ),
        ("critical path", f"{seconds(stats.critical_path_s)}: {path_text(stats.critical_path)}"),
        ("workers", f"{_n(stats.workers, 'worker process')} on {_n(len(stats.nodes), 'node')}"),
    ]
    if stats.retried_tasks:
        lines.append(("retried", _n(stats.retried_tasks, "task")))
    if stats.cloned_tasks:
        lines.append(
            ("cloned", f"{_n(stats.cloned_tasks, 'task')} reused from earlier runs (no run time)")
        )
    lost = sum(1 for a in stats.attempts if not a.cloned and a.started_at is None)
    if lost:
        lines.append(
            ("unknown start", f"{_n(lost, 'attempt')} whose worker died (not in task time)")
        )
    return lines


def stats_text(run: Any) -> str:
    """The parallelism report of a run as plain text (``rayflow show RUN --stats``)."""
    stats = run if isinstance(run, RunStats) else run_stats(run)
    head = [f"run {stats.flow}/{stats.run_id}  ({stats.status})"]
    width = max(len(label) for label, _ in summary_lines(stats))
    head += [f"  {label.ljust(width)}  {value}" for label, value in summary_lines(stats)]
    cols = ["step", "tasks", "attempts", "failed", "task time", "max"]
    rows = [
        [s.step, str(s.tasks), str(s.attempts), str(s.failed), seconds(s.task_s), seconds(s.max_s)]
        for s in stats.steps
    ]
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)
    ]
    fmt = "  " + "  ".join(("{:<%d}" if i == 0 else "{:>%d}") % w for i, w in enumerate(widths))
    table = [fmt.format(*cols)] + [fmt.format(*r) for r in rows]
    return "\n".join(head + [""] + table)


__all__ = [
    "Attempt",
    "RunStats",
    "StepStats",
    "compute",
    "critical_path",
    "load_attempts",
    "percentile",
    "run_stats",
    "stats_text",
    "summary_lines",
]
