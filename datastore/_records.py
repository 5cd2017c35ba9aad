"""Run records (run.json, heartbeats), logs, listings and cache entries: small JSON files next
to the blobs. Task records live in ``_taskrecord``.

``run.json`` carries ``"format"`` (``RUN_FORMAT``); a run.json without it is format 1, read the
same way (the fields did not change, only the task records' done mark did).
"""

from __future__ import annotations

import json
from typing import Any

from . import _paths, _tags
from ._errors import DamagedRecordError, MissingRecordError
from ._liveness import effective_status, last_sign_of_life
from ._storage import Storage


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), default=str)


def load(storage: Storage, path: str) -> dict[str, Any]:
    """The JSON object stored at ``path``; MissingRecordError if absent, DamagedRecordError
    (naming the file) if it is truncated, not JSON, or not an object."""
    return decode(storage, path, storage.read_bytes(path))


def decode(storage: Storage, path: str, raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw`` (the bytes of ``path``); DamagedRecordError naming the file."""
    try:
        record = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        reason = "empty" if not raw.strip() else f"not valid JSON: {str(exc).split(':')[0]}"
        raise DamagedRecordError(f"{describe(storage, path)} is damaged ({reason})", path) from None
    if not isinstance(record, dict):
        raise DamagedRecordError(f"{describe(storage, path)} is damaged (not a JSON object)", path)
    return record


def describe(storage: Storage, path: str) -> str:
    """The full location of ``path``, as a user would look for it."""
    return f"{storage.url.rstrip('/')}/{path}"


RUN_FORMAT = 2


def run_format(record: dict[str, Any]) -> int:
    """The format a run.json was written in (1: before formats were recorded)."""
    return int(record.get("format", 1))


def write_run(storage: Storage, flow: str, run_id: str, record: dict[str, Any]) -> None:
    storage.write_text(_paths.run_file(flow, run_id), _dump(dict(record, format=RUN_FORMAT)))


def create_run(storage: Storage, flow: str, run_id: str, record: dict[str, Any]) -> None:
    """The run's first record: its folder appears together with run.json, never empty."""
    storage.write_first(
        _paths.run_file(flow, run_id), _dump(dict(record, format=RUN_FORMAT)).encode("utf-8")
    )


def read_run(storage: Storage, flow: str, run_id: str) -> dict[str, Any]:
    """run.json, with ``tags`` as they are now (the run's tag mutations applied: ``_tags``)."""
    record = _read_record(storage, flow, run_id)
    record["tags"] = _tags.current_tags(storage, flow, run_id, _tag_list(record))
    return record


def _read_record(storage: Storage, flow: str, run_id: str) -> dict[str, Any]:
    try:
        return load(storage, _paths.run_file(flow, run_id))
    except DamagedRecordError:
        raise
    except MissingRecordError:
        raise MissingRecordError(
            f"run {flow}/{run_id} not found in datastore {storage.url}"
        ) from None


def _tag_list(record: dict[str, Any]) -> list[str]:
    tags = record.get("tags")
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def run_exists(storage: Storage, flow: str, run_id: str) -> bool:
    return storage.exists(_paths.run_file(flow, run_id))


def write_heartbeat(storage: Storage, flow: str, run_id: str, beat: dict[str, Any]) -> None:
    storage.write_text(_paths.heartbeat_file(flow, run_id), _dump(beat))


def read_heartbeat(storage: Storage, flow: str, run_id: str) -> dict[str, Any] | None:
    """The run's latest heartbeat, or None when there is none (or it cannot be read)."""
    try:
        return json_object(storage.read_bytes(_paths.heartbeat_file(flow, run_id)))
    except (MissingRecordError, OSError):
        return None


def json_object(data: bytes | None) -> dict[str, Any] | None:
    """The JSON object in ``data``; None for no data, bytes that are not JSON, or another value.
    For small files whose damage only means "not there" (heartbeats, format 1's done markers)."""
    try:
        value = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def with_effective_status(
    storage: Storage, flow: str, run_id: str, record: dict[str, Any], now: float | None = None
) -> dict[str, Any]:
    """The run record as readers must show it: ``status`` is ``effective_status`` (a running run
    whose driver stopped beating is ``crashed``). Only a ``running`` record costs a read (its
    heartbeat); the stored record is left as it is. A changed record keeps ``recorded_status``
    and ``last_heartbeat`` (when the driver was last seen alive)."""
    if record.get("status") != "running":
        return record
    return shown_with(record, read_heartbeat(storage, flow, run_id), now)


def shown_with(
    record: dict[str, Any], beat: dict[str, Any] | None, now: float | None = None
) -> dict[str, Any]:
    """``record`` as readers show it, given its heartbeat (already read): the one place that
    turns a run whose driver stopped beating into ``crashed``."""
    status = effective_status(record, beat, now)
    if status == record.get("status"):
        return record
    return dict(
        record,
        status=status,
        recorded_status=record.get("status"),
        last_heartbeat=last_sign_of_life(record, beat),
    )


def list_flows(storage: Storage) -> list[str]:
    """Flows with runs; other entries of the root (a sweep's ``sweeps.db``, stray files) are skipped."""
    return [
        n for n in storage.list_dir("") if _paths.is_name(n) and storage.exists(_paths.runs_dir(n))
    ]


def list_runs(storage: Storage, flow: str) -> list[str]:
    """Run ids of ``flow``, oldest first (run ids sort by time). Where folders exist on their
    own, a run folder without run.json (a run that never started) is not a run."""
    ids = sorted(storage.list_dir(_paths.runs_dir(flow)))
    if storage.keeps_empty_folders:
        ids = [r for r in ids if _paths.is_run_id(r) and storage.exists(_paths.run_file(flow, r))]
    return ids


def list_steps(storage: Storage, flow: str, run_id: str) -> list[str]:
    """Step folders of a run (run.json, heartbeat.json and other files are not identifiers),
    and steps whose tasks are all paged clones, which have no folder (``_pages``)."""
    from ._pages import paged_steps

    names = storage.list_dir(_paths.run_dir(flow, run_id))
    steps = [n for n in names if _paths.is_name(n)]
    if "done-pages" in names:
        steps += [s for s in paged_steps(storage, flow, run_id) if s not in steps]
    return steps


def list_tasks(storage: Storage, flow: str, run_id: str, step: str) -> list[str]:
    """The step's task ids: its task folders, and the paged clones of a large resume, which
    have none (``_pages``)."""
    from ._pages import paged_ids

    ids = set(storage.list_dir(_paths.step_dir(flow, run_id, step)))
    ids |= set(paged_ids(storage, flow, run_id, step))
    return sorted(ids, key=lambda t: tuple(int(p) for p in t.split(".") if p.isdigit()))


def write_log(
    storage: Storage,
    flow: str,
    run_id: str,
    step: str,
    task_id: str,
    stream: str,
    attempt: int,
    text: str,
) -> None:
    storage.write_text(_paths.log_file(flow, run_id, step, task_id, stream, attempt), text)


def read_log(
    storage: Storage, flow: str, run_id: str, step: str, task_id: str, stream: str, attempt: int
) -> str:
    try:
        return storage.read_text(_paths.log_file(flow, run_id, step, task_id, stream, attempt))
    except MissingRecordError:
        return ""


def read_tags(
    storage: Storage, flow: str, run_id: str, fallback: list[str] | None = None
) -> list[str]:
    """The run's user tags as stored now (``fallback`` when run.json cannot be read)."""
    try:
        return list(read_run(storage, flow, run_id).get("tags", []))
    except (MissingRecordError, ValueError, OSError):
        return list(fallback or [])


def update_run_tags(
    storage: Storage,
    flow: str,
    run_id: str,
    add: tuple[str, ...] | list[str] = (),
    remove: tuple[str, ...] | list[str] = (),
) -> list[str]:
    """Remove, then add user tags of a run (system tags are never touched); return the tags just
    after this mutation (mutations stamped later by concurrent writers are not applied).

    Safe when many mutations happen at once: each is an object of its own that readers fold
    over run.json's tags (``_tags``); run.json is not rewritten.
    """
    record = _read_record(storage, flow, run_id)  # the run exists (and its record can be read)
    mine = _tags.record_mutation(storage, flow, run_id, add=add, remove=remove)
    return _tags.current_tags(storage, flow, run_id, _tag_list(record), upto=mine)


def write_cache_entry(
    storage: Storage, flow: str, step: str, key: str, entry: dict[str, Any]
) -> None:
    """One file per key, written whole: concurrent runs writing the same key cannot corrupt it."""
    storage.write_text(_paths.cache_file(flow, step, key), _dump(entry))


def read_cache_entry(storage: Storage, flow: str, step: str, key: str) -> dict[str, Any] | None:
    try:
        return load(storage, _paths.cache_file(flow, step, key))
    except MissingRecordError:  # a damaged entry is a cache miss; the next success rewrites it
        return None
