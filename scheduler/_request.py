"""``RunRequest``: everything one run needs, said once.

The CLI (``rayflow run``/``resume``, ``python flow.py run``), ``Runner``, ``AsyncRun`` and sweeps
only build a request and hand it to ``launch``; each flag is a field here and means the same
whichever way the run was started (they drifted when each caller passed its own arguments).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

CACHE_MODES = ("auto", "all", "off")


@dataclass
class RunRequest:
    """One run to launch.

    ``plan`` is the linted plan (``rayflow._prepare.plan_for``), ``params`` the resolved
    parameter values. A resume names ``origin_run_id`` and ``rerun`` (the steps whose tasks must
    run again, with what follows them); every other finished task of the origin is cloned.
    ``param_keys`` reuses blobs already stored (a resume keeps the origin's). ``extra`` adds
    fields to run.json (code and git facts: ``rayflow._lineage``).
    """

    flow_cls: type
    plan: dict[str, dict[str, Any]]
    params: dict[str, Any]
    datastore: str
    flow_file: str | None = None
    cluster: str | None = None
    shared_datastore: bool = False  # a local path every node of ``cluster`` mounts
    runtime_env: dict[str, Any] | None = None
    run_id: str | None = None
    tags: tuple[str, ...] = ()
    origin_run_id: str | None = None
    rerun: set[str] | None = None  # with origin_run_id: a resume
    param_keys: dict[str, str] | None = None
    cache: str = "auto"  # "auto": the steps marked @cache; "all": every step; "off": none
    max_workers: int | None = None
    fail_fast: bool = False
    max_num_splits: int | None = None
    quiet: bool = False
    warm: bool = False  # a local run uses (or starts) the warm local Ray (scheduler._warm)
    out: TextIO | None = None
    run_id_file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    on_started: Callable[[str], None] | None = None  # called with the run id once it is recorded
    trial: Any = None  # sweeps: {"study", "number", "params"} for current.trial
    reporter: Any = None  # sweeps: where a step's intermediate values go (pruning)
    should_stop: Callable[[], Any] | None = (
        None  # sweeps: truthy ends the run ("interrupted"/prune)
    )

    def __post_init__(self) -> None:
        if self.cache not in CACHE_MODES:
            raise ValueError(f"cache must be one of {CACHE_MODES}, not {self.cache!r}")
        self.tags = tuple(self.tags)

    @property
    def flow(self) -> str:
        return self.flow_cls.__name__

    @property
    def resuming(self) -> bool:
        return self.origin_run_id is not None and self.rerun is not None


def cache_mode(flag: bool | None) -> str:
    """``True`` caches every step, ``False`` none, ``None`` the steps marked @cache."""
    return "auto" if flag is None else ("all" if flag else "off")


__all__ = ["CACHE_MODES", "RunRequest", "cache_mode"]
