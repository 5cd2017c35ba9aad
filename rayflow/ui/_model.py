"""What the listing pages show: flows, a flow's runs, and runs compared side by side.

Everything is read through the client API (``Run``, ``Task``, ``DataArtifact``) or
``rayflow.datastore.records``; nothing here knows the datastore's layout. Listing pages read only
``run.json`` records, never artifacts, in batches (``datastore.listing``: concurrent requests on
object stores).
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rayflow import _namespace as ns
from rayflow._client import NotFound, Run
from rayflow.datastore import (
    DamagedRecordError,
    DatastoreError,
    InvalidNameError,
    LocalStorage,
    MissingRecordError,
    listing,
    paths,
    records,
)

T = TypeVar("T")
R = TypeVar("R")

FINISHED = ("successful", "failed", "interrupted", "pruned", "cancelled", "crashed")
MAX_SCALAR_BYTES = 1 << 16


def check_flow(flow: str) -> str:
    """The flow name, or NotFound: a name that cannot be a flow is simply not there."""
    try:
        return paths.check_name("flow", flow)
    except InvalidNameError:
        raise NotFound(f"no flow named {flow!r}") from None


def check_run(flow: str, run_id: str) -> tuple[str, str]:
    check_flow(flow)
    try:
        return flow, paths.check_run_id(run_id)
    except InvalidNameError:
        raise NotFound(f"no run {flow}/{run_id!r}") from None


def parallel_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``map`` in a thread pool on object stores (each read is a round trip), plain on disk."""
    items = list(items)
    if isinstance(ns.storage(), LocalStorage) or len(items) < 8:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(fn, items))


def list_flows() -> list[str]:
    return records.list_flows(ns.storage())


@dataclass
class RunRow:
    """One run as the listing pages show it (from run.json only)."""

    flow: str
    id: str
    record: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.record.get("status", "unknown"))

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def created_at(self) -> float | None:
        return self.record.get("created_at")

    @property
    def finished_at(self) -> float | None:
        return self.record.get("finished_at")

    @property
    def seconds(self) -> float | None:
        start, end = self.created_at, self.finished_at
        if not start:
            return None
        return (end or time.time()) - start if (end or self.running) else None

    @property
    def user(self) -> str:
        return str(self.record.get("user") or "-")

    @property
    def tags(self) -> list[str]:
        return sorted(self.record.get("tags") or [])

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.record.get("parameters") or {})

    @property
    def origin_run_id(self) -> str | None:
        return self.record.get("origin_run_id")


def _read_run(flow: str, run_id: str, damaged: list[str] | None = None) -> RunRow | None:
    """The run's row; None for a run being created or a damaged record (whose one-line
    description is added to ``damaged``: listings leave it out but say so)."""
    try:
        storage = ns.storage()
        record = records.read_run(storage, flow, run_id)
        return RunRow(flow, run_id, records.with_effective_status(storage, flow, run_id, record))
    except DamagedRecordError as exc:
        if damaged is not None:
            damaged.append(f"run {run_id}: {exc}")
        return None
    except (MissingRecordError, ValueError):
        return None


@dataclass
class FlowRow:
    name: str
    run_count: int
    latest: RunRow | None


def home() -> list[FlowRow]:
    """Every flow with its number of runs and its latest run (one run.json read per flow)."""

    def summary(name: str) -> FlowRow:
        run_ids = records.list_runs(ns.storage(), name)
        latest = None
        for run_id in reversed(run_ids):
            latest = _read_run(name, run_id)
            if latest is not None:
                break
        return FlowRow(name, len(run_ids), latest)

    return parallel_map(summary, sorted(list_flows()))


@dataclass
class FlowPage:
    """One page of a flow's runs: ``runs`` are the ``offset``-th and following of the ``matched``
    runs the filters let through (``total`` runs in all)."""

    name: str
    runs: list[RunRow]
    total: int
    matched: int
    offset: int = 0
    statuses: list[str] = field(default_factory=lambda: ["running", *FINISHED])
    tags: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)


def _rows(flow: str, run_ids: list[str]) -> tuple[list[RunRow], list[str]]:
    """The runs' rows (one batch of reads) and the damaged records among them."""
    damaged: list[str] = []
    rows = []
    for rid, record in listing.read_runs(ns.storage(), flow, run_ids).items():
        if isinstance(record, DamagedRecordError):
            damaged.append(f"run {rid}: {record}")
        elif record is not None:
            rows.append(RunRow(flow, rid, record))
    return rows, sorted(damaged)


def flow_runs(
    flow: str, tag: str | None = None, status: str | None = None, offset: int = 0, limit: int = 100
) -> FlowPage:
    """A page of a flow's runs, newest first, filtered by tag (user or system) and status.

    Without a filter only the page's ``run.json`` records are read (a flow of 1,000 runs costs
    one listing and 100 reads); a filter reads every record, in one batch."""
    check_flow(flow)
    try:
        run_ids = records.list_runs(ns.storage(), flow)
    except DatastoreError:
        run_ids = []
    if not run_ids:
        raise NotFound(f"no flow named {flow!r} in {ns.get_metadata()}")
    newest = list(reversed(run_ids))
    if not tag and not status:
        offset = min(max(0, offset), len(newest) - 1)
        rows, damaged = _rows(flow, newest[offset : offset + limit])
        return FlowPage(
            flow,
            rows,
            len(newest),
            len(newest),
            offset,
            tags=sorted({t for r in rows for t in r.tags}),
            damaged=damaged,
        )
    rows, damaged = _rows(flow, newest)
    tags = sorted({t for r in rows for t in r.tags})
    if tag:
        rows = [r for r in rows if tag in r.tags or tag in (r.record.get("system_tags") or [])]
    if status:
        rows = [r for r in rows if r.status == status]
    offset = min(max(0, offset), max(0, len(rows) - 1))
    return FlowPage(
        flow,
        rows[offset : offset + limit],
        len(newest),
        len(rows),
        offset,
        tags=tags,
        damaged=damaged,
    )


def get_run(flow: str, run_id: str) -> Run:
    check_run(flow, run_id)
    return Run(f"{flow}/{run_id}")


# -- compare -------------------------------------------------------------------------------
_MISSING = object()


def scalar_artifacts(run: Run) -> dict[str, Any]:
    """Numbers, strings, bools and None among the artifacts of the run's end task.

    Blobs larger than 64 KB are not loaded: they are not scalars.
    """
    task = run.end_task
    if task is None:
        return {}
    params = set(run.parameters)
    out: dict[str, Any] = {}
    for artifact in task:
        if artifact.id in params or artifact.id.startswith("_"):
            continue
        try:
            if artifact.size > MAX_SCALAR_BYTES:
                continue
            value = artifact.data
        except Exception:  # noqa: BLE001 - an artifact whose class is gone is not comparable
            continue
        if value is None or isinstance(value, (str, bool, numbers.Number)):
            out[artifact.id] = value
    return out


@dataclass
class CompareRow:
    kind: str
    name: str
    values: list[str]
    differs: bool


def compare(flow: str, run_ids: list[str]) -> tuple[list[Run], list[CompareRow]]:
    from ._format import short

    runs = [get_run(flow, rid) for rid in run_ids]
    rows = [
        CompareRow("run", "status", [r.status for r in runs], len({r.status for r in runs}) > 1)
    ]
    columns_by_kind = (
        ("param", [r.parameters for r in runs]),
        ("artifact", parallel_map(scalar_artifacts, runs)),
    )
    for kind, columns in columns_by_kind:
        names: list[str] = []
        for col in columns:
            names += [n for n in col if n not in names]
        for name in names:
            values = [col.get(name, _MISSING) for col in columns]
            shown = ["-" if v is _MISSING else short(v, 80) for v in values]
            rows.append(CompareRow(kind, name, shown, len({repr(v) for v in values}) > 1))
    return runs, rows
