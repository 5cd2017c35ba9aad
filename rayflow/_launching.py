"""Build the ``RunRequest`` every way of starting a run hands to ``launch``.

``new_request`` adds what each run records about its code (the flow's source as a blob, the git
commit: ``rayflow._lineage``), so a CLI run, a ``Runner`` run, a resume and a sweep trial all
record the same facts; ``cli_fields`` turns the shared run options of ``rayflow run`` and
``rayflow resume`` into request fields, so each flag means the same in both.
"""

from __future__ import annotations

from typing import Any

from rayflow.scheduler import RunRequest, cache_mode

from ._configuse import artifacts, recorded
from ._lineage import lineage


def new_request(
    flow_cls: type,
    flow_file: str | None,
    plan: dict[str, Any],
    params: dict[str, Any],
    datastore: str,
    *,
    facts: dict[str, Any] | None = None,
    **fields: Any,
) -> RunRequest:
    """A request for ``flow_cls`` whose run.json carries its code facts (``facts``: already
    computed ones, e.g. once for all trials of a sweep)."""
    facts = lineage(flow_cls, flow_file, datastore) if facts is None else facts
    extra = {**facts, **(fields.pop("extra", None) or {})}
    configs = recorded(flow_cls)  # read by plan_for; kept so a resume sees the same values
    if configs is not None:
        extra["configs"] = configs
        params = {**params, **artifacts(flow_cls)}
    return RunRequest(flow_cls, plan, params, datastore, flow_file=flow_file, extra=extra, **fields)


def cli_fields(opts: dict[str, Any]) -> dict[str, Any]:
    """Request fields from the run options (``rayflow.cli._common.run_options``) of a command."""
    return {
        "tags": tuple(opts.get("tags") or ()),
        "max_workers": opts.get("max_workers"),
        "fail_fast": bool(opts.get("fail_fast")),
        "cluster": opts.get("cluster"),
        "quiet": bool(opts.get("quiet")),
        "shared_datastore": bool(opts.get("shared_datastore")),
        "cache": cache_mode(opts.get("cache")),
        "max_num_splits": opts.get("max_num_splits"),
        "run_id_file": opts.get("run_id_file"),
        "run_id": opts.get("run_id"),
        "warm": not opts.get("no_warm"),
    }


__all__ = ["cli_fields", "new_request"]
