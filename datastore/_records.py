"""Run and task records: small JSON files next to the blobs.

A task is done only when its ``DONE`` file exists; it is written after everything else, so a
crash at any moment leaves either a complete task or one that is not done. ``DONE`` names the
attempt whose ``meta`` file is the task's record.
"""

from __future__ import annotations

import json
from typing import Any

from . import _paths
from ._errors import MissingRecordError
from ._storage import Storage


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), default=str)


def write_run(storage: Storage, flow: str, run_id: str, record: dict[str, Any]) -> None:
    storage.write_text(_paths.run_file(flow, run_id), _dump(record))


def create_run(storage: Storage, flow: str, run_id: str, record: dict[str, Any]) -> None:
    """The run's first record: its folder appears together with run.json, never empty."""
    storage.write_first(_paths.run_file(flow, run_id), _dump(record).encode("utf-8"))


def read_run(storage: Storage, flow: str, run_id: str) -> dict[str, Any]:
    try:
        return json.loads(storage.read_text(_paths.run_file(flow, run_id)))
    except MissingRecordError:
        raise MissingRecordError(f"run {flow}/{run_id} not found in datastore {storage.url}") from None


def run_exists(storage: Storage, flow: str, run_id: str) -> bool:
    return storage.exists(_paths.run_file(flow, run_id))


def list_flows(storage: Storage) -> list[str]:
    """Flows with runs; other entries of the root (a sweep's ``sweeps.db``, stray files) are skipped."""
    return [n for n in storage.list_dir("")
            if _paths.is_name(n) and storage.exists(_paths.runs_dir(n))]


def list_runs(storage: Storage, flow: str) -> list[str]:
    """Run ids of ``flow``, oldest first (run ids sort by time). Where folders exist on their
    own, a run folder without run.json (a run that never started) is not a run."""
    ids = sorted(storage.list_dir(_paths.runs_dir(flow)))
    if storage.keeps_empty_folders:
        ids = [r for r in ids if _paths.is_run_id(r) and storage.exists(_paths.run_file(flow, r))]
    return ids


def list_steps(storage: Storage, flow: str, run_id: str) -> list[str]:
    return [n for n in storage.list_dir(_paths.run_dir(flow, run_id)) if n != "run.json"]


def list_tasks(storage: Storage, flow: str, run_id: str, step: str) -> list[str]:
    ids = storage.list_dir(_paths.step_dir(flow, run_id, step))
    return sorted(ids, key=lambda t: tuple(int(p) for p in t.split(".") if p.isdigit()))


def write_meta(storage: Storage, meta: dict[str, Any]) -> None:
    path = _paths.meta_file(meta["flow"], meta["run_id"], meta["step"], meta["task_id"], meta["attempt"])
    storage.write_text(path, _dump(meta))


def write_log(storage: Storage, flow: str, run_id: str, step: str, task_id: str,
              stream: str, attempt: int, text: str) -> None:
    storage.write_text(_paths.log_file(flow, run_id, step, task_id, stream, attempt), text)


def read_log(storage: Storage, flow: str, run_id: str, step: str, task_id: str,
             stream: str, attempt: int) -> str:
    try:
        return storage.read_text(_paths.log_file(flow, run_id, step, task_id, stream, attempt))
    except MissingRecordError:
        return ""


def mark_done(storage: Storage, flow: str, run_id: str, step: str, task_id: str, attempt: int) -> None:
    storage.write_text(_paths.done_file(flow, run_id, step, task_id), _dump({"attempt": attempt}))


def read_done(storage: Storage, flow: str, run_id: str, step: str, task_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(storage.read_text(_paths.done_file(flow, run_id, step, task_id)))
    except MissingRecordError:
        return None


def attempts(storage: Storage, flow: str, run_id: str, step: str, task_id: str) -> list[int]:
    """Attempt numbers that left a meta file, in order."""
    found = []
    for name in storage.list_dir(_paths.task_dir(flow, run_id, step, task_id)):
        if name == "meta.json":
            found.append(0)
        elif name.startswith("meta.") and name.endswith(".json"):
            middle = name[5:-5]
            if middle.isdigit():
                found.append(int(middle))
    return sorted(found)


def read_meta(storage: Storage, flow: str, run_id: str, step: str, task_id: str,
              attempt: int | None = None) -> dict[str, Any]:
    """The record of one attempt; by default the done attempt, else the latest one."""
    if attempt is None:
        done = read_done(storage, flow, run_id, step, task_id)
        if done is not None:
            attempt = int(done["attempt"])
        else:
            tried = attempts(storage, flow, run_id, step, task_id)
            if not tried:
                raise MissingRecordError(f"task {flow}/{run_id}/{step}/{task_id} not found in {storage.url}")
            attempt = tried[-1]
    try:
        return json.loads(storage.read_text(_paths.meta_file(flow, run_id, step, task_id, attempt)))
    except MissingRecordError:
        raise MissingRecordError(f"task {flow}/{run_id}/{step}/{task_id} not found in {storage.url}") from None


def read_tags(storage: Storage, flow: str, run_id: str, fallback: list[str] | None = None) -> list[str]:
    """The run's user tags as stored now (``fallback`` when run.json cannot be read)."""
    try:
        return list(read_run(storage, flow, run_id).get("tags", []))
    except (MissingRecordError, ValueError, OSError):
        return list(fallback or [])


def update_run_tags(storage: Storage, flow: str, run_id: str, add: tuple[str, ...] | list[str] = (),
                    remove: tuple[str, ...] | list[str] = ()) -> list[str]:
    """Add and remove user tags of a run (system tags are never touched); return the new tags.

    A read-modify-write of run.json: the file is replaced atomically, but two concurrent tag
    updates of the same run may lose one of them (run.json has a single writer per run otherwise).
    """
    record = read_run(storage, flow, run_id)
    tags = [t for t in record.get("tags", []) if t not in set(remove)]
    for tag in add:
        if tag not in tags:
            tags.append(tag)
    record["tags"] = tags
    write_run(storage, flow, run_id, record)
    return tags


def write_cache_entry(storage: Storage, flow: str, step: str, key: str, entry: dict[str, Any]) -> None:
    """One file per key, written whole: concurrent runs writing the same key cannot corrupt it."""
    storage.write_text(_paths.cache_file(flow, step, key), _dump(entry))


def read_cache_entry(storage: Storage, flow: str, step: str, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(storage.read_text(_paths.cache_file(flow, step, key)))
    except (MissingRecordError, ValueError):
        return None
