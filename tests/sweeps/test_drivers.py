"""Several real ``rayflow sweep`` drivers on one study, on SQLite and on a real PostgreSQL server:
they share the study's size, never fail each other's live trials, recover a SIGKILLed driver's
trials only, and throw away no finished run's result."""

from __future__ import annotations

import os
import signal

import optuna
import pytest
from optuna.trial import TrialState

from rayflow import Flow, Run
from rayflow.sweeps._liveness import SURPLUS, driver_of, replaced

from .drivers import Driver, gate_args, wait_for

N = 6


def _running_per_driver(trials) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for t in trials:
        if t.state == TrialState.RUNNING and driver_of(t) and t.user_attrs.get("run_pathspec"):
            out.setdefault(driver_of(t), []).append(t.number)
    return out


def _assert_no_result_discarded(storage: str, study_name: str) -> list:
    """Exactly N trials complete, none left running, every complete trial points at a successful
    run holding its value, and every successful run of the study is a complete trial's."""
    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in complete:
        run = Run(t.user_attrs["run_pathspec"])
        assert run.successful
        assert run["start"].task.data.loss == pytest.approx(t.value)
        assert run["start"].task.data.x == pytest.approx(t.params["x"])
    successful = {r.pathspec for r in Flow("GateFlow").runs(f"study:{study_name}") if r.successful}
    assert successful == {t.user_attrs["run_pathspec"] for t in complete}
    return trials


@pytest.mark.timeout(300)
def test_two_drivers_share_one_study_and_finish_exactly_its_trials(
    study_storage, datastore, tmp_path
):
    storage, name = study_storage
    gate = str(tmp_path / "gate")
    drivers = [Driver(gate_args(storage, name, datastore, gate, N)) for _ in range(2)]
    try:
        # Each driver holds 2 trials at the gate: both really work on the study at once.
        wait_for(
            storage,
            name,
            lambda ts: (
                len(_running_per_driver(ts)) == 2
                and all(len(v) == 2 for v in _running_per_driver(ts).values())
            ),
            drivers,
        )
        open(gate, "w").close()
        codes = [d.finish() for d in drivers]
    finally:
        for d in drivers:
            d.kill()
    assert codes == [0, 0], "\n".join(d.output for d in drivers)
    trials = _assert_no_result_discarded(storage, name)
    assert not replaced(
        [t for t in trials if not t.user_attrs.get(SURPLUS)]
    )  # no trial failed as stale
    others = [t for t in trials if t.state != TrialState.COMPLETE]
    assert all(t.user_attrs.get(SURPLUS) for t in others)  # only unrun surplus asks, if any
    assert {driver_of(t) for t in trials if t.state == TrialState.COMPLETE} == {
        f"{os.uname().nodename}:{d.pid}" for d in drivers
    }


@pytest.mark.timeout(300)
def test_a_killed_driver_s_trials_and_only_those_are_recovered_by_the_other(
    study_storage, datastore, tmp_path
):
    storage, name = study_storage
    gate = str(tmp_path / "gate")
    victim, survivor = (Driver(gate_args(storage, name, datastore, gate, N)) for _ in range(2))
    try:
        trials = wait_for(
            storage,
            name,
            lambda ts: (
                len(_running_per_driver(ts)) == 2
                and all(len(v) == 2 for v in _running_per_driver(ts).values())
            ),
            [victim, survivor],
        )
        os.kill(victim.pid, signal.SIGKILL)  # mid-run: its two trials wait at the gate
        victim.proc.wait(timeout=30)
        killed = sorted(_running_per_driver(trials)[f"{os.uname().nodename}:{victim.pid}"])
        open(gate, "w").close()
        code = survivor.finish()
    finally:
        victim.kill()
        survivor.kill()
    assert code == 0, survivor.output
    assert (
        "their driver stopped (no heartbeat for 5 s); marked failed and queued again"
        in survivor.output
    )
    trials = _assert_no_result_discarded(storage, name)
    by_number = {t.number: t for t in trials}
    failed = sorted(
        t.number for t in trials if t.state == TrialState.FAIL and not t.user_attrs.get(SURPLUS)
    )
    assert failed == killed  # the dead driver's trials, and nothing of the live one
    assert replaced(trials) - {t.number for t in trials if t.user_attrs.get(SURPLUS)} == set(killed)
    retries = {
        t.system_attrs["failed_trial"]: t for t in trials if "failed_trial" in t.system_attrs
    }
    assert sorted(retries) == killed
    for number, retry in retries.items():  # each tried again with its parameters, by the survivor
        assert retry.state == TrialState.COMPLETE
        assert retry.params == by_number[number].params
        assert driver_of(retry) == f"{os.uname().nodename}:{survivor.pid}"
