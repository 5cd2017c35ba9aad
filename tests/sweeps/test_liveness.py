"""A driver and one other trial holder on one study (real SQLite, real local Ray): the other's
live trial is never touched however long it runs; a trial whose heartbeats stopped, or never
started, is failed and tried again with its parameters."""

from __future__ import annotations

import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from rayflow.sweeps import Sweep
from rayflow.sweeps._liveness import Liveness, driver_of, open_storage, quiet_optuna, replaced

from .flows import QuadFlow

GRACE = 4


def _other_driver(url: str, name: str):
    """Another driver's storage, study and liveness, as ``rayflow sweep`` would hold them."""
    storage, callback = open_storage(url, 1, GRACE)
    study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True)
    return study, Liveness(study, storage, callback, 1, GRACE)


def _sweep(datastore, url, name, events=None):
    return Sweep(
        QuadFlow,
        space={"x": "float:0:1"},
        objective="start.loss",
        storage=url,
        study_name=name,
        datastore=datastore,
        concurrency=2,
        heartbeat_interval=1,
        grace_period=GRACE,
        on_event=(lambda kind, info: events.append((kind, info))) if events is not None else None,
    )


@pytest.mark.timeout(120)
def test_a_live_driver_s_trial_is_never_failed_however_long_it_runs(
    ray_session, datastore, tmp_path
):
    url, name = f"sqlite:///{tmp_path / 'study.db'}", "shared"
    study, live = _other_driver(url, name)
    with quiet_optuna():
        theirs = study.ask()
    theirs.suggest_float("x", 0, 1)
    live.own(theirs)  # heartbeats every second from now on
    events: list = []

    def finish_theirs_later() -> None:
        # The sweep runs its own two trials, then waits on this one for several grace periods.
        deadline = time.time() + 60
        while time.time() < deadline and not any(kind == "waiting" for kind, _ in events):
            time.sleep(0.1)
        time.sleep(3 * GRACE)
        live.release(theirs.number)
        live.stop()
        study.tell(theirs, 0.25)

    other = threading.Thread(target=finish_theirs_later)
    other.start()
    result = _sweep(datastore, url, name, events).run(n_trials=3)
    other.join()
    trials = result.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert trials[theirs.number].value == 0.25 and not replaced(trials)
    assert not [kind for kind, _ in events if kind in ("recovered", "lost")]
    waited = [info["trials"] for kind, info in events if kind == "waiting"]
    assert waited == [[theirs.number]]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("heartbeat", ["stopped", "never started"])
def test_a_trial_without_a_live_driver_is_tried_again_with_its_parameters(
    ray_session, datastore, tmp_path, heartbeat
):
    url, name = f"sqlite:///{tmp_path / 'study.db'}", "shared"
    study, live = _other_driver(url, name)
    study.enqueue_trial({"x": 0.75})
    with quiet_optuna():
        dead = study.ask()
    dead.suggest_float("x", 0, 1)
    if heartbeat == "stopped":
        live.own(dead)  # one heartbeat, then the driver "dies"
    live.stop()
    events: list = []
    result = _sweep(datastore, url, name, events).run(n_trials=3)
    trials = result.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    assert replaced(trials) == {dead.number}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3
    retry = [t for t in complete if t.params["x"] == 0.75]
    assert len(retry) == 1 and retry[0].number > dead.number and driver_of(retry[0]) is not None
    assert [info["trials"] for kind, info in events if kind == "recovered"] == [[dead.number]]


def test_every_driver_of_a_study_uses_the_heartbeat_settings_of_its_first(datastore, tmp_path):
    """A driver with a shorter grace period than another's heartbeat interval would fail that
    driver's live trials: a study keeps the settings its first driver chose."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    first = Sweep(
        QuadFlow,
        space={"x": "float:0:1"},
        objective="loss",
        storage=url,
        study_name="s",
        datastore=datastore,
        heartbeat_interval=2,
        grace_period=7,
    )
    first.load_study()
    events: list = []
    later = Sweep(
        QuadFlow,
        space={"x": "float:0:1"},
        objective="loss",
        storage=url,
        study_name="s",
        datastore=datastore,
        on_event=lambda kind, info: events.append((kind, info)),
    )
    later.load_study()
    assert (later.heartbeat_interval, later.grace_period) == (2, 7)
    assert (later.storage.heartbeat_interval, later.storage.grace_period) == (2, 7)
    assert events == [("heartbeat", {"interval": 2, "grace": 7})]


@pytest.mark.timeout(120)
def test_a_retried_trial_whose_run_had_succeeded_reuses_that_run(run_flow, datastore, tmp_path):
    """A driver killed between its run's success and telling the study: the retry takes the
    run's result instead of throwing it away and running the flow again."""
    from rayflow import Flow

    url, name = f"sqlite:///{tmp_path / 'study.db'}", "shared"
    study, live = _other_driver(url, name)
    study.enqueue_trial({"x": 0.75})
    with quiet_optuna():
        dead = study.ask()
    dead.suggest_float("x", 0, 1)
    live.own(dead)
    earlier = run_flow(QuadFlow, x=0.75)
    assert earlier.successful
    dead.set_user_attr("run_pathspec", earlier.pathspec)
    live.stop()  # the driver dies before telling the study
    result = _sweep(datastore, url, name).run(n_trials=2)
    retry = [t for t in result.get_trials() if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].user_attrs["run_pathspec"] == earlier.pathspec
    assert retry[0].value == pytest.approx((0.75 - 2) ** 2 + 1)
    runs_at_075 = [r for r in Flow("QuadFlow").runs() if r["start"].task.data.x == 0.75]
    assert [r.pathspec for r in runs_at_075] == [earlier.pathspec]  # not run a second time
