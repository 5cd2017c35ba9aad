"""Garbage in a datastore: temp files of writers that died, and blobs no record points at.

Conservative by construction, because a blob deleted by mistake is a lost result:
- only files older than ``min_age`` are candidates: a task writes its blobs before the record
  that points at them, and a live writer keeps its temp file fresh;
- a blob is referenced when any string in any run or task record of its flow (every attempt,
  failed ones too) is its key, or when it is listed in a foreach list such a record points at;
- a flow keeps all its blobs when one of its records cannot be decoded (what it pointed at is
  unknown), or while one of its runs is recorded as running and wrote a file within ``min_age``.
One race remains: a task that re-produces the value of an old unreferenced blob in the moment
between ``collect`` and ``remove`` finds it present and does not write it again; its reader then
gets a missing-blob error naming the task to re-run. Run gc while nothing runs to rule it out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import _paths, _records
from ._blobs import BlobStore
from ._errors import DatastoreError, MissingRecordError
from ._storage import Storage


@dataclass
class Garbage:
    path: str
    size: int
    kind: str  # "temp file" or "unreferenced blob"


@dataclass
class Collection:
    """What ``collect`` found: files to remove, and the flows whose blobs it kept (and why)."""

    garbage: list[Garbage] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(g.size for g in self.garbage)


class _Unsure(DatastoreError):
    """The references of a flow cannot be known for sure: keep its blobs."""


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _folders(storage: Storage, folder: str) -> Iterator[tuple[str, list[str]]]:
    """``(folder, names)`` for ``folder`` and every folder under it; a name whose listing is
    empty is a file (or an empty folder, which holds nothing to collect either)."""
    names = storage.list_dir(folder)
    files = []
    for name in names:
        if storage.list_dir(f"{folder}/{name}"):
            yield from _folders(storage, f"{folder}/{name}")
        else:
            files.append(name)
    yield folder, files


def _old(storage: Storage, path: str, cutoff: float) -> int | None:
    """The file's size if it was last changed before ``cutoff``, else None."""
    found = storage.stat(path)
    if found is None or found.mtime is None or found.mtime > cutoff:
        return None
    return found.size


class _Flow:
    def __init__(self, storage: Storage, flow: str, cutoff: float, out: Collection) -> None:
        self.storage, self.flow, self.cutoff, self.out = storage, flow, cutoff, out

    def temps(self, folder: str) -> None:
        for temp in self.storage.list_temps(folder):
            size = _old(self.storage, f"{folder}/{temp}", self.cutoff)
            if size is not None:
                self.out.garbage.append(Garbage(f"{folder}/{temp}", size, "temp file"))

    def references(self) -> set[str]:
        """Every key the flow's records point at (collecting stale temp files on the way)."""
        keys: set[str] = set()
        lists: set[str] = set()
        running: list[str] = []
        for folder, files in _folders(self.storage, _paths.runs_dir(self.flow)):
            self.temps(folder)
            paged = folder.endswith("/done-pages")  # pages hold the records of paged clones
            for name in files:
                if (
                    not paged
                    and name != "run.json"
                    and not (name.startswith("meta") and name.endswith(".json"))
                ):
                    continue
                record = self._record(f"{folder}/{name}")
                keys |= {s for s in _strings(record) if _paths.is_key(s)}
                for one in (record.get("records") or []) if paged else [record]:
                    items = (
                        (one.get("foreach") or {}).get("items") if isinstance(one, dict) else None
                    )
                    if isinstance(items, str):
                        lists.add(items)
                if name == "run.json" and record.get("status") == "running":
                    running.append(folder)
        for run_dir in running:
            for folder, files in _folders(self.storage, run_dir):
                if any(_old(self.storage, f"{folder}/{n}", self.cutoff) is None for n in files):
                    raise _Unsure(
                        f"run {run_dir.rsplit('/', 1)[-1]} is recorded as running and wrote "
                        f"files less than --min-age ago (running or crashed)"
                    )
        blobs = BlobStore(self.storage, self.flow)
        for key in lists:
            try:
                keys |= {k for k in blobs.get(key) if isinstance(k, str)}
            except MissingRecordError:
                continue
            except Exception as exc:  # noqa: BLE001 - a damaged list: its items are unknown
                raise _Unsure(f"foreach list {key[:12]} cannot be read ({exc})") from None
        return keys

    def _record(self, path: str) -> dict[str, Any]:
        try:
            return _records.load(self.storage, path)
        except MissingRecordError as exc:
            if self.storage.exists(path):
                raise _Unsure(str(exc)) from None
            return {}  # removed since it was listed

    def collect(self) -> None:
        blob_root = f"{_paths.flow_dir(self.flow)}/blobs"
        prefixes = self.storage.list_dir(blob_root)
        for prefix in prefixes:
            self.temps(f"{blob_root}/{prefix}")
        try:
            referenced = self.references()
        except _Unsure as exc:
            self.out.kept.append(f"{self.flow}: every blob kept: {exc}")
            return
        for prefix in prefixes:
            folder = f"{blob_root}/{prefix}"
            for key in self.storage.list_dir(folder):
                if key in referenced or not _paths.is_key(key):
                    continue
                size = _old(self.storage, f"{folder}/{key}", self.cutoff)
                if size is not None:
                    self.out.garbage.append(Garbage(f"{folder}/{key}", size, "unreferenced blob"))


def collect(storage: Storage, min_age: float = 3600.0, now: float | None = None) -> Collection:
    """Find (not remove) the garbage of every flow in ``storage``."""
    cutoff = (time.time() if now is None else now) - min_age
    out = Collection()
    for flow in _records.list_flows(storage):
        _Flow(storage, flow, cutoff, out).collect()
    return out


def remove(storage: Storage, garbage: list[Garbage]) -> None:
    for item in garbage:
        storage.delete(item.path)
