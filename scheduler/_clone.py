"""Cloning: a task of this run takes the outputs of a finished task of another run, by reference.

Resume (``_resume``) clones a task's counterpart in the origin run; the cache (``_cache``) clones
an earlier task with the same cache key. Both go through this module: read the source's finished
record (only a finished task is trusted), check what the caller needs, and write one record in
this run that points at the same blobs. That record is written finished, in one atomic write, so
a clone is never half there; a resume of a resume still finds everything that ever finished,
however many generations back.

``choose_clones`` and ``write_clones`` do the same for many tasks at once (resume, when thousands of tasks are ready
together): the sources come from the origin's done pages (``datastore.pages``) or, for tasks the
pages do not hold, from their records in a few concurrent batches, and every clone record is
written in one concurrent batch, or, for many clones on an object store, only in the run's done
pages (a paged clone: readers follow, see ``datastore.pages``). A clone counts as done only once
that batch has returned.
"""

from __future__ import annotations

import time
from functools import partial

from rayflow.datastore import (
    BlobCorruptError,
    BlobStore,
    MissingRecordError,
    Storage,
    TaskRecord,
    concurrent,
    listing,
    pages,
    paths,
    run_all,
    taskrecords,
)

from ._identity import TaskSpec
from ._result import Fanout, TaskResult


def clone_task(
    storage: Storage,
    flow: str,
    source_run: str,
    source_task: str,
    spec: TaskSpec,
    run_id: str,
    *,
    same_position: bool = False,
    check_blobs: bool = False,
    cache_key: str | None = None,
) -> TaskResult | None:
    """Clone ``spec`` (a task of ``run_id``) from ``source_run``'s task ``source_task`` of the
    same step; None when that task did not finish or cannot be trusted (the task then runs).

    ``same_position``: the source must have had exactly ``spec``'s inputs and foreach frames
    (resume). ``check_blobs``: every blob the record points at must still exist (the cache, whose
    sources may be old). ``cache_key``: the clone is a cache hit and records its key.
    """
    source = taskrecords.read_finished(storage, flow, source_run, spec.step, source_task)
    if source is None or (same_position and not _same_position(source, spec)):
        return None
    if check_blobs:
        needed = list(source.artifacts.values())
        if source.foreach:
            needed.append(source.foreach["items"])
        if not all(storage.exists(paths.blob_file(flow, k)) for k in needed):
            return None
    keys = _foreach_keys(BlobStore(storage, flow), source)
    if keys is False:
        return None
    clone = _clone_record(source, spec, run_id, cache_key)
    taskrecords.write(storage, clone)
    return _result(source, clone, keys)


def finished_sources(
    storage: Storage, flow: str, source_run: str, step: str, task_ids: list[str]
) -> dict[str, TaskRecord]:
    """The finished records of ``task_ids`` of ``source_run``'s ``step``: from its done pages,
    the rest read in batches (``datastore.listing``). Unfinished or damaged ones are left out."""
    found: dict[str, TaskRecord] = {}
    if len(task_ids) >= pages.WORTH_IT:
        found = dict(pages.read_pages(storage, flow, source_run, step, len(task_ids))[step])
    rest = [t for t in task_ids if t not in found]
    if rest:
        for task_id, record in listing.read_tasks(storage, flow, source_run, step, rest).items():
            if isinstance(record, TaskRecord) and record.finished:
                found[task_id] = record
    return {t: found[t] for t in task_ids if t in found}


Chosen = list[tuple[TaskSpec, TaskRecord, "list[str] | None"]]


def choose_clones(storage: Storage, flow: str, source_run: str, specs: list[TaskSpec]) -> Chosen:
    """Which of ``specs`` resume can clone from their counterparts in ``source_run`` (finished, at
    the same position, foreach list readable), as ``clone_task(same_position=True)`` decides one
    by one: each with its source record and foreach item keys. Reads only, in a few batches."""
    by_step: dict[str, list[TaskSpec]] = {}
    for spec in specs:
        by_step.setdefault(spec.step, []).append(spec)
    chosen: list[tuple[TaskSpec, TaskRecord]] = []
    for step, group in by_step.items():
        sources = finished_sources(storage, flow, source_run, step, [s.task_id for s in group])
        chosen += [
            (s, sources[s.task_id])
            for s in group
            if s.task_id in sources and _same_position(sources[s.task_id], s)
        ]
    blobs = BlobStore(storage, flow)
    keys = run_all(storage, [partial(_foreach_keys, blobs, source) for _, source in chosen])
    return [(spec, source, k) for (spec, source), k in zip(chosen, keys) if k is not False]


def write_clones(
    storage: Storage, chosen: Chosen, run_id: str, writer: pages.PageWriter | None = None
) -> dict[tuple[str, str], TaskResult]:
    """Write the clone record of every chosen task in one batch; their results once every
    record is written. Many clones on an object store are written only in the run's done pages
    (``writer``), a request per 1,000 clones instead of one each: those results carry no
    record for the pages, they are there already."""
    clones = [_clone_record(source, spec, run_id, None) for spec, source, _ in chosen]
    paged = writer is not None and len(clones) >= pages.PAGED_CLONES_FROM and concurrent(storage)
    if paged:
        assert writer is not None
        writer.write_now([clone.to_json() for clone in clones])
    else:
        taskrecords.write_many(storage, clones)
    return {
        spec.key: _result(source, clone, k, with_record=not paged)
        for (spec, source, k), clone in zip(chosen, clones)
    }


def _same_position(source: TaskRecord, spec: TaskSpec) -> bool:
    return [tuple(i) for i in source.inputs] == [tuple(i) for i in spec.inputs] and [
        tuple(f) for f in source.frames
    ] == [tuple(f) for f in spec.frames]


def _foreach_keys(blobs: BlobStore, source: TaskRecord) -> list[str] | None | bool:
    """The item keys of a foreach source (None when it is none); False when its list was lost:
    the task then runs again, as if it had failed."""
    if not source.foreach:
        return None
    try:
        return list(blobs.get(source.foreach["items"]))
    except (MissingRecordError, BlobCorruptError, KeyError, TypeError):
        return False


def _clone_record(
    source: TaskRecord, spec: TaskSpec, run_id: str, cache_key: str | None
) -> TaskRecord:
    now = time.time()
    return source.clone_for(
        run_id,
        task_id=spec.task_id,
        frames=[list(f) for f in spec.frames],
        inputs=[list(i) for i in spec.inputs],
        cloned=cache_key is None,
        cached=cache_key is not None,
        cache_key=cache_key,
        ready_at=now,
        started_at=now,
        finished_at=now,
    )


def _result(
    source: TaskRecord, clone: TaskRecord, keys: list[str] | None | bool, with_record: bool = True
) -> TaskResult:
    fanout = Fanout(len(keys), list(keys)) if isinstance(keys, list) else None
    return TaskResult(
        ok=True,
        next=list(source.next),
        attempt=0,
        cloned=not clone.cached,
        cached=clone.cached,
        foreach=fanout,
        record=clone.to_json() if with_record else None,
    )
