"""What every client object shares: its errors (``NotFound`` and kin), pathspec and tag checks,
the namespace test and the reading of a run's record as readers show it."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rayflow.datastore import records

from . import _namespace as ns
from ._errors import RayflowError

TASK_BATCH = 2000
"""Task records read per batch by ``Step.tasks`` (bounds the requests and memory of one batch)."""


class NotFound(RayflowError):
    """A flow, run, step, task or artifact that was asked for does not exist."""

    metaflow_name = "metaflow.exception.MetaflowNotFound"


class NotInNamespace(NotFound):
    """The object exists but not in the current namespace."""

    metaflow_name = "metaflow.exception.MetaflowNamespaceMismatch"


class DamagedRecord(NotFound):
    """The run's or task's record exists but cannot be decoded; the message names the file.
    A NotFound: nothing can be read from it, and listings leave it out (with a warning)."""


def _warn(text: str) -> None:
    """One line on stderr: listings go on without what they had to skip, but say so."""
    print(f"rayflow: warning: {text}", file=sys.stderr)


def _split(pathspec: str, parts: int, kind: str) -> list[str]:
    pieces = pathspec.strip("/").split("/")
    if len(pieces) != parts or not all(pieces):
        shape = "/".join(["Flow", "run_id", "step", "task_id", "artifact"][:parts])
        raise NotFound(f"{kind} pathspec must look like {shape}, got {pathspec!r}")
    return pieces


def _check_tags(tags: Iterable[str]) -> list[str]:
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 512 or not _utf8(tag):
            raise RayflowError(
                f"invalid tag {tag!r}: a tag is a non-empty UTF-8 string of at most 512 characters"
            )
        out.append(tag)
    return out


def _utf8(text: str) -> bool:
    """False for a string holding undecodable bytes (``surrogateescape``, e.g. from argv)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _listed(tags: str | list[str] | tuple[str, ...]) -> list[str]:
    """Metaflow's ``add_tag``/``remove_tag``/``replace_tag`` also take a list (deprecated form)."""
    return list(tags) if isinstance(tags, (list, tuple)) else [tags]


def _in_namespace(run_record: dict) -> bool:
    current = ns.get_namespace()
    if current is None:
        return True
    tags = set(run_record.get("tags", [])) | set(run_record.get("system_tags", []))
    return current in tags


def _running_task_meta(pathspec: str) -> dict | None:
    """What a running step reads of its own task (``Task(current.pathspec)``), before its record
    exists: no artifacts yet, its attempt. ``None`` for any other task."""
    from ._current import current

    if current.pathspec != pathspec:
        return None
    return {"attempt": current.retry_count or 0, "status": "running", "artifacts": {}}


def _read_run(flow: str, run_id: str) -> dict:
    """run.json as readers show it: a run whose driver died reads ``crashed``, not ``running``."""
    storage = ns.storage()
    return records.with_effective_status(
        storage, flow, run_id, records.read_run(storage, flow, run_id)
    )
