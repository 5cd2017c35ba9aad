"""The task record (``meta.json``): one typed record per attempt, written and read only here.

Format 2 (written now): the record says ``"format": 2``. The record of an attempt that finished
carries ``"finished": true`` and is the task's last write, after every blob and log it points
to; it replaces format 1's separate ``DONE`` file (local disk: temporary file + rename; object
stores: one PUT, which is atomic). A task is done iff the record of its latest attempt says so.

Format 1 (read, never written): no ``format`` key; a task is done only when its ``DONE`` file
exists, and that file names the attempt whose record counts. Datastores written before format 2
keep working: readers of this module treat both alike.

The clones of a large resume on an object store have no record file: their record is in their
step's done pages (``_pages``), where every reader here finds it.

Attempts after the first have their own record (``meta.1.json``...), so the exception of every
attempt survives a retry. An attempt is retried only after it failed, so the latest record is
the one that decides whether the task is done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from . import _paths
from ._errors import DamagedRecordError, MissingRecordError
from ._records import load as _load
from ._storage import Storage

FORMAT = 2
DONE, FAILED, RUNNING = "done", "failed", "running"


@dataclass
class TaskRecord:
    """One attempt of one task, as stored. ``finished`` is the done mark of format 2 (for a
    format-1 record, readers set it from the ``DONE`` file). ``sizes`` holds each artifact's
    payload size in bytes (format 2), so no reader downloads a blob to learn its size.
    ``extra`` keeps keys this version does not know, so rewriting a record loses nothing."""

    flow: str
    run_id: str
    step: str
    task_id: str
    attempt: int = 0
    status: str = RUNNING
    finished: bool = False
    frames: list[list[Any]] = field(default_factory=list)
    inputs: list[list[str]] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    ready_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    node_id: str = ""
    host: str = ""
    pid: int | None = None
    exception: dict[str, Any] | None = None
    foreach: dict[str, Any] | None = None  # {"var", "n", "items": key of the list of item keys}
    switch: str | None = None
    next: list[str] = field(default_factory=list)
    origin: dict[str, Any] | None = None  # {"pathspec", "attempt"} of the task a clone points at
    cloned: bool = False
    cached: bool = False
    cache_key: str | None = None
    format: int = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pathspec(self) -> str:
        return f"{self.flow}/{self.run_id}/{self.step}/{self.task_id}"

    @property
    def done(self) -> bool:
        """The attempt finished and the task counts as done (also when ``@catch`` caught it)."""
        return self.finished

    @property
    def failed(self) -> bool:
        return not self.finished and (self.status == FAILED or bool(self.exception))

    @property
    def reused(self) -> bool:
        """Cloned by resume or taken from the cache: no code ran for it in this run."""
        return bool(self.origin or self.cloned or self.cached)

    @property
    def logs_at(self) -> tuple[str, str, str, str, int]:
        """(flow, run_id, step, task_id, attempt) of the logs: a clone's are its origin's."""
        if self.origin:
            flow, run_id, step, task_id = self.origin["pathspec"].split("/")
            return flow, run_id, step, task_id, int(self.origin.get("attempt", 0))
        return self.flow, self.run_id, self.step, self.task_id, self.attempt

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.name in _OPTIONAL and not value:
                continue
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "the record") -> TaskRecord:
        """A record from its JSON object; DamagedRecordError (naming ``where``) when a field has
        the wrong type. Format 1 records never carry ``finished``: the caller sets it."""
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        values["format"] = int(data.get("format", 1))
        if values["format"] < 2:
            values["finished"] = False
        for name in ("flow", "run_id", "step", "task_id"):
            if not isinstance(values.get(name), str):
                raise DamagedRecordError(f"{where} is damaged (no '{name}')", where)
        for name, kind in (
            ("artifacts", dict),
            ("sizes", dict),
            ("frames", list),
            ("inputs", list),
            ("next", list),
        ):
            if values.get(name) is None:
                values.pop(name, None)
            elif not isinstance(values[name], kind):
                raise DamagedRecordError(
                    f"{where} is damaged ('{name}' is not a {kind.__name__})", where
                )
        values["attempt"] = int(values.get("attempt") or 0)
        return cls(**values, extra=extra)

    def clone_for(self, run_id: str, **changes: Any) -> TaskRecord:
        """The record of a task in ``run_id`` that reuses this one's outputs (resume, cache):
        same blobs, marked finished, pointing at the attempt that produced them."""
        origin = self.origin or {"pathspec": self.pathspec, "attempt": self.attempt}
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(
            run_id=run_id,
            attempt=0,
            origin=origin,
            status=DONE,
            finished=True,
            format=FORMAT,
            extra=dict(self.extra),
        )
        values.update(changes)
        return TaskRecord(**values)


# Left out of the stored record when empty (they were absent from format 1 records too).
_OPTIONAL = frozenset({"foreach", "switch", "origin", "cloned", "cached", "cache_key", "sizes"})


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def write(storage: Storage, record: TaskRecord) -> None:
    """Store the record of one attempt, atomically. For a finished attempt this is the write
    that makes the task done: write it after everything it points to."""
    record.format = FORMAT
    path = _paths.meta_file(record.flow, record.run_id, record.step, record.task_id, record.attempt)
    storage.write_text(path, _dump(record.to_json()))


def write_many(storage: Storage, records: list[TaskRecord]) -> None:
    """``write`` of many records at once (concurrent on object stores), each atomically. Only for
    records that may appear in any order (clones: everything they point to already exists)."""
    files = {}
    for record in records:
        record.format = FORMAT
        path = _paths.meta_file(
            record.flow, record.run_id, record.step, record.task_id, record.attempt
        )
        files[path] = _dump(record.to_json()).encode("utf-8")
    storage.write_many(files)


def _missing(
    storage: Storage, flow: str, run_id: str, step: str, task_id: str
) -> MissingRecordError:
    return MissingRecordError(f"task {flow}/{run_id}/{step}/{task_id} not found in {storage.url}")


def read_attempt(
    storage: Storage,
    flow: str,
    run_id: str,
    step: str,
    task_id: str,
    attempt: int,
    done_marker: dict[str, Any] | None | bool = False,
) -> TaskRecord:
    """The record of one attempt. A format-1 record is finished only if the ``DONE`` marker
    names this attempt; pass the marker when known (``None``: there is none), else it is read."""
    path = _paths.meta_file(flow, run_id, step, task_id, attempt)
    try:
        record = TaskRecord.from_json(_load(storage, path), f"{storage.url.rstrip('/')}/{path}")
    except DamagedRecordError:
        raise
    except MissingRecordError:
        paged = _paged(storage, flow, run_id, step, task_id) if attempt == 0 else None
        if paged is not None:
            return paged
        raise _missing(storage, flow, run_id, step, task_id) from None
    if record.format < 2 and done_marker is False:
        done_marker = _read_done_marker(storage, flow, run_id, step, task_id)
    return with_done_marker(record, attempt, done_marker or None)


def with_done_marker(record: TaskRecord, attempt: int, marker: dict[str, Any] | None) -> TaskRecord:
    """A format-1 record is finished only when the ``DONE`` marker names its attempt; a format-2
    record says so itself and is returned as it is."""
    if record.format < 2:
        record.finished = marker is not None and int(marker["attempt"]) == attempt
    return record


def valid_done_marker(done: dict[str, Any] | None) -> dict[str, Any] | None:
    """Format 1's ``DONE`` content if it names an attempt; a damaged one is not done."""
    return done if done is not None and isinstance(done.get("attempt"), int) else None


def _read_done_marker(
    storage: Storage, flow: str, run_id: str, step: str, task_id: str
) -> dict[str, Any] | None:
    """Format 1's ``DONE`` file, or None. One naming no attempt is not done."""
    try:
        return valid_done_marker(_load(storage, _paths.done_file(flow, run_id, step, task_id)))
    except MissingRecordError:
        return None


def _attempt_numbers(names: list[str]) -> list[int]:
    found = []
    for name in names:
        if name == "meta.json":
            found.append(0)
        elif name.startswith("meta.") and name.endswith(".json") and name[5:-5].isdigit():
            found.append(int(name[5:-5]))
    return sorted(found)


def attempts(storage: Storage, flow: str, run_id: str, step: str, task_id: str) -> list[int]:
    """Attempt numbers that left a record, in order (a paged clone's: ``[0]``)."""
    found = _attempt_numbers(storage.list_dir(_paths.task_dir(flow, run_id, step, task_id)))
    if not found and _paged(storage, flow, run_id, step, task_id) is not None:
        return [0]
    return found


def _paged(storage: Storage, flow: str, run_id: str, step: str, task_id: str) -> TaskRecord | None:
    """The record of a task that has no record file: a paged clone (``_pages``), or None."""
    from ._pages import paged_record

    return paged_record(storage, flow, run_id, step, task_id)


def read_task(storage: Storage, flow: str, run_id: str, step: str, task_id: str) -> TaskRecord:
    """The record that counts for the task: the finished one, else the latest attempt's.
    One listing and one read (format 1: plus the ``DONE`` file)."""
    names = storage.list_dir(_paths.task_dir(flow, run_id, step, task_id))
    if "DONE" in names:  # format 1
        marker = _read_done_marker(storage, flow, run_id, step, task_id)
        if marker is not None:
            return read_attempt(
                storage, flow, run_id, step, task_id, int(marker["attempt"]), marker
            )
    tried = _attempt_numbers(names)
    if not tried:
        paged = _paged(storage, flow, run_id, step, task_id)
        if paged is not None:
            return paged
        raise _missing(storage, flow, run_id, step, task_id)
    return read_attempt(storage, flow, run_id, step, task_id, tried[-1], None)


def read_finished(
    storage: Storage, flow: str, run_id: str, step: str, task_id: str, attempt: int | None = None
) -> TaskRecord | None:
    """The task's finished record, or None when it is not done, missing or damaged: what resume,
    cache and joins may trust. With ``attempt`` (known to the driver), one read."""
    try:
        if attempt is not None:
            record = read_attempt(storage, flow, run_id, step, task_id, attempt)
        else:
            record = read_task(storage, flow, run_id, step, task_id)
    except (MissingRecordError, DamagedRecordError):
        return None
    return record if record.finished else None


def is_done(storage: Storage, flow: str, run_id: str, step: str, task_id: str) -> bool:
    return read_finished(storage, flow, run_id, step, task_id) is not None
