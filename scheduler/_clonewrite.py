"""Writing thousands of clone records at once, without one process doing all the work.

On an object store every write costs the writing process about 1.5 ms of CPU (signing, the
HTTP client), so the 10,000 records of a wide resume keep one process busy for 15 s however
many requests are in flight. Large batches are therefore written by Ray tasks, in chunks, which
spreads that work over the cluster's CPUs; small batches, and local disks (where a write is a
rename), are written here. Either way every record is written when ``write_records`` returns,
and a chunk a task could not write is written here (the same bytes again: a record is written
whole or not at all, so writing it twice is harmless).
"""

from __future__ import annotations

from typing import Any

from rayflow.datastore import Storage, TaskRecord, concurrent, taskrecords

SPREAD_FROM = 500
"""Fewer records than this are written by the calling process."""

_remote: Any = None


def write_records(storage: Storage, records: list[TaskRecord]) -> None:
    import ray

    if len(records) < SPREAD_FROM or not concurrent(storage) or not ray.is_initialized():
        taskrecords.write_many(storage, records)
        return
    global _remote
    if _remote is None:
        _remote = ray.remote(max_retries=0, num_cpus=1)(_write_chunk)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = max(SPREAD_FROM // 2, -(-len(records) // (2 * cpus)))
    chunks = [records[i:i + size] for i in range(0, len(records), size)]
    refs = [_remote.remote(storage.url, [r.to_json() for r in chunk]) for chunk in chunks]
    for chunk, ref in zip(chunks, refs):
        try:
            ray.get(ref)
        except Exception:  # noqa: BLE001 - the task or its worker failed: write the chunk here
            taskrecords.write_many(storage, chunk)


def _write_chunk(url: str, records: list[dict[str, Any]]) -> int:
    """In a Ray worker: write the records, with the worker's storage of ``url``."""
    from ._task import _storage

    taskrecords.write_many(_storage(url), [TaskRecord.from_json(r) for r in records])
    return len(records)
