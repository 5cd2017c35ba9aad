"""Tag mutations of a run, safe when many happen at once (tasks of a run adding and removing
tags while it runs, a user tagging it from the CLI).

``run.json`` holds the tags the run started with. A mutation never rewrites it (a
read-modify-write there lets two concurrent mutations lose one): each ``add``/``remove``/
``replace`` is one new object of its own, ``<Flow>/tag-events/<run_id>.<time>-<random>.json``,
written atomically (local disk: temporary file + rename; object stores: one PUT), so no writer
can overwrite another's. Readers fold the events, in name (time) order, over the tags of
``run.json``: within an event, removals first, then additions (Metaflow's ``replace_tags``).

Folding is idempotent: a tag's presence is decided by the last event that names it, so tags
already folded into ``run.json`` (the driver rewrites the folded tags when the run ends, and
datastores written before this module folded mutations into ``run.json`` itself) read the same.
Two mutations of the same tag at the same moment: the later-stamped one wins, as with any
last-writer-wins store. The folder sits beside the flow's ``runs/`` and ``blobs/``, one for all runs.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from . import _paths
from ._storage import Storage

_STAMP = threading.Lock()
_LAST = [0]  # the last stamp this process used: its own mutations stay in the order it made them


def _stamp() -> int:
    with _STAMP:
        now = max(time.time_ns(), _LAST[0] + 1)
        _LAST[0] = now
        return now


def event_name() -> str:
    """``<ns since the epoch, 20 digits>-<random>.json``: sorts by time; unique across writers."""
    return f"{_stamp():020d}-{uuid.uuid4().hex[:12]}.json"


def record_mutation(
    storage: Storage, flow: str, run_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> str:
    """Store one mutation of the run's user tags as an object of its own; return its name."""
    event = {"format": 1, "add": list(add), "remove": list(remove), "at": time.time()}
    name = event_name()
    storage.write_atomic(
        _paths.tag_event_file(flow, run_id, name), json.dumps(event).encode("utf-8")
    )
    return name


def decoded(data: bytes | None) -> dict[str, Any] | None:
    """An event, or None when it cannot be read (writes are atomic; a damaged one is skipped)."""
    if data is None:
        return None
    try:
        event = json.loads(data)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def fold(base: Iterable[str], events: Iterable[dict[str, Any] | None]) -> list[str]:
    """The user tags after ``events`` (in order) are applied to ``base``; first-seen order."""
    tags = list(dict.fromkeys(base))
    for event in events:
        if not event:
            continue
        removed = {t for t in event.get("remove") or [] if isinstance(t, str)}
        tags = [t for t in tags if t not in removed]
        for tag in event.get("add") or []:
            if isinstance(tag, str) and tag not in tags:
                tags.append(tag)
    return tags


def event_paths(storage: Storage, flow: str, run_id: str) -> list[str]:
    """The run's tag events, oldest first (one listing)."""
    return events_by_run(storage, flow).get(run_id, [])


def events_by_run(storage: Storage, flow: str) -> dict[str, list[str]]:
    """Every run's tag events, oldest first: one listing of the flow's folder of events."""
    folder = _paths.tag_events_dir(flow)
    out: dict[str, list[str]] = {}
    for name in sorted(storage.list_dir(folder)):
        run_id, dot, _ = name.removesuffix(".json").rpartition(".")
        if dot and name.endswith(".json"):
            out.setdefault(run_id, []).append(f"{folder}/{name}")
    return out


def fold_read(storage: Storage, paths: list[str], base: Iterable[str]) -> list[str]:
    """``base`` with the events at ``paths`` applied (one batch of reads)."""
    if not paths:
        return list(dict.fromkeys(base))
    raw = storage.read_many(paths)
    return fold(base, (decoded(raw.get(p)) for p in paths))


def current_tags(
    storage: Storage, flow: str, run_id: str, base: Iterable[str], upto: str | None = None
) -> list[str]:
    """The run's user tags now: ``base`` (run.json's) with every mutation applied; with
    ``upto`` (an event's name), as they were just after that mutation: what its writer made,
    whatever concurrent writers stamped after it (Metaflow's client answers a mutation so)."""
    paths = event_paths(storage, flow, run_id)
    if upto is not None:
        paths = [p for p in paths if p.rsplit("/", 1)[-1][len(run_id) + 1 :] <= upto]
    return fold_read(storage, paths, base)
