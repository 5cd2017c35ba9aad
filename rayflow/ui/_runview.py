"""The run page's live part: every task's state, per-step counts, and what is still to come.

Task records are read a step at a time in one batch (``rayflow.datastore.listing``, which
chooses records as ``taskrecords`` does). A finished task's record never changes again, so it is
cached (``DoneCache``): while a run is polled every second or two, only the tasks that are not
done yet are read again.

While a run is running, tasks that are queued or running have no record yet. Their number is
derived the way the scheduler's planner derives it: every done task names the steps it leads to
(``next``) and how many splits it fans out to (``foreach.n``); a join is due once all of its
inputs are done. So "running" counts tasks that are due (queued or running) plus failed attempts
that will be retried.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rayflow import _namespace as ns
from rayflow._client import Run
from rayflow.datastore import TaskRecord, listing, records
from rayflow.scheduler import decorators

from ._model import parallel_map

STATES = ("done", "running", "failed", "cloned", "cached")


class DoneCache:
    """Records of done tasks by pathspec (immutable once done), bounded by ``limit`` entries."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._data: dict[tuple[str, ...], TaskRecord] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> TaskRecord | None:
        return self._data.get(key)

    def put(self, key: tuple[str, ...], meta: TaskRecord) -> None:
        with self._lock:
            if len(self._data) >= self.limit:
                self._data.clear()
            self._data[key] = meta


@dataclass
class TaskRow:
    step: str
    id: str
    meta: TaskRecord
    done: bool
    state: str = "running"

    @property
    def attempt(self) -> int:
        return self.meta.attempt

    @property
    def started_at(self) -> float | None:
        return self.meta.started_at

    @property
    def finished_at(self) -> float | None:
        return self.meta.finished_at

    @property
    def ready_at(self) -> float | None:
        return self.meta.ready_at

    @property
    def node(self) -> str:
        host = self.meta.host or ""
        node_id = (self.meta.node_id or "")[:8]
        return " ".join(p for p in (host, node_id) if p) or "-"

    @property
    def exception(self) -> str:
        exc = self.meta.exception
        if isinstance(exc, dict):
            return f"{exc.get('type', '')}: {exc.get('message', '')}"
        return str(exc) if exc else ""


@dataclass
class StepRow:
    name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    total: int = 0
    status: str = "pending"
    start: float | None = None
    end: float | None = None
    tasks: list[TaskRow] = field(default_factory=list)


@dataclass
class RunView:
    run: Run
    record: dict[str, Any]
    plan: dict[str, Any]
    steps: list[StepRow]
    tasks: list[TaskRow]

    @property
    def status(self) -> str:
        return str(self.record.get("status", "unknown"))

    @property
    def running(self) -> bool:
        return self.status == "running"

    def counts(self) -> dict[str, int]:
        total = dict.fromkeys(STATES, 0)
        for s in self.steps:
            for k, v in s.counts.items():
                total[k] += v
        return total


def _state(meta: TaskRecord, done: bool, retries_left: bool) -> str:
    if done:
        if meta.cached:
            return "cached"
        if meta.origin or meta.cloned:
            return "cloned"
        return "done"
    if meta.status == "failed" or meta.exception:
        return "running" if retries_left else "failed"
    return "running"


def _read_step(flow: str, run_id: str, step: str, cache: DoneCache) -> list[TaskRow]:
    """The step's tasks: done ones from the cache, the others read in one batch. A task in
    flight that left no record yet, or whose record is damaged, is left out."""
    storage = ns.storage()
    rows: dict[str, TaskRow] = {}
    unread = []
    task_ids = records.list_tasks(storage, flow, run_id, step)
    for task_id in task_ids:
        meta = cache.get((flow, run_id, step, task_id))
        if meta is not None:
            rows[task_id] = TaskRow(step, task_id, meta, True)
        else:
            unread.append(task_id)
    for task_id, rec in listing.read_tasks(storage, flow, run_id, step, unread).items():
        if isinstance(rec, TaskRecord):
            if rec.finished:
                cache.put((flow, run_id, step, task_id), rec)
            rows[task_id] = TaskRow(step, task_id, rec, rec.finished)
    return [rows[t] for t in task_ids if t in rows]


def _frames(task: TaskRow) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(f) for f in task.meta.frames)


def _due(plan: dict[str, Any], by_step: dict[str, list[TaskRow]]) -> dict[str, int]:
    """How many tasks of each step the planner has made ready so far (see module docstring)."""
    due: dict[str, int] = {}
    preds: dict[str, list[str]] = defaultdict(list)
    for name, node in plan.items():
        for target in node.get("out") or []:
            preds[target].append(name)
    for name, node in plan.items():
        if node.get("type") == "start" or not preds[name]:
            due[name] = 1
            continue
        done = [
            t for p in preds[name] for t in by_step.get(p, []) if t.done and name in t.meta.next
        ]
        if not node.get("is_join"):
            due[name] = sum(int((t.meta.foreach or {}).get("n", 1)) for t in done)
            continue
        split = plan.get(node.get("closes") or "", {})
        groups: dict[tuple, set] = defaultdict(set)
        need: dict[tuple, int] = {}
        for t in done:
            frames = _frames(t)
            if split.get("split_kind") == "foreach" and frames:
                key, slot, n = frames[:-1], frames[-1][1], int(frames[-1][2])
            else:
                key, slot, n = frames, t.step, len(split.get("out") or [1])
            groups[key].add(slot)
            need[key] = n
        due[name] = sum(1 for k, got in groups.items() if len(got) >= need[k])
    return due


def run_view(run: Run, cache: DoneCache) -> RunView:
    record = run.record
    plan = record.get("plan") or {}
    storage = ns.storage()
    flow, run_id = run.flow_name, run.id
    present = records.list_steps(storage, flow, run_id)
    order = [s for s in plan if s in present] + sorted(set(present) - set(plan))
    order += [s for s in plan if s not in order]
    rows = [
        r
        for rows in parallel_map(lambda s: _read_step(flow, run_id, s, cache), present)
        for r in rows
    ]
    running = record.get("status") == "running"
    by_step: dict[str, list[TaskRow]] = defaultdict(list)
    for row in rows:
        times = decorators.retry_policy(plan.get(row.step) or {}, remote=False)[0]
        row.state = _state(row.meta, row.done, running and row.attempt < times)
        by_step[row.step].append(row)
    due = _due(plan, by_step) if running and plan else {}
    steps = []
    for name in order:
        step = StepRow(name)
        tasks = by_step.get(name, [])
        for t in tasks:
            step.counts[t.state] += 1
        step.counts["running"] += max(0, due.get(name, 0) - len(tasks))
        step.total = sum(step.counts.values())
        starts = [t.started_at for t in tasks if t.started_at]
        ends = [t.finished_at for t in tasks if t.finished_at]
        step.start, step.end = (min(starts) if starts else None), (max(ends) if ends else None)
        c = step.counts
        if c["failed"]:
            step.status = "failed"
        elif c["running"]:
            step.status = "running"
        elif step.total:
            step.status = "done"
        step.tasks = tasks
        steps.append(step)
    ordered = [t for s in steps for t in s.tasks]
    return RunView(run, record, plan, steps, ordered)
