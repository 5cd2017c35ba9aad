"""A task's metadata as Metaflow's client shows it: ``task.metadata`` is a list of ``Metadata``
records (name, value, created_at, type, task) and ``task.metadata_dict`` maps each name to its
latest value.

Code written for Metaflow reads attempts from this list (``m.type == "attempt"``, one record per
attempt that ran, values ``"0"``, ``"1"``...), so each attempt's record is read here (a task has
few). A task cloned by resume shows its origin's metadata (the facts of the computation that
produced its artifacts), plus ``origin-run-id`` and ``origin-task-id``; every task of a resumed
run has ``origin-run-id``. Values are strings, as in Metaflow; ``Task.record`` keeps the typed
record for rayflow's own readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from rayflow.datastore import DamagedRecordError, MissingRecordError, TaskRecord, taskrecords

from . import _namespace as ns
from ._client_common import NotFound

if TYPE_CHECKING:
    from ._client_task import Task

FACTS = (
    "node_id",
    "host",
    "pid",
    "ready_at",
    "started_at",
    "finished_at",
    "status",
    "inputs",
    "frames",
)
"""Fields of the task record shown as metadata (the attempt has records of its own)."""


class Metadata(NamedTuple):
    """One metadata record, with Metaflow's fields; ``created_at`` is epoch milliseconds."""

    name: str
    value: str
    created_at: int | None
    type: str
    task: Any


def _ms(ts: float | None) -> int | None:
    return int(ts * 1000) if ts else None


def _source(task: Task) -> Task:
    """The task whose computation ``task`` stands for: its origin when it is a readable clone."""
    from ._client_task import Task

    origin = task._load().origin
    if origin and origin.get("pathspec"):
        try:
            source = Task(origin["pathspec"], _lazy=True)
            source._load()
            return source
        except NotFound:
            pass
    return task


def _attempt_records(task: Task) -> list[tuple[int, TaskRecord | None]]:
    """Every attempt that left a record, in order, with its record (None if unreadable)."""
    counting = task._load()
    storage = ns.storage()
    numbers = taskrecords.attempts(storage, task.flow_name, task.run_id, task.step_name, task.id)
    out: list[tuple[int, TaskRecord | None]] = []
    for n in numbers or [counting.attempt]:
        if n == counting.attempt:
            out.append((n, counting))
            continue
        try:
            out.append(
                (
                    n,
                    taskrecords.read_attempt(
                        storage, task.flow_name, task.run_id, task.step_name, task.id, n
                    ),
                )
            )
        except (MissingRecordError, DamagedRecordError):
            out.append((n, None))
    return out


def _attempt_entries(task: Task) -> list[Metadata]:
    out = []
    for n, rec in _attempt_records(task):
        when = _ms(rec.started_at or rec.ready_at) if rec is not None else None
        out.append(Metadata("attempt", str(n), when, "attempt", task))
        if rec is not None and (rec.finished or rec.failed):
            out.append(
                Metadata(
                    "attempt_ok",
                    str(rec.finished),
                    _ms(rec.finished_at) or when,
                    "internal_attempt_status",
                    task,
                )
            )
    return out


def _fact_entries(task: Task) -> list[Metadata]:
    record = task._load().to_json()
    when = _ms(record.get("started_at"))
    return [
        Metadata(k, "" if record.get(k) is None else str(record.get(k)), when, k, task)
        for k in FACTS
        if k in record
    ]


def _run_entries(task: Task) -> list[Metadata]:
    """What the task's own run adds: the Python that ran it, and where a resume came from."""
    from ._client_run import Run

    record = Run(f"{task.flow_name}/{task.run_id}", _namespace_check=False)._load()
    when = _ms(task._load().started_at)
    out = []
    if record.get("python"):
        out.append(Metadata("python_version", str(record["python"]), when, "python_version", task))
    if record.get("origin_run_id"):
        out.append(
            Metadata("origin-run-id", str(record["origin_run_id"]), when, "origin-run-id", task)
        )
    origin = task._load().origin
    if origin and origin.get("pathspec"):
        out.append(
            Metadata(
                "origin-task-id",
                origin["pathspec"].rsplit("/", 1)[-1],
                when,
                "origin-task-id",
                task,
            )
        )
    return out


def task_metadata(task: Task) -> list[Metadata]:
    """``task.metadata``: the attempts, the record's facts, then the run's entries."""
    source = _source(task)
    return _attempt_entries(source) + _fact_entries(source) + _run_entries(task)


def metadata_dict(task: Task) -> dict[str, str]:
    """``task.metadata_dict``: each name's latest value (the last attempt's, for ``attempt``)."""
    return {m.name: m.value for m in task_metadata(task)}
