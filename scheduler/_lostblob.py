"""Which task wrote a blob that a task could not read, and how to write it again.

A damaged or missing blob cannot be repaired by the reader (it only has the key); the task that
produced the value can. Artifacts are handed down the graph by key, so the producer is the
earliest task on the reader's input chain whose record holds the key (or, for a foreach item,
the foreach step that split it). Walked only when a read failed, so its reads cost nothing
otherwise.
"""

from __future__ import annotations

from rayflow.datastore import DatastoreError, Storage, TaskRecord, records, taskrecords

from ._identity import LOOP, task_id_of

_MAX_HOPS = 1000


def _holds(meta: TaskRecord, key: str) -> bool:
    return key in meta.artifacts.values() or (meta.foreach or {}).get("items") == key


def producer(
    storage: Storage, flow: str, run_id: str, key: str, frames: list, inputs: list
) -> tuple[str, str] | None:
    """``(step, task_id)`` of the task in ``run_id`` that wrote ``key``, None if not found."""
    for i, frame in enumerate(frames):
        if frame[0] != LOOP and len(frame) > 3 and frame[3] == key:
            return frame[0], task_id_of(tuple(frames[:i]))
    found = None
    todo = [tuple(i) for i in inputs]
    for _ in range(_MAX_HOPS):
        holder = None
        for step, task_id in todo:
            try:
                meta = taskrecords.read_task(storage, flow, run_id, step, task_id)
            except DatastoreError:
                continue
            if _holds(meta, key):
                holder = (step, task_id, meta)
                break
        if holder is None:
            return found
        found = holder[:2]
        todo = [tuple(i) for i in holder[2].inputs]
    return found


def hint(storage: Storage, flow: str, run_id: str, key: str, frames: list, inputs: list) -> str:
    """``; it was written by task F/R/S/T: `rayflow resume FILE S` writes it again`` or ''."""
    try:
        found = producer(storage, flow, run_id, key, frames, inputs)
        if found is None:
            return ""
        flow_file = records.read_run(storage, flow, run_id).get("flow_file") or "FLOW_FILE"
    except (DatastoreError, OSError):
        return ""
    step, task_id = found
    return (
        f"; it was written by task {flow}/{run_id}/{step}/{task_id}: "
        f"`rayflow resume {flow_file} {step}` runs it again and rewrites the blob"
    )
