"""``Flow``: a flow's runs in the current namespace, newest first (Metaflow's Flow)."""

from __future__ import annotations

from collections.abc import Iterator

from rayflow.datastore import DamagedRecordError, listing, records

from . import _namespace as ns
from ._client_common import NotFound, _in_namespace, _warn
from ._client_compat import FlowCompat
from ._client_run import Run


class Flow(FlowCompat):
    def __init__(self, name: str, _namespace_check: bool = True) -> None:
        self.id = self.pathspec = name
        if not records.list_runs(ns.storage(), name):
            raise NotFound(f"flow {name} not found in {ns.get_metadata()}")

    def runs(self, *tags: str) -> list[Run]:
        """Runs in the current namespace, newest first, having every tag in ``tags``."""
        out = []
        storage = ns.storage()
        run_ids = list(reversed(records.list_runs(storage, self.id)))
        found = listing.read_runs(storage, self.id, run_ids)  # a few round trips, not one per run
        for run_id in run_ids:
            record = found.get(run_id)
            if isinstance(record, DamagedRecordError):
                _warn(f"run {self.id}/{run_id} skipped: {record}")
                continue
            if record is None:
                continue
            if not _in_namespace(record):
                continue
            if tags and not set(tags) <= set(record.get("tags", [])) | set(
                record.get("system_tags", [])
            ):
                continue
            out.append(Run(f"{self.id}/{run_id}", _record=record))
        return out

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    def __getitem__(self, run_id: str) -> Run:
        return Run(f"{self.id}/{run_id}")

    @property
    def latest_run(self) -> Run | None:
        runs = self.runs()
        return runs[0] if runs else None

    @property
    def latest_successful_run(self) -> Run | None:
        return next((r for r in self.runs() if r.successful), None)

    def __repr__(self) -> str:
        return f"Flow('{self.id}')"
