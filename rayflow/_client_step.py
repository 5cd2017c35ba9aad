"""``Step``: one step of a run and its tasks, read in batches (Metaflow's Step)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from rayflow.datastore import TaskRecord, listing, pages, records

from . import _namespace as ns
from ._client_common import TASK_BATCH, NotFound, _split
from ._client_compat import StepCompat
from ._client_task import Task

if TYPE_CHECKING:
    from ._client_run import Run


class Step(StepCompat):
    """One step of a run; ``Step('Flow/run/step')`` checks at once that the step exists."""

    def __init__(self, pathspec: str, _lazy: bool = False, _namespace_check: bool = True) -> None:
        self.flow_name, self.run_id, self.id = _split(pathspec, 3, "Step")
        self.pathspec = "/".join([self.flow_name, self.run_id, self.id])
        if not _lazy:
            from ._client_run import Run

            run = Run(f"{self.flow_name}/{self.run_id}", _namespace_check=_namespace_check)
            if self.id not in run:
                raise NotFound(f"step {self.pathspec} not found in {ns.get_metadata()}")

    def tasks(self, *tags: str) -> list[Task]:
        """Every task with its record, read in batches (a few round trips per batch, not one
        per task); a task whose record is damaged or not written yet reads it on first use.
        With ``tags``, none unless the run has every one of them."""
        if tags and not set(tags) <= self.tags:
            return []
        storage = ns.storage()
        ids = records.list_tasks(storage, self.flow_name, self.run_id, self.id)
        held = (
            pages.read_pages(storage, self.flow_name, self.run_id, self.id)[self.id]
            if len(ids) >= pages.WORTH_IT
            else {}
        )
        out = []
        for start in range(0, len(ids), TASK_BATCH):
            chunk = ids[start : start + TASK_BATCH]
            found = listing.read_tasks(storage, self.flow_name, self.run_id, self.id, chunk, held)
            for t in chunk:
                rec = found.get(t)
                if isinstance(rec, TaskRecord):
                    out.append(Task(f"{self.pathspec}/{t}", _meta=rec, _lazy=True))
                else:
                    out.append(Task(f"{self.pathspec}/{t}", _lazy=True))
        return out

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def __getitem__(self, task_id: str) -> Task:
        task = Task(f"{self.pathspec}/{task_id}", _lazy=True)
        try:
            task._load()
        except NotFound:
            raise KeyError(f"step {self.pathspec} has no task '{task_id}'") from None
        return task

    @property
    def task(self) -> Task:
        ids = records.list_tasks(ns.storage(), self.flow_name, self.run_id, self.id)
        if not ids:
            raise NotFound(f"step {self.pathspec} has no tasks")
        return Task(f"{self.pathspec}/{ids[0]}", _lazy=True)

    @property
    def finished_at(self) -> datetime | None:
        times = [t.finished_at for t in self.tasks() if t.finished_at]
        return max(times) if times else None

    @property
    def parent(self) -> Run:
        """The step's run; reached from an object already in hand, so not checked against the
        namespace again (as in Metaflow, where pickled objects are walked in any namespace)."""
        from ._client_run import Run

        return Run(f"{self.flow_name}/{self.run_id}", _namespace_check=False)

    def __repr__(self) -> str:
        return f"Step('{self.pathspec}')"
