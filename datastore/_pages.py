"""Done pages: copies of many finished task records in one file, so a reader of thousands of
tasks pays a few requests instead of one per task.

A task that ran writes its own record (``_taskrecord``), which stays the truth; a page only
repeats, in one file per step and up to ``PAGE_SIZE`` tasks, records that were already durable
and finished when the page was written (the driver writes pages from the results of tasks that
reported success). A finished record never changes, so a page cannot go stale. Pages are written
whole in one atomic write; a damaged or missing page only means its tasks are read one by one,
as in datastores written before pages.

One exception: the clones of a large resume on an object store (``PAGED_CLONES_FROM``) have no
record of their own: their page is their record (thousands of clone records would otherwise cost
a request each before the resume could go on). Readers follow: ``taskrecords`` reads a task with
no record file from its step's pages, and ``records.list_tasks`` lists paged tasks too.

Readers: a join over many inputs (its inputs' records), resume (the origin's finished tasks),
listings of a step's tasks, and any reader of a paged clone. Pages are immutable once written,
so a process keeps the ones it decoded (``_KEPT``).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from . import _paths
from ._errors import DamagedRecordError, DatastoreError
from ._storage import Storage
from ._taskrecord import TaskRecord

PAGE_SIZE = 1000
"""Records per page: about 0.5-1 MB of JSON, one request to write or read."""

WORTH_IT = 16
"""Below this many tasks, reading them one by one costs no more than reading the step's pages."""

PAGES_FORMAT = 1

PAGED_CLONES_FROM = 500
"""A resume cloning at least this many tasks at once on an object store writes their records
only in pages."""

_KEPT: OrderedDict[tuple[str, str], list[TaskRecord]] = OrderedDict()
_KEEP_PAGES = 32
_lock = threading.Lock()


def _step_of(name: str) -> str | None:
    """The step a page file belongs to, from its name ``<step>.<n>.json``."""
    parts = name.split(".")
    if (
        len(parts) != 3
        or parts[2] != "json"
        or not parts[1].isdigit()
        or not _paths.is_name(parts[0])
    ):
        return None
    return parts[0]


def read_pages(
    storage: Storage, flow: str, run_id: str, steps: list[str] | str, for_tasks: int | None = None
) -> dict[str, dict[str, TaskRecord]]:
    """The finished records the run's pages hold, per step and task id: one listing and one
    batch of reads. Damaged pages (and damaged entries) are passed over: their tasks are read
    from their own records by the caller.

    ``for_tasks``: how many tasks the caller wants. A step whose pages are many more than those
    tasks could fill (the inner step of a nested foreach, paged join by join) is not read: its
    pages would mostly hold other tasks, and reading the wanted ones alone costs less."""
    wanted = {steps} if isinstance(steps, str) else set(steps)
    out: dict[str, dict[str, TaskRecord]] = {step: {} for step in wanted}
    folder = _paths.pages_dir(flow, run_id)
    names = [n for n in storage.list_dir(folder) if _step_of(n) in wanted]
    if for_tasks is not None:
        limit = 2 * -(-for_tasks // PAGE_SIZE) + 1
        count: dict[str | None, int] = {}
        for n in names:
            count[_step_of(n)] = count.get(_step_of(n), 0) + 1
        names = [n for n in names if count[_step_of(n)] <= limit]
    if not names:
        return out
    paths = {name: f"{folder}/{name}" for name in names}
    with _lock:
        kept = {name: _KEPT.get((storage.url, path)) for name, path in paths.items()}
    missing = [path for name, path in paths.items() if kept[name] is None]
    raw = storage.read_many(missing) if missing else {}
    for name, path in paths.items():
        step = _step_of(name)
        assert step is not None
        records = kept[name]
        if records is None:
            data = raw.get(path)
            records = _decode(data, flow, run_id, step)
            if data is not None:
                _keep(storage.url, path, records)
        for record in records:
            out[step][record.task_id] = record
    return out


def _keep(url: str, path: str, records: list[TaskRecord]) -> None:
    with _lock:
        _KEPT[(url, path)] = records
        while len(_KEPT) > _KEEP_PAGES:
            _KEPT.popitem(last=False)


def paged_record(
    storage: Storage, flow: str, run_id: str, step: str, task_id: str
) -> TaskRecord | None:
    """A task's record from its step's pages (a paged clone has no other), None if none holds it."""
    return read_pages(storage, flow, run_id, step)[step].get(task_id)


def paged_steps(storage: Storage, flow: str, run_id: str) -> list[str]:
    """Steps that have pages."""
    names = storage.list_dir(_paths.pages_dir(flow, run_id))
    return sorted({step for step in map(_step_of, names) if step is not None})


def paged_ids(storage: Storage, flow: str, run_id: str, step: str) -> list[str]:
    """Task ids the step's pages hold."""
    return list(read_pages(storage, flow, run_id, step)[step])


def _decode(data: bytes | None, flow: str, run_id: str, step: str) -> list[TaskRecord]:
    if data is None:
        return []
    try:
        page = json.loads(data)
    except ValueError:
        return []
    if not isinstance(page, dict) or not isinstance(page.get("records"), list):
        return []
    found = []
    for item in page["records"]:
        if not isinstance(item, dict):
            continue
        try:
            record = TaskRecord.from_json(item)
        except (DamagedRecordError, TypeError, ValueError):
            continue
        # Only what a page may hold: a finished format-2 record of this very run and step.
        if (
            record.finished
            and record.format >= 2
            and record.flow == flow
            and record.run_id == run_id
            and record.step == step
        ):
            found.append(record)
    return found


class PageWriter:
    """Collects finished records (as JSON objects) and writes them a page at a time.

    Held by the driver. ``add`` only after the record itself is durable; ``flush`` writes what
    is pending (before a join that will read the pages, and when the run ends). A failed page
    write is not an error of the run: the records it would have repeated are all stored.
    """

    def __init__(self, storage: Storage, flow: str, run_id: str) -> None:
        self.storage = storage
        self.flow = flow
        self.run_id = run_id
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._numbers: dict[str, int] = {}
        self._counts: dict[str, int] = {}  # finished records seen per step
        self._lock = threading.Lock()  # resume writes paged clones from its own thread

    def add(self, record: dict[str, Any] | None) -> None:
        if not record or not record.get("finished") or record.get("run_id") != self.run_id:
            return
        step = record.get("step")
        if not isinstance(step, str):
            return
        with self._lock:
            pending = self._pending.setdefault(step, [])
            pending.append(record)
            self._counts[step] = self._counts.get(step, 0) + 1
            full = len(pending) >= PAGE_SIZE
        if full:
            self.flush([step])

    def write_now(self, records: list[dict[str, Any]]) -> None:
        """Write these finished records in pages at once, raising if that fails: the records of
        paged clones, which have no other record."""
        files: dict[str, bytes] = {}
        by_step: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_step.setdefault(record["step"], []).append(record)
        with self._lock:
            for step, group in by_step.items():
                self._counts[step] = self._counts.get(step, 0) + len(group)
                for start in range(0, len(group), PAGE_SIZE):
                    files.update(self._page(step, group[start : start + PAGE_SIZE]))
        self.storage.write_many(files)

    def flush(self, steps: list[str] | None = None) -> None:
        """Write the pending records of ``steps`` (all by default) in one batch. A step with
        fewer than ``WORTH_IT`` tasks gets no page: no reader would look for one."""
        files: dict[str, bytes] = {}
        with self._lock:
            for step in list(self._pending) if steps is None else steps:
                if self._counts.get(step, 0) < WORTH_IT:
                    continue
                records = self._pending.pop(step, None)
                if records:
                    files.update(self._page(step, records))
        if not files:
            return
        try:
            self.storage.write_many(files)
        except (OSError, DatastoreError):
            pass  # an optimisation only: readers read these tasks' own records instead

    def _page(self, step: str, records: list[dict[str, Any]]) -> dict[str, bytes]:
        """The next page file of ``step`` (called under the lock)."""
        number = self._numbers.get(step, 0)
        self._numbers[step] = number + 1
        page = {
            "format": PAGES_FORMAT,
            "flow": self.flow,
            "run_id": self.run_id,
            "step": step,
            "records": records,
        }
        return {
            _paths.page_file(self.flow, self.run_id, step, number): json.dumps(
                page, separators=(",", ":"), default=str
            ).encode()
        }
