"""Resume: a new run that clones every task the origin already finished, and runs the rest.

A task is cloned when its counterpart (same step, same task id) finished in the origin, its
inputs in the new run are exactly the origin's inputs and were themselves cloned, and its step
kept its shape. Cloning (``_clone``) writes a new task record pointing at the same blobs: nothing
is copied or recomputed, and a resume of a resume still finds everything that ever finished.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from rayflow.datastore import DamagedRecordError, Storage, open_storage, pages, records

from ._clone import choose_clones, clone_task, write_clones
from ._errors import ResumeError
from ._identity import TaskSpec
from ._result import TaskResult


def latest_run(storage: Storage, flow: str) -> tuple[str, dict[str, Any], list[str]]:
    """The newest run whose run.json can be read, its record, and a note per damaged run.json
    passed over: a damaged record is treated as missing (a run that left no record is no origin)."""
    runs = records.list_runs(storage, flow)
    skipped: list[str] = []
    for run_id in reversed(runs):
        try:
            return run_id, records.read_run(storage, flow, run_id), skipped
        except DamagedRecordError as exc:
            skipped.append(f"run {flow}/{run_id} passed over: {exc}")
    if skipped:
        raise ResumeError(
            f"no run of {flow} in {storage.url} has a readable run.json to resume "
            f"({'; '.join(skipped)})"
        )
    raise ResumeError(f"no run of {flow} found in {storage.url} to resume")


def downstream(plan: dict[str, dict[str, Any]], step: str) -> set[str]:
    if step not in plan:
        raise ResumeError(f"resume: the flow has no step '{step}' (steps: {', '.join(plan)})")
    seen = {step}
    todo = [step]
    while todo:
        for target in plan[todo.pop()]["out"]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _shape(node: dict[str, Any]) -> tuple:
    return (tuple(node["out"]), node["foreach"], node["is_join"], node.get("condition"))


def shape_changes(origin_plan: dict[str, Any], plan: dict[str, Any]) -> tuple[set[str], list[str]]:
    """Steps that cannot be cloned because the graph changed, and messages saying why."""
    changed: set[str] = set()
    notes: list[str] = []
    for step in origin_plan:
        if step not in plan:
            notes.append(f"step '{step}' no longer exists; its tasks in the origin are not cloned")
    for step, node in plan.items():
        if step not in origin_plan:
            notes.append(f"step '{step}' is new; it and the steps after it run")
            changed |= downstream(plan, step)
        elif _shape(origin_plan[step]) != _shape(node):
            notes.append(
                f"step '{step}' changed its transitions since the origin run; "
                "it and the steps after it run again"
            )
            changed |= downstream(plan, step)
    return changed, notes


class Cloner:
    """Called by the driver for every ready task; returns a result for a clone, else None.

    ``prepare`` clones at once every task waiting in the ready queue with the one asked about
    (``_clone.clone_many``: one batch of reads, one of writes, in a thread), and puts the clones
    behind the tasks that must run, so those start while the clone records are being written.
    A batched task's result is handed out only once the whole batch is written.
    """

    def __init__(
        self,
        storage: Storage,
        flow: str,
        origin_run_id: str,
        new_run_id: str,
        rerun: set[str],
        writer: pages.PageWriter | None = None,
    ) -> None:
        self.storage = storage
        self.writer = writer  # the run's done pages: where many clones are written at once
        self.flow = flow
        self.origin = origin_run_id
        self.run_id = new_run_id
        self.rerun = rerun
        self.cloned: set[tuple[str, str]] = set()
        self._batched: dict[tuple[str, str], Future] = {}
        self._refused: set[tuple[str, str]] = set()  # looked at in a batch: not cloneable
        self._pool: ThreadPoolExecutor | None = None

    def _candidate(self, spec: TaskSpec) -> bool:
        return (
            spec.attempt == 0
            and spec.step not in self.rerun
            and all(tuple(i) in self.cloned for i in spec.inputs)
        )

    def prepare(self, spec: TaskSpec, ready: deque[TaskSpec]) -> bool:
        """Clone ``spec`` and every other candidate waiting in ``ready`` together: decide which
        can be cloned (reads), start writing their records in a thread, and put them behind the
        tasks that will run. True when ``spec`` went back into ``ready``."""
        if spec.key in self._batched or spec.key in self._refused or not self._candidate(spec):
            return False
        batch = [spec] + [
            s
            for s in ready
            if s.key not in self._batched and s.key not in self._refused and self._candidate(s)
        ]
        if len(batch) < 2:
            return False
        chosen = choose_clones(self.storage, self.flow, self.origin, batch)
        taken = {s.key for s, _, _ in chosen}
        self._refused |= {s.key for s in batch if s.key not in taken}
        if not chosen:
            return False
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rayflow-clone")
        future = self._pool.submit(write_clones, self.storage, chosen, self.run_id, self.writer)
        for key in taken:
            self._batched[key] = future
        rest = [s for s in ready if s.key not in taken]
        # ``spec`` itself goes back only when tasks that run are waiting before it; else (and
        # when it runs) the driver goes on with it now.
        requeue = bool(rest) and spec.key in taken
        clones = [s for s in batch[1:] if s.key in taken]
        ready.clear()
        ready.extend(rest + clones + ([spec] if requeue else []))
        return requeue

    def __call__(self, spec: TaskSpec) -> TaskResult | None:
        future = self._batched.pop(spec.key, None)
        if future is not None:
            result = future.result().get(spec.key)
            if result is not None:
                self.cloned.add(spec.key)
            return result
        if spec.key in self._refused or not self._candidate(spec):
            return None
        # A damaged or unfinished record (or a lost foreach list) is not a finished task: the
        # task runs again, as if it had failed.
        result = clone_task(
            self.storage,
            self.flow,
            self.origin,
            spec.task_id,
            spec,
            self.run_id,
            same_position=True,
        )
        if result is not None:
            self.cloned.add(spec.key)
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def prepare_resume(
    datastore: str, flow: str, plan: dict[str, Any], origin_run_id: str | None, step: str | None
) -> tuple[dict, set[str], list[str]]:
    """Find the origin run and what must run again; raise ResumeError when it cannot be done."""
    storage = open_storage(datastore)
    skipped: list[str] = []
    if origin_run_id is None:
        origin_run_id, record, skipped = latest_run(storage, flow)
    else:
        record = records.read_run(storage, flow, origin_run_id)
    rerun, notes = shape_changes(record.get("plan") or {}, plan)
    notes[:0] = skipped
    status = records.with_effective_status(storage, flow, origin_run_id, record).get("status")
    if status == "crashed":
        notes.insert(
            0,
            "the origin run crashed (its driver stopped without recording an end); "
            "every task it finished is cloned",
        )
    elif status == "running":
        notes.insert(
            0, "the origin run is still running: only the tasks it has finished so far are cloned"
        )
    if step is not None:
        rerun |= downstream(plan, step)
    return record, rerun, notes


def cloner_factory(
    flow: str, origin_run_id: str, rerun: set[str]
) -> Callable[[Storage, str], Cloner]:
    def make(storage: Storage, new_run_id: str) -> Cloner:
        return Cloner(storage, flow, origin_run_id, new_run_id, rerun)

    return make
