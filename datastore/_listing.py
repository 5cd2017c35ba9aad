"""Many records at once, for listings: a flow's runs, a step's tasks.

On an object store each read is a round trip of tens of milliseconds, so a listing that reads
1,000 ``run.json`` files one after another takes most of a minute. Here every stage of a listing
is one batch (``Storage.read_many``: concurrent requests on remote backends), so a listing costs
a few round trips whatever its length: run records, then the heartbeats of those that say
``running``; for tasks, the step's done pages (``_pages``), then for tasks they do not hold,
format 1's done markers and the attempts of each task, then the records.

Answers follow the one-record readers of ``_records`` exactly (same statuses, same attempt
chosen, same damaged-record messages); only the number of round trips differs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _paths, _tags
from ._errors import DamagedRecordError
from ._local import LocalStorage
from ._pages import WORTH_IT, read_pages
from ._records import decode, describe, json_object, shown_with
from ._storage import Storage
from ._taskrecord import TaskRecord, attempts, valid_done_marker, with_done_marker

Answer = dict[str, Any] | DamagedRecordError | None
"""A record, the error naming a damaged one, or None when there is none (yet)."""


def read_runs(
    storage: Storage, flow: str, run_ids: list[str], now: float | None = None
) -> dict[str, Answer]:
    """``run.json`` of each run as readers show it (``records.with_effective_status``)."""
    files = {rid: _paths.run_file(flow, rid) for rid in run_ids}
    raw = storage.read_many(files.values())
    out: dict[str, Answer] = {}
    for rid, path in files.items():
        data = raw.get(path)
        if data is None:
            out[rid] = None
            continue
        try:
            out[rid] = decode(storage, path, data)
        except DamagedRecordError as exc:
            out[rid] = exc
    _fold_tags(storage, flow, out)
    running = [
        rid for rid, rec in out.items() if isinstance(rec, dict) and rec.get("status") == "running"
    ]
    beats = storage.read_many(_paths.heartbeat_file(flow, rid) for rid in running)
    for rid in running:
        record = out[rid]
        assert isinstance(record, dict)
        out[rid] = shown_with(record, json_object(beats.get(_paths.heartbeat_file(flow, rid))), now)
    return out


def _fold_tags(storage: Storage, flow: str, records: dict[str, Answer]) -> None:
    """Each record's ``tags`` with the run's tag mutations applied, as ``records.read_run``
    does: the flow's folder of events listed once, then the events of all runs read in one batch."""
    found = [rid for rid, rec in records.items() if isinstance(rec, dict)]
    by_run = _tags.events_by_run(storage, flow)
    listed = {rid: by_run.get(rid, []) for rid in found}
    paths = [p for ps in listed.values() for p in ps]
    raw = storage.read_many(paths) if paths else {}
    for rid, ps in listed.items():
        record = records[rid]
        assert isinstance(record, dict)
        base = record.get("tags")
        base = [t for t in base if isinstance(t, str)] if isinstance(base, list) else []
        record["tags"] = _tags.fold(base, (_tags.decoded(raw.get(p)) for p in ps))


def read_tasks(
    storage: Storage,
    flow: str,
    run_id: str,
    step: str,
    task_ids: list[str],
    held: dict[str, TaskRecord] | None = None,
) -> dict[str, TaskRecord | DamagedRecordError | None]:
    """Each task's record as ``taskrecords.read_task`` chooses it: the finished attempt's, else
    the latest attempt's (a task in flight); None for a task that left no record yet.

    Finished tasks come from the step's done pages (``_pages``; ``held``: those pages, already
    read by the caller), when many tasks are asked for. The others in three batches: format 1's
    ``DONE`` markers (absent in format 2), the listing of each task's attempts where no marker
    names one, then the records."""
    given = held is not None  # the caller read every page of the step
    if held is None and len(task_ids) >= WORTH_IT:
        held = read_pages(storage, flow, run_id, step, len(task_ids))[step]
    out: dict[str, TaskRecord | DamagedRecordError | None] = {}
    for t in task_ids:
        if held and t in held:
            out[t] = held[t]
    rest = [t for t in task_ids if t not in out]
    if rest:
        out.update(_read_each(storage, flow, run_id, step, rest))
    if not given and any(out.get(t) is None for t in rest):
        # a task with no record file may be a paged clone: its page is its record
        paged = read_pages(storage, flow, run_id, step)[step]
        out.update({t: paged[t] for t in rest if out.get(t) is None and t in paged})
    return {t: out.get(t) for t in task_ids}


def _read_each(
    storage: Storage, flow: str, run_id: str, step: str, task_ids: list[str]
) -> dict[str, TaskRecord | DamagedRecordError | None]:
    done_files = {t: _paths.done_file(flow, run_id, step, t) for t in task_ids}
    raw_done = storage.read_many(done_files.values())
    markers: dict[str, dict[str, Any] | None] = {}
    for t, path in done_files.items():
        markers[t] = valid_done_marker(json_object(raw_done.get(path)))
    attempt = {t: int(m["attempt"]) for t, m in markers.items() if m is not None}
    pending = [t for t in task_ids if t not in attempt]
    for t, tried in zip(
        pending, _map(storage, lambda t: attempts(storage, flow, run_id, step, t), pending)
    ):
        if tried:
            attempt[t] = tried[-1]
    meta_files = {t: _paths.meta_file(flow, run_id, step, t, a) for t, a in attempt.items()}
    raw_meta = storage.read_many(meta_files.values())
    out: dict[str, TaskRecord | DamagedRecordError | None] = {}
    for t in task_ids:
        path = meta_files.get(t)
        data = raw_meta.get(path) if path else None
        if data is None:
            out[t] = None
            continue
        try:
            record = TaskRecord.from_json(decode(storage, path, data), describe(storage, path))
        except DamagedRecordError as exc:
            out[t] = exc
            continue
        out[t] = with_done_marker(record, attempt[t], markers[t])
    return out


def _map(storage: Storage, fn: Any, items: list[str]) -> list[Any]:
    """``map``, in threads when the backend is remote (fsspec's loop overlaps their requests)."""
    if isinstance(storage, LocalStorage) or len(items) < 2:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(32, len(items))) as pool:
        return list(pool.map(fn, items))
