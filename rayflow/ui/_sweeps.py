"""The sweeps pages: studies in the sweeps' Optuna storage, a study's trials and its history.

The storage is the one ``rayflow sweep`` uses by default for the datastore
(``rayflow.sweeps.default_storage``) unless ``rayflow ui --sweeps-storage URL`` names another.
A default SQLite file that does not exist yet is not created: the page says there are no sweeps.
Optuna is imported only when a sweeps page is asked for.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from rayflow._client import NotFound

_STUDY = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")
_lock = threading.Lock()
_storages: dict[str, Any] = {}


def storage_url(datastore: str, given: str | None) -> str | None:
    """The Optuna storage URL to read, or None when the default SQLite file does not exist."""
    if given:
        return given
    from rayflow.sweeps import default_storage

    url = default_storage(datastore)
    path = url[len("sqlite:///") :]
    return url if os.path.exists(path) else None


def _open(url: str) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _lock:
        if url not in _storages:
            _storages[url] = (
                optuna.storages.RDBStorage(url)
                if url.startswith(("sqlite:", "postgresql", "mysql"))
                else url
            )
        return _storages[url]


@dataclass
class StudyRow:
    name: str
    direction: str
    n_trials: int
    best_value: float | None
    best_number: int | None
    flow: str | None
    objective: str | None


def studies(url: str | None) -> list[StudyRow]:
    if url is None:
        return []
    import optuna

    out = []
    for s in optuna.get_all_study_summaries(storage=_open(url), include_best_trial=True):
        best = s.best_trial
        out.append(
            StudyRow(
                s.study_name,
                s.direction.name.lower(),
                s.n_trials,
                best.value if best else None,
                best.number if best else None,
                s.user_attrs.get("flow"),
                s.user_attrs.get("objective"),
            )
        )
    return sorted(out, key=lambda r: r.name)


@dataclass
class TrialRow:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    run: str | None
    seconds: float | None
    note: str = ""


@dataclass
class StudyPage:
    name: str
    direction: str
    flow: str | None
    objective: str | None
    trials: list[TrialRow] = field(default_factory=list)
    best: TrialRow | None = None
    param_names: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def study_page(url: str | None, name: str) -> StudyPage:
    if url is None or not _STUDY.fullmatch(name):
        raise NotFound(f"no study named {name!r}")
    import optuna
    from optuna.trial import TrialState

    try:
        study = optuna.load_study(study_name=name, storage=_open(url))
    except KeyError:
        raise NotFound(f"no study named {name!r} in {url}") from None
    attrs = study.user_attrs
    page = StudyPage(name, study.direction.name.lower(), attrs.get("flow"), attrs.get("objective"))
    from rayflow.sweeps._liveness import replaced

    trials = study.get_trials(deepcopy=False)
    retried = replaced(trials)
    for t in trials:
        secs = None
        if t.datetime_start and t.datetime_complete:
            secs = (t.datetime_complete - t.datetime_start).total_seconds()
        note = str(t.user_attrs.get("fail_reason") or "")
        if t.number in retried and not t.user_attrs.get("rayflow_surplus"):
            note = "its driver stopped (no heartbeat); tried again"
        elif t.state == TrialState.RUNNING and _run_crashed(t.user_attrs.get("run_pathspec")):
            note = "its run crashed (the sweep driver died); it is tried again once its heartbeat is stale"
        row = TrialRow(
            t.number,
            t.state.name.lower(),
            t.value,
            dict(t.params),
            t.user_attrs.get("run_pathspec"),
            secs,
            note,
        )
        page.trials.append(row)
        page.counts[row.state] = page.counts.get(row.state, 0) + 1
        if t.state == TrialState.COMPLETE and t.value is not None:
            better = (
                page.best is None
                or page.best.value is None
                or (
                    t.value < page.best.value
                    if page.direction == "minimize"
                    else t.value > page.best.value
                )
            )
            if better:
                page.best = row
    page.param_names = sorted({k for t in page.trials for k in t.params})
    return page


def _run_crashed(pathspec: str | None) -> bool:
    from rayflow._client import Run

    if not pathspec:
        return False
    try:
        return Run(pathspec).status == "crashed"
    except Exception:  # noqa: BLE001 - a run that cannot be read leaves the trial as it is
        return False


def history_points(page: StudyPage) -> list[tuple[int, float]]:
    return [
        (t.number, float(t.value))
        for t in page.trials
        if t.state == "complete" and t.value is not None
    ]
