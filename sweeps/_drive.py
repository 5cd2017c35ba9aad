"""One sweep driver's ask/run/tell loop, sharing its study with any other drivers.

The study's size is shared: a driver asks for a trial only while the finished trials that count
plus every driver's RUNNING trials are below ``n_trials``, and when it has nothing left of its own
it waits for the others' trials instead of exiting, so a dead driver's trials are recovered (by
``Liveness``) and run by whoever is still there. Two drivers asking at the same moment may both
pass that check; right after asking, the one whose trial number comes second finds the budget
used and finishes its trial, unrun, as a surplus.

Everything touching the study happens in this thread; flow runs execute in a thread pool and
talk back through ``events`` and the pruning broker. All Optuna calls are public API.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import time
from dataclasses import dataclass, field
from typing import Any

from ._liveness import SURPLUS, budget_used, quiet_optuna

INTERRUPTED = "interrupted (Ctrl-C) before the trial finished"


@dataclass
class _Slot:
    trial: Any  # the optuna.Trial this driver asked for
    params: dict[str, Any]
    earlier: str | None = None  # run of the trial this one retries (its driver died)
    started: float = field(default_factory=time.time)
    stop: bool | str = False  # True: pruned or out of time; "interrupted": the driver stops
    pruned: bool = False


class SweepDriver:
    def __init__(
        self, sweep: Any, study: Any, live: Any, broker: Any, n_trials: int, timeout: float | None
    ) -> None:
        self.sweep, self.study, self.live, self.broker = sweep, study, live, broker
        self.n = n_trials
        self.deadline = time.time() + timeout if timeout else None
        self.on_event = sweep.on_event
        self.events: queue.Queue = queue.Queue()
        self.slots: dict[int, _Slot] = {}
        self.futures: dict[cf.Future, int] = {}
        self._pending_reports: Any = None
        self._full_until = 0.0  # the study's size is taken until then: do not re-count before
        self._waiting_said = False

    def drive(self) -> None:
        pool = cf.ThreadPoolExecutor(max_workers=self.sweep.concurrency, thread_name_prefix="trial")
        try:
            self._loop(pool)
        except KeyboardInterrupt:
            self._abandon(INTERRUPTED)
            raise
        except BaseException as exc:
            self._abandon(f"the sweep driver stopped: {type(exc).__name__}: {exc}")
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self, pool: cf.ThreadPoolExecutor) -> None:
        while True:
            out_of_time = self.deadline is not None and time.time() > self.deadline
            if out_of_time:
                for slot in self.slots.values():
                    slot.stop = True
            recovered = self.live.check()
            if recovered:
                self._full_until = 0.0
                self.on_event("recovered", {"trials": recovered, "grace": self.live.grace})
            if not out_of_time:
                self._fill(pool)
            if not self.futures:
                if out_of_time or self._study_done():
                    return
                self._wait_for_others()
                continue
            done, _ = cf.wait(list(self.futures), timeout=0.1, return_when=cf.FIRST_COMPLETED)
            self._handle_events()
            self._handle_reports()
            for fut in done:
                self._tell(self.slots.pop(self.futures.pop(fut)), fut)

    # -- asking ----------------------------------------------------------------------------
    def _grid_done(self) -> bool:
        import optuna

        sampler = self.study.sampler
        return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(self.study)

    def _study_done(self) -> bool:
        finished, _ = budget_used(self.study.get_trials(deepcopy=False))
        return finished >= self.n or self._grid_done()

    def _fill(self, pool: cf.ThreadPoolExecutor) -> None:
        while len(self.futures) < self.sweep.concurrency and time.monotonic() >= self._full_until:
            finished, running = budget_used(self.study.get_trials(deepcopy=False))
            if finished + running >= self.n or self._grid_done():
                self._full_until = time.monotonic() + 1.0
                return
            with quiet_optuna():
                trial = self.study.ask()
            self.live.own(trial)
            finished, before = budget_used(
                self.study.get_trials(deepcopy=False), below=trial.number
            )
            if finished + before >= self.n:
                self.live.release(trial.number)
                self._finish(
                    trial,
                    state="FAIL",
                    attrs={
                        SURPLUS: True,
                        "fail_reason": "not run: another driver asked for the study's last trial first",
                    },
                )
                self._full_until = time.monotonic() + 1.0
                return
            self._waiting_said = False
            try:
                params = self.sweep.suggest(trial)
            except BaseException as exc:
                self.live.release(trial.number)
                self._finish(
                    trial, state="FAIL", attrs={"fail_reason": f"{type(exc).__name__}: {exc}"[:500]}
                )
                raise
            slot = self.slots[trial.number] = _Slot(
                trial, params, trial.user_attrs.get("run_pathspec")
            )
            fut = pool.submit(
                self.sweep.run_trial, trial.number, params, self.broker, slot, self.events
            )
            self.futures[fut] = trial.number
            self.on_event("started", {"trial": trial.number, "params": params})

    def _wait_for_others(self) -> None:
        from optuna.trial import TrialState

        if not self._waiting_said:
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            self.on_event(
                "waiting", {"trials": [t.number for t in running], "grace": self.live.grace}
            )
            self._waiting_said = True
        time.sleep(0.5)

    # -- telling ---------------------------------------------------------------------------
    def _finish(
        self,
        trial: Any,
        value: float | None = None,
        state: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> bool:
        """Tell Optuna how the trial ended; False when it was already finished by another driver
        (which saw no heartbeat of this one for the grace period)."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        try:
            for key, val in (attrs or {}).items():
                trial.set_user_attr(key, val)
            self.study.tell(trial, value, state=TrialState[state] if state else None)
        except (UpdateFinishedTrialError, ValueError) as exc:
            if isinstance(exc, ValueError) and "Cannot tell" not in str(exc):
                raise
            self.on_event(
                "lost",
                {
                    "trial": trial.number,
                    "grace": self.live.grace,
                    "run": trial.user_attrs.get("run_pathspec"),
                },
            )
            return False
        except RuntimeError as exc:
            # GridSampler.after_trial calls study.stop() once its grid is used up, which Optuna
            # allows only inside study.optimize; the trial's state is stored before that.
            if "Study.stop" not in str(exc):
                raise
        return True

    def _tell(self, slot: _Slot, fut: cf.Future) -> None:
        trial = slot.trial
        self.live.release(trial.number)
        try:
            status, value, reason = fut.result()
        except Exception as exc:  # noqa: BLE001 - a trial's crash must not stop the sweep
            status, value, reason = "failed", None, f"{type(exc).__name__}: {exc}"
        info = {"trial": trial.number, "params": slot.params}
        if slot.pruned or status == "pruned":
            if self._finish(trial, state="PRUNED"):
                self.on_event("pruned", info)
        elif status == "successful":
            if self._finish(trial, value):
                self.on_event("complete", {**info, "value": value})
        elif self._finish(trial, state="FAIL", attrs={"fail_reason": reason[:500]}):
            self.on_event("failed", {**info, "reason": reason})

    def _abandon(self, reason: str) -> None:
        """Stop this driver's runs and finish its trials as failed, so none is left RUNNING."""
        for slot in self.slots.values():
            slot.stop = "interrupted"  # the run ends as failed, not pruned
        told = []
        for number, slot in list(self.slots.items()):
            self.live.release(number)
            if self._finish(slot.trial, state="FAIL", attrs={"fail_reason": reason}):
                told.append(number)
        self.slots.clear()
        self.futures.clear()
        self.on_event("abandoned", {"trials": told, "reason": reason})

    # -- messages from the runs ------------------------------------------------------------
    def _handle_events(self) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        while True:
            try:
                kind, number, value = self.events.get_nowait()
            except queue.Empty:
                return
            slot = self.slots.get(number)
            if kind == "run_id" and slot is not None:
                try:
                    slot.trial.set_user_attr(
                        "run_pathspec", f"{self.sweep.flow_cls.__name__}/{value}"
                    )
                except UpdateFinishedTrialError:
                    pass  # failed by another driver; said when the trial is told

    def _handle_reports(self) -> None:
        import ray
        from optuna.exceptions import UpdateFinishedTrialError

        if self._pending_reports is None:
            self._pending_reports = self.broker.take.remote()
        ready, _ = ray.wait([self._pending_reports], timeout=0)
        if not ready:
            return
        reports = ray.get(self._pending_reports)
        self._pending_reports = None
        if not reports:
            return
        decisions: dict[int, tuple[bool, int]] = {}
        for number, value, step, ticket in reports:
            slot = self.slots.get(number)
            if slot is None:
                continue
            try:
                slot.trial.report(value, step)
                pruned = slot.trial.should_prune()
            except UpdateFinishedTrialError:
                pruned = True  # failed by another driver: stop its run
            if pruned:
                slot.stop = slot.pruned = True
                self.on_event("pruning", {"trial": number, "step": step, "value": value})
            decisions[number] = (pruned or decisions.get(number, (False, 0))[0], ticket)
        ray.get(self.broker.decide.remote(decisions))
