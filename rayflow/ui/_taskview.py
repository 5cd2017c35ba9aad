"""The task page: artifacts with a safe preview, and the logs and exception of every attempt.

Artifacts are read through the client (``Task``/``DataArtifact``); attempts' records and logs
through ``rayflow.datastore.taskrecords``. A preview never shows more than a few KB: containers are
shortened with ``reprlib`` before they become text, arrays and frames show their shape first.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Any

from rayflow import _namespace as ns
from rayflow._client import NotFound, Task
from rayflow.datastore import InvalidNameError, MissingRecordError, paths, records, taskrecords

from ._model import check_run

PREVIEW_CHARS = 4096
MAX_LOAD_BYTES = 64 << 20  # artifacts larger than this are listed, not unpickled
MAX_LOG_CHARS = 512 << 10

_repr = reprlib.Repr()
_repr.maxlevel = 4
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdeque = 100
_repr.maxdict = 50
_repr.maxstring = PREVIEW_CHARS
_repr.maxlong = 400
_repr.maxother = PREVIEW_CHARS


def type_name(value: Any) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def shape_of(value: Any) -> str:
    """``shape (100, 3) float64`` for arrays and frames, ``N items`` for containers, else ''."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        dtype = getattr(value, "dtype", None)
        text = "shape " + " × ".join(str(n) for n in shape)
        if dtype is not None and not hasattr(value, "columns"):
            text += f" {dtype}"
        return text
    if isinstance(value, (list, tuple, dict, set, frozenset, str, bytes)):
        return f"{len(value)} {'chars' if isinstance(value, str) else 'items'}"
    return ""


def preview(value: Any) -> str:
    """A repr of ``value`` of at most ``PREVIEW_CHARS`` characters, never built in full for
    big builtin containers or strings."""
    try:
        if isinstance(value, (list, tuple, dict, set, frozenset, str, bytes)):
            text = _repr.repr(value)
        else:
            text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a user's __repr__ may raise anything
        return f"<repr failed: {type(exc).__name__}: {exc}>"
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + f"… ({len(text) - PREVIEW_CHARS} more characters)"
    return text


@dataclass
class ArtifactRow:
    name: str
    size: int | None
    type: str = "-"
    shape: str = ""
    preview: str = ""
    note: str = ""


def artifact_rows(task: Task) -> list[ArtifactRow]:
    rows = []
    for artifact in task:
        row = ArtifactRow(artifact.id, None)
        try:
            row.size = artifact.size
            if row.size > MAX_LOAD_BYTES:
                row.note = "too large to preview here; read it with the client API"
                rows.append(row)
                continue
            value = artifact.data
        except Exception as exc:  # noqa: BLE001 - a missing class or a corrupt blob: say so
            row.note = f"cannot be loaded here: {type(exc).__name__}: {exc}"
            rows.append(row)
            continue
        row.type, row.shape, row.preview = type_name(value), shape_of(value), preview(value)
        rows.append(row)
    return rows


@dataclass
class Attempt:
    number: int
    meta: dict[str, Any]
    stdout: str
    stderr: str

    @property
    def exception(self) -> dict[str, Any] | None:
        exc = self.meta.get("exception")
        if exc and not isinstance(exc, dict):
            return {"type": "", "message": str(exc), "traceback": str(exc)}
        return exc or None


def _cut(text: str) -> str:
    if len(text) <= MAX_LOG_CHARS:
        return text
    return (
        f"[… {len(text) - MAX_LOG_CHARS} earlier characters not shown …]\n" + text[-MAX_LOG_CHARS:]
    )


def attempts_of(task: Task) -> list[Attempt]:
    """Every attempt of the task, oldest first; a cloned task shows its origin's attempt."""
    storage = ns.storage()
    record = task._load()
    flow, run_id, step, task_id, attempt = record.logs_at
    numbers = (
        [attempt] if record.origin else taskrecords.attempts(storage, flow, run_id, step, task_id)
    )
    out = []
    for n in numbers:
        try:
            meta = taskrecords.read_attempt(storage, flow, run_id, step, task_id, n, None).to_json()
        except (MissingRecordError, ValueError):
            meta = {}
        out.append(
            Attempt(
                n,
                meta,
                _cut(records.read_log(storage, flow, run_id, step, task_id, "stdout", n)),
                _cut(records.read_log(storage, flow, run_id, step, task_id, "stderr", n)),
            )
        )
    return out


@dataclass
class TaskPage:
    task: Task
    meta: dict[str, Any]
    done: bool
    state: str
    artifacts: list[ArtifactRow] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)


def get_task(flow: str, run_id: str, step: str, task_id: str) -> Task:
    check_run(flow, run_id)
    try:
        paths.check_name("step", step)
        paths.check_task_id(task_id)
    except InvalidNameError:
        raise NotFound(f"no task {flow}/{run_id}/{step}/{task_id!r}") from None
    return Task(f"{flow}/{run_id}/{step}/{task_id}")


def task_page(flow: str, run_id: str, step: str, task_id: str) -> TaskPage:
    task = get_task(flow, run_id, step, task_id)
    done = task.finished
    record = task._load()
    if done:
        state = "cached" if record.cached else ("cloned" if record.origin else "done")
    else:
        state = "failed" if record.failed else "running"
    return TaskPage(
        task,
        record.to_json(),
        done,
        state,
        artifact_rows(task) if done or record.artifacts else [],
        attempts_of(task),
    )
