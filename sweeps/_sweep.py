"""``Sweep``: an Optuna study whose trials are flow runs, many at once, in one driver process.

The driver is the study's only writer (ask and tell happen in this thread; runs execute in a
thread pool), which is what makes an SQLite file a safe default storage. Trials left RUNNING by a
crashed driver are marked failed when the sweep starts again, and their parameters re-asked.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rayflow.datastore import BlobStore, default_url, open_storage, records
from rayflow.scheduler import SchedulerError

STALE = "rayflow_stale"


class SweepError(SchedulerError):
    """A sweep cannot be set up as asked."""


@dataclass
class _Slot:
    number: int
    params: dict[str, Any]
    started: float = field(default_factory=time.time)
    run_id: str | None = None
    stop: bool = False
    pruned: bool = False


def default_storage(datastore: str) -> str:
    if "://" in datastore and not datastore.startswith("file://"):
        return f"sqlite:///{os.path.abspath('rayflow-sweeps.db')}"
    root = datastore[len("file://"):] if datastore.startswith("file://") else datastore
    os.makedirs(root, exist_ok=True)
    return f"sqlite:///{os.path.join(os.path.abspath(root), 'sweeps.db')}"


def make_sampler(name: str | None, seed: int | None = None) -> Any:
    import optuna.samplers as s

    table = {"tpe": s.TPESampler, "random": s.RandomSampler, "cmaes": s.CmaEsSampler, "qmc": s.QMCSampler}
    if name is None or name == "tpe":
        return s.TPESampler(seed=seed)
    if name == "grid":
        return None  # built from the space once it is known
    if name not in table:
        raise SweepError(f"unknown sampler {name!r} (tpe, random, grid, cmaes, qmc)")
    return table[name](seed=seed)


def make_pruner(name: str | None) -> Any:
    import optuna.pruners as p

    table = {None: p.NopPruner, "none": p.NopPruner, "median": p.MedianPruner,
             "hyperband": p.HyperbandPruner, "successive-halving": p.SuccessiveHalvingPruner}
    if name not in table:
        raise SweepError(f"unknown pruner {name!r} (none, median, hyperband, successive-halving)")
    return table[name]()


class Sweep:
    """``Sweep(MyFlow or "flow.py", space={...} or fn(trial) -> params, objective="loss").run(n)``."""

    def __init__(self, flow: Any, space: dict[str, Any] | Callable[[Any], dict[str, Any]],
                 objective: str, direction: str = "minimize", concurrency: int = 4,
                 storage: str | None = None, study_name: str | None = None, sampler: Any = None,
                 pruner: Any = None, params: dict[str, Any] | None = None,
                 datastore: str | None = None, cluster: str | None = None,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        import optuna

        from rayflow._loader import load_flow
        from rayflow._parameters import flow_parameters, resolve_values
        from rayflow._prepare import plan_for

        if isinstance(flow, str):
            self.flow_cls, self.flow_file = load_flow(flow)
        else:
            from rayflow._runner import _file_of

            self.flow_cls, self.flow_file = flow, _file_of(flow)
        if direction not in ("minimize", "maximize"):
            raise SweepError(f"direction must be minimize or maximize, not {direction!r}")
        self.names = {p.name: p.attr for p in flow_parameters(self.flow_cls)}
        self.names.update({p.attr: p.attr for p in flow_parameters(self.flow_cls)})
        if not callable(space):
            unknown = [n for n in space if n not in self.names]
            if unknown:
                known = ", ".join(sorted({p.name for p in flow_parameters(self.flow_cls)})) or "none"
                raise SweepError(f"--space {unknown[0]}: {self.flow_cls.__name__} has no such parameter "
                                 f"(parameters: {known})")
        self.space = space
        self.objective = objective
        self.direction = direction
        self.concurrency = max(1, int(concurrency))
        self.datastore = datastore or default_url()
        self.storage_url = storage or default_storage(self.datastore)
        self.study_name = study_name or self.flow_cls.__name__
        self.fixed = dict(params or {})
        fixed_names = {self.names.get(k, k) for k in self.fixed}
        self.fixed_values = resolve_values(self.flow_cls, {k: v for k, v in self.fixed.items()})
        self._fixed_given = fixed_names
        self.cluster = cluster
        _, self.plan = plan_for(self.flow_cls)
        if sampler == "grid" and not callable(space):
            sampler = optuna.samplers.GridSampler({k: list(_grid_values(v)) for k, v in space.items()})
        elif isinstance(sampler, str) or sampler is None:
            sampler = make_sampler(sampler)
        self.sampler = sampler
        self.pruner = make_pruner(pruner) if isinstance(pruner, str) or pruner is None else pruner
        self.on_event = on_event or (lambda kind, info: None)
        self.study: Any = None

    # -- study -----------------------------------------------------------------------------
    def load_study(self) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = optuna.create_study(storage=_open_storage(self.storage_url), study_name=self.study_name,
                                        direction=self.direction, sampler=self.sampler,
                                        pruner=self.pruner, load_if_exists=True)
        except Exception as exc:  # noqa: BLE001 - bad storage URLs raise many kinds of errors
            raise SweepError(f"cannot open study {self.study_name!r} in {self.storage_url}: {exc}") from None
        study.set_user_attr("flow", self.flow_cls.__name__)
        study.set_user_attr("objective", self.objective)
        study.set_user_attr("datastore", self.datastore)
        return study

    def _recover(self, study: Any) -> int:
        """Fail trials a crashed driver left RUNNING and re-ask their parameters."""
        from optuna.trial import TrialState

        stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for t in stale:
            study._storage.set_trial_user_attr(t._trial_id, STALE, True)
            study.tell(t.number, state=TrialState.FAIL)
            if t.params:
                study.enqueue_trial(t.params, skip_if_exists=False)
        return len(stale)

    def _runtime_env(self) -> dict[str, Any] | None:
        """What a run of the flow on ``cluster`` ships (code folder, S3 endpoint): the sweep
        joins the cluster once for all its runs, so it must ask for it when joining."""
        from rayflow.scheduler._cluster import cluster_runtime_env

        env, _, _ = cluster_runtime_env(self.cluster, self.flow_file, open_storage(self.datastore))
        return env

    @staticmethod
    def counted(study: Any) -> int:
        from optuna.trial import TrialState

        done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return sum(1 for t in study.get_trials(deepcopy=False, states=done) if not t.user_attrs.get(STALE))

    # -- running ---------------------------------------------------------------------------
    def run(self, n_trials: int = 20, timeout: float | None = None) -> Any:
        """Run until ``n_trials`` trials of the study have finished (counting earlier ones)."""
        from rayflow.scheduler._connect import connect, shutdown

        started_ray = connect(self.cluster, runtime_env=self._runtime_env())  # before importing ray
        import ray

        from ._broker import PruneBroker

        try:
            study = self.study = self.load_study()
            recovered = self._recover(study)
            broker = PruneBroker.remote()
        except BaseException:
            shutdown(started_ray)
            raise
        if recovered:
            self.on_event("recovered", {"count": recovered})
        events: queue.Queue = queue.Queue()
        slots: dict[int, _Slot] = {}
        futures: dict[cf.Future, Any] = {}
        deadline = time.time() + timeout if timeout else None
        finished = self.counted(study)
        self._pending_reports = None
        # Samplers such as GridSampler call study.stop() when they run out of points; that is
        # only allowed inside Optuna's own loop, which this ask-and-tell loop stands in for.
        study._thread_local.in_optimize_loop = True
        study._stop_flag = False
        try:
            with cf.ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="trial") as pool:
                while True:
                    out_of_time = deadline is not None and time.time() > deadline
                    while (len(futures) < self.concurrency and finished + len(futures) < n_trials
                           and not out_of_time and not study._stop_flag):
                        trial = study.ask()
                        params = self._suggest(trial)
                        slot = slots[trial.number] = _Slot(trial.number, params)
                        fut = pool.submit(self._run_trial, trial.number, params, broker, slot, events)
                        futures[fut] = trial
                        self.on_event("started", {"trial": trial.number, "params": params})
                    if not futures:
                        break
                    done, _ = cf.wait(list(futures), timeout=0.1, return_when=cf.FIRST_COMPLETED)
                    self._handle_events(study, events)
                    self._handle_reports(study, broker, slots)
                    for fut in done:
                        trial = futures.pop(fut)
                        self._tell(study, trial, slots.pop(trial.number), fut)
                        finished += 1
                    if out_of_time:
                        for slot in slots.values():
                            slot.stop = True
        finally:
            study._thread_local.in_optimize_loop = False
            try:
                ray.kill(broker)
            except Exception:  # noqa: BLE001
                pass
            shutdown(started_ray)
        return study

    def _suggest(self, trial: Any) -> dict[str, Any]:
        if callable(self.space):
            params = dict(self.space(trial))
        else:
            params = {name: trial._suggest(name, dist) for name, dist in self.space.items()}
        unknown = [n for n in params if n not in self.names]
        if unknown:
            raise SweepError(f"space returned {unknown[0]!r}, which is not a parameter of {self.flow_cls.__name__}")
        return params

    def _run_trial(self, number: int, params: dict[str, Any], broker: Any, slot: _Slot,
                   events: queue.Queue) -> tuple[str, Any, str]:
        import io

        from rayflow._parameters import resolve_values
        from rayflow.scheduler import run_flow

        from ._broker import make_reporter

        given = {**self.fixed, **params}
        values = resolve_values(self.flow_cls, given)
        result = run_flow(
            self.flow_cls, self.plan, values, datastore=self.datastore, flow_file=self.flow_file,
            cluster=self.cluster, tags=(f"study:{self.study_name}", f"trial:{number}"), quiet=True, out=io.StringIO(),
            trial={"study": self.study_name, "number": number, "params": params},
            reporter=make_reporter(broker, number), should_stop=lambda: slot.stop,
            on_started=lambda run_id: events.put(("run_id", number, run_id)),
        )
        if result.status != "successful":
            reason = "; ".join(f"{label}: {err.get('message', '')}" for label, err in result.failures[:3])
            return result.status, None, reason or result.status
        try:
            return "successful", self._objective_value(result.run_id), ""
        except SweepError as exc:
            return "failed", None, str(exc)

    def _objective_value(self, run_id: str) -> float:
        step, _, name = self.objective.rpartition(".")
        step = step or "end"
        storage = open_storage(self.datastore)
        flow = self.flow_cls.__name__
        tasks = records.list_tasks(storage, flow, run_id, step)
        if not tasks:
            raise SweepError(f"objective {self.objective}: the run has no step '{step}'")
        meta = records.read_meta(storage, flow, run_id, step, tasks[0])
        key = (meta.get("artifacts") or {}).get(name)
        if key is None:
            raise SweepError(f"objective {self.objective}: step '{step}' has no artifact '{name}'")
        value = BlobStore(storage, flow).get(key)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise SweepError(f"objective {self.objective} is {value!r}, not a number") from None

    def _handle_events(self, study: Any, events: queue.Queue) -> None:
        while True:
            try:
                kind, number, value = events.get_nowait()
            except queue.Empty:
                return
            if kind == "run_id":
                trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
                study._storage.set_trial_user_attr(trial_id, "run_pathspec", f"{self.flow_cls.__name__}/{value}")

    def _handle_reports(self, study: Any, broker: Any, slots: dict[int, _Slot]) -> None:
        import optuna
        import ray

        if self._pending_reports is None:
            self._pending_reports = broker.take.remote()
        ready, _ = ray.wait([self._pending_reports], timeout=0)
        if not ready:
            return
        reports = ray.get(self._pending_reports)
        self._pending_reports = None
        if not reports:
            return
        decisions: dict[int, tuple[bool, int]] = {}
        for number, value, step, ticket in reports:
            if number not in slots:
                continue
            trial = optuna.trial.Trial(study, study._storage.get_trial_id_from_study_id_trial_number(
                study._study_id, number))
            trial.report(value, step)
            pruned = trial.should_prune()
            if pruned:
                slots[number].stop = slots[number].pruned = True
                self.on_event("pruning", {"trial": number, "step": step, "value": value})
            decisions[number] = (pruned or decisions.get(number, (False, 0))[0], ticket)
        ray.get(broker.decide.remote(decisions))

    def _tell(self, study: Any, trial: Any, slot: _Slot, fut: cf.Future) -> None:
        from optuna.trial import TrialState

        try:
            status, value, reason = fut.result()
        except Exception as exc:  # noqa: BLE001 - a trial's crash must not stop the sweep
            status, value, reason = "failed", None, f"{type(exc).__name__}: {exc}"
        if slot.pruned or status == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
            self.on_event("pruned", {"trial": trial.number, "params": slot.params})
        elif status == "successful":
            study.tell(trial, value)
            self.on_event("complete", {"trial": trial.number, "params": slot.params, "value": value})
        else:
            trial.set_user_attr("fail_reason", reason[:500])
            study.tell(trial, state=TrialState.FAIL)
            self.on_event("failed", {"trial": trial.number, "params": slot.params, "reason": reason})


def _open_storage(url: str) -> Any:
    """SQLite in WAL mode with ``synchronous=NORMAL``: a crash of the driver loses nothing
    committed, and a trial's ask/tell no longer waits for an fsync each (10 commits a trial)."""
    if not url.startswith("sqlite:"):
        return url
    import optuna
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})

    @event.listens_for(storage.engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    storage.engine.dispose()
    return storage


def _grid_values(dist: Any) -> list[Any]:
    import optuna.distributions as d

    if isinstance(dist, d.CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, d.IntDistribution):
        return list(range(dist.low, dist.high + 1, dist.step))
    raise SweepError("grid sampling needs int or categorical spaces (a float range has no grid)")


