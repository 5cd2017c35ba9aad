"""Which trials of a study still have a live driver: Optuna's heartbeats, shared by all drivers.

Several ``rayflow sweep`` drivers may share one study (Optuna's way to scale a study out), so a
driver must never fail another live driver's trial. Each driver records a heartbeat for every
trial it runs with ``RDBStorage.record_heartbeat``, every ``interval`` seconds from a thread of
its own (Optuna records heartbeats itself only inside ``study.optimize``; rayflow asks and tells).
Before it asks, and every ``interval`` seconds while it runs or waits, a driver calls
``optuna.storages.fail_stale_trials``: Optuna fails the RUNNING trials whose last heartbeat is
more than ``grace`` seconds old, by the database's clock (so the drivers' clocks do not matter),
and its retry callback queues each one's parameters again as a WAITING trial, which the next
``study.ask`` of any driver takes.

A trial's first heartbeat lands a few milliseconds after the trial is created; a driver killed in
between leaves a RUNNING trial that Optuna cannot judge. So a driver marks each trial once its
first heartbeat is in (``MARK``: the trial's number, as a retry copies its original's attributes,
and the driver's host:pid), and a RUNNING trial that one driver sees unmarked for ``grace``
seconds is failed (``STALE``) and its parameters queued again.
"""

from __future__ import annotations

import inspect
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MARK = "rayflow_heartbeat"
STALE = "rayflow_stale"  # failed here because its driver stopped before its first heartbeat
SURPLUS = "rayflow_surplus"  # asked past the study's size by two drivers at once; never run
MAX_RETRY = 3  # a trial whose drivers died this many times counts as a failure
DRIVER = f"{socket.gethostname()}:{os.getpid()}"


def driver_of(trial: Any) -> str | None:
    """The host:pid of the driver that runs (or ran) ``trial``, once its heartbeats are on."""
    mark = trial.user_attrs.get(MARK)
    return (
        mark.get("driver") if isinstance(mark, dict) and mark.get("trial") == trial.number else None
    )


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna warns that heartbeats are experimental and "supposed to be used with
    Study.optimize"; rayflow records them itself, so neither warning means anything to its users.
    (Used in the driver's main thread only: ``catch_warnings`` is process-wide.)"""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        yield


class _RetryStale:
    """Optuna's retry callback, remembering which trials it saw fail so the sweep can say so."""

    def __init__(self) -> None:
        import optuna.storages as s

        retry = getattr(s, "RetryHeartbeatStaleTrialCallback", None) or s.RetryFailedTrialCallback
        with quiet_optuna():
            self.retry = retry(max_retry=MAX_RETRY)
        self.failed: list[int] = []

    def __call__(self, study: Any, trial: Any) -> None:
        self.retry(study, trial)
        self.failed.append(trial.number)


def open_storage(url: str, interval: int, grace: int) -> tuple[Any, _RetryStale]:
    """An ``RDBStorage`` with heartbeats on. SQLite runs in WAL mode with ``synchronous=NORMAL``:
    a crash of a driver loses nothing committed, and a commit no longer waits for an fsync."""
    from optuna.storages import RDBStorage

    callback = _RetryStale()
    # Optuna 4.9 renamed failed_trial_callback; older releases only know the old name.
    key = (
        "heartbeat_stale_trial_callback"
        if "heartbeat_stale_trial_callback" in inspect.signature(RDBStorage).parameters
        else "failed_trial_callback"
    )
    sqlite = url.startswith("sqlite:")
    engine_kwargs = {"connect_args": {"timeout": 30}} if sqlite else {"pool_pre_ping": True}
    with quiet_optuna():
        storage = RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=interval,
            grace_period=grace,
            **{key: callback},
        )
    if sqlite:
        from sqlalchemy import event

        @event.listens_for(storage.engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        storage.engine.dispose()
    return storage, callback


def replaced(trials: list[Any]) -> set[int]:
    """Numbers of trials that do not count towards the study's size: failed because their driver
    stopped and queued again (the retry counts instead), or surplus asks that never ran."""
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", ()))  # set by Optuna's retry callback
        if t.user_attrs.get(STALE) or t.user_attrs.get(SURPLUS):
            out.add(t.number)
    return out


def budget_used(trials: list[Any], below: int | None = None) -> tuple[int, int]:
    """(finished trials that count, RUNNING trials), the RUNNING ones numbered below ``below``
    only when given. Trial numbers are handed out in order under a lock on the study's row,
    so two drivers asking at once agree on which of their trials came first."""
    from optuna.trial import TrialState

    gone = replaced(trials)
    finished = running = 0
    for t in trials:
        if t.number in gone:
            continue
        if t.state.is_finished():
            finished += 1
        elif t.state == TrialState.RUNNING and (below is None or t.number < below):
            running += 1
    return finished, running


class Liveness:
    """This driver's heartbeats, and the recovery of trials whose driver stopped beating."""

    def __init__(
        self, study: Any, storage: Any, callback: _RetryStale, interval: int, grace: int
    ) -> None:
        self.study, self.storage, self.callback = study, storage, callback
        self.interval, self.grace = interval, grace
        self.study_id = storage.get_study_id_from_name(study.study_name)
        self._owned: dict[int, int] = {}  # trial number -> trial id
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._unmarked: dict[int, float] = {}  # number -> when this driver first saw it unmarked
        self._next_check = 0.0
        self._thread = threading.Thread(target=self._beat, name="rayflow-heartbeat", daemon=True)
        self._thread.start()

    def own(self, trial: Any) -> None:
        """First heartbeat of a trial just asked, then the mark saying its heartbeats are on."""
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
        self.storage.record_heartbeat(trial_id)
        trial.set_user_attr(MARK, {"trial": trial.number, "driver": DRIVER})
        with self._lock:
            self._owned[trial.number] = trial_id

    def release(self, number: int) -> None:
        with self._lock:
            self._owned.pop(number, None)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = list(self._owned.values())
            for trial_id in ids:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception:  # noqa: BLE001 - a missed beat is retried next interval; the grace spans several
                    pass

    def check(self, force: bool = False) -> list[int]:
        """Fail the trials of drivers that stopped (at most once an interval unless ``force``);
        returns their numbers."""
        import optuna

        now = time.monotonic()
        if not force and now < self._next_check:
            return []
        self._next_check = now + self.interval
        with quiet_optuna():
            optuna.storages.fail_stale_trials(self.study)
        failed, self.callback.failed = self.callback.failed, []
        return failed + self._fail_unmarked(now)

    def _fail_unmarked(self, now: float) -> list[int]:
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        with self._lock:
            mine = set(self._owned)
        seen: dict[int, float] = {}
        failed = []
        for t in running:
            if driver_of(t) is not None or t.number in mine:
                continue
            seen[t.number] = first = self._unmarked.get(t.number, now)
            if now - first <= self.grace:
                continue
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, t.number)
            try:
                self.storage.set_trial_user_attr(trial_id, STALE, True)
                if not self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    continue
            except UpdateFinishedTrialError:  # another driver got there first, or it finished
                continue
            if t.params:
                self.study.enqueue_trial(t.params, skip_if_exists=False)
            failed.append(t.number)
        self._unmarked = seen
        return failed
