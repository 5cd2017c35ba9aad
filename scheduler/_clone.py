"""Cloning: a task of this run takes the outputs of a finished task of another run, by reference.

Resume (``_resume``) clones a task's counterpart in the origin run; the cache (``_cache``) clones
an earlier task with the same cache key. Both go through ``clone_task``: read the source's
finished record (only a finished task is trusted), check what the caller needs, and write one
record in this run that points at the same blobs. That record is written finished, in one
atomic write, so a clone is never half there; a resume of a resume still finds everything that
ever finished, however many generations back.
"""

from __future__ import annotations

import time

from rayflow.datastore import (
    BlobCorruptError,
    BlobStore,
    MissingRecordError,
    Storage,
    paths,
    taskrecords,
)

from ._identity import TaskSpec
from ._result import Fanout, TaskResult


def clone_task(storage: Storage, flow: str, source_run: str, source_task: str, spec: TaskSpec,
               run_id: str, *, same_position: bool = False, check_blobs: bool = False,
               cache_key: str | None = None) -> TaskResult | None:
    """Clone ``spec`` (a task of ``run_id``) from ``source_run``'s task ``source_task`` of the
    same step; None when that task did not finish or cannot be trusted (the task then runs).

    ``same_position``: the source must have had exactly ``spec``'s inputs and foreach frames
    (resume). ``check_blobs``: every blob the record points at must still exist (the cache, whose
    sources may be old). ``cache_key``: the clone is a cache hit and records its key.
    """
    source = taskrecords.read_finished(storage, flow, source_run, spec.step, source_task)
    if source is None:
        return None
    frames = [list(f) for f in spec.frames]
    inputs = [list(i) for i in spec.inputs]
    if same_position and ([tuple(i) for i in source.inputs] != [tuple(i) for i in inputs]
                          or [tuple(f) for f in source.frames] != [tuple(f) for f in frames]):
        return None
    blobs = BlobStore(storage, flow)
    if check_blobs:
        needed = list(source.artifacts.values())
        if source.foreach:
            needed.append(source.foreach["items"])
        if not all(storage.exists(paths.blob_file(flow, k)) for k in needed):
            return None
    try:
        keys = blobs.get(source.foreach["items"]) if source.foreach else None
    except (MissingRecordError, BlobCorruptError, KeyError, TypeError):
        return None  # the foreach list was lost: the task runs again, as if it had failed
    now = time.time()
    clone = source.clone_for(run_id, task_id=spec.task_id, frames=frames, inputs=inputs,
                             cloned=cache_key is None, cached=cache_key is not None,
                             cache_key=cache_key, ready_at=now, started_at=now, finished_at=now)
    taskrecords.write(storage, clone)
    return TaskResult(ok=True, next=list(source.next), attempt=0, cloned=cache_key is None,
                      cached=cache_key is not None,
                      foreach=Fanout(len(keys), list(keys)) if keys is not None else None)
