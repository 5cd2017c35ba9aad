"""``Sweep``: an Optuna study whose trials are flow runs, many at once, from one or more drivers.

A driver asks and tells in its main thread and runs flows in a thread pool (``_drive.py``).
Several drivers may share a study on one RDB storage (SQLite file by default, or PostgreSQL,
MySQL...): each keeps its trials alive with Optuna's heartbeats, and only the trials of a driver
whose heartbeats stopped are failed and tried again (``_liveness.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rayflow.datastore import BlobStore, default_url, open_storage, records, taskrecords
from rayflow.scheduler import SchedulerError

from ._space import SpaceError, as_distributions

HEARTBEAT = (
    "rayflow_heartbeat_settings"  # study attribute: the heartbeat settings all its drivers use
)


class SweepError(SchedulerError):
    """A sweep cannot be set up as asked."""


def default_storage(datastore: str) -> str:
    if "://" in datastore and not datastore.startswith("file://"):
        return f"sqlite:///{os.path.abspath('rayflow-sweeps.db')}"
    root = datastore[len("file://") :] if datastore.startswith("file://") else datastore
    os.makedirs(root, exist_ok=True)
    return f"sqlite:///{os.path.join(os.path.abspath(root), 'sweeps.db')}"


def make_sampler(name: str | None, seed: int | None = None) -> Any:
    import optuna.samplers as s

    table = {
        "tpe": s.TPESampler,
        "random": s.RandomSampler,
        "cmaes": s.CmaEsSampler,
        "qmc": s.QMCSampler,
    }
    if name is None or name == "tpe":
        return s.TPESampler(seed=seed)
    if name == "grid":
        return None  # built from the space once it is known
    if name not in table:
        raise SweepError(f"unknown sampler {name!r} (tpe, random, grid, cmaes, qmc)")
    return table[name](seed=seed)


def make_pruner(name: str | None) -> Any:
    import optuna.pruners as p

    table = {
        None: p.NopPruner,
        "none": p.NopPruner,
        "median": p.MedianPruner,
        "hyperband": p.HyperbandPruner,
        "successive-halving": p.SuccessiveHalvingPruner,
    }
    if name not in table:
        raise SweepError(f"unknown pruner {name!r} (none, median, hyperband, successive-halving)")
    return table[name]()


class Sweep:
    """``Sweep(MyFlow or "flow.py", space={...} or fn(trial) -> params, objective="loss").run(n)``."""

    def __init__(
        self,
        flow: Any,
        space: dict[str, Any] | Callable[[Any], dict[str, Any]],
        objective: str,
        direction: str = "minimize",
        concurrency: int = 4,
        storage: str | None = None,
        study_name: str | None = None,
        sampler: Any = None,
        pruner: Any = None,
        params: dict[str, Any] | None = None,
        datastore: str | None = None,
        cluster: str | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        heartbeat_interval: int = 10,
        grace_period: int = 60,
    ) -> None:
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
        self.space = space if callable(space) else self._checked_space(space)
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
        self._code_facts: dict[str, Any] | None = None
        _, self.plan = plan_for(self.flow_cls)
        if sampler == "grid" and not callable(space):
            sampler = optuna.samplers.GridSampler(
                {k: list(_grid_values(v)) for k, v in space.items()}
            )
        elif isinstance(sampler, str) or sampler is None:
            sampler = make_sampler(sampler)
        self.sampler = sampler
        self.pruner = make_pruner(pruner) if isinstance(pruner, str) or pruner is None else pruner
        self.on_event = on_event or (lambda kind, info: None)
        self.heartbeat_interval, self.grace_period = _liveness_periods(
            heartbeat_interval, grace_period
        )
        self.study: Any = None

    def _checked_space(self, space: Any) -> dict[str, Any]:
        """A dict space as Optuna distributions, every name a parameter of the flow."""
        from rayflow._parameters import flow_parameters

        if not isinstance(space, dict):
            raise SweepError(
                f"space must be a dict of NAME: SPEC or a function of the trial, not {space!r}"
            )
        try:
            space = as_distributions(space)
        except SpaceError as exc:
            raise SweepError(str(exc)) from None
        unknown = [n for n in space if n not in self.names]
        if unknown:
            known = ", ".join(sorted({p.name for p in flow_parameters(self.flow_cls)})) or "none"
            raise SweepError(
                f"--space {unknown[0]}: {self.flow_cls.__name__} has no such parameter "
                f"(parameters: {known})"
            )
        return space

    # -- study -----------------------------------------------------------------------------
    def load_study(self) -> Any:
        """Open (or create) the study on a storage whose heartbeats this driver keeps."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = self._open_study()
            # Every driver of a study must beat and judge alike (a shorter grace period than
            # another driver's interval would fail its live trials): the study's first settings win.
            kept = study.user_attrs.get(HEARTBEAT)
            if not kept:
                study.set_user_attr(
                    HEARTBEAT, {"interval": self.heartbeat_interval, "grace": self.grace_period}
                )
            elif (kept["interval"], kept["grace"]) != (self.heartbeat_interval, self.grace_period):
                self.heartbeat_interval, self.grace_period = (
                    int(kept["interval"]),
                    int(kept["grace"]),
                )
                self.on_event(
                    "heartbeat", {"interval": self.heartbeat_interval, "grace": self.grace_period}
                )
                self.storage.engine.dispose()
                study = self._open_study()
        except Exception as exc:  # noqa: BLE001 - bad storage URLs raise many kinds of errors
            raise SweepError(
                f"cannot open study {self.study_name!r} in {self.storage_url}: {exc}"
            ) from None
        study.set_user_attr("flow", self.flow_cls.__name__)
        study.set_user_attr("objective", self.objective)
        study.set_user_attr("datastore", self.datastore)
        return study

    def _open_study(self) -> Any:
        import optuna

        from ._liveness import open_storage as open_study_storage

        self.storage, self.retry_callback = open_study_storage(
            self.storage_url, self.heartbeat_interval, self.grace_period
        )
        return optuna.create_study(
            storage=self.storage,
            study_name=self.study_name,
            direction=self.direction,
            sampler=self.sampler,
            pruner=self.pruner,
            load_if_exists=True,
        )

    def _runtime_env(self) -> dict[str, Any] | None:
        """What a run of the flow on ``cluster`` ships (code folder, S3 endpoint): the sweep
        joins the cluster once for all its runs, so it must ask for it when joining."""
        from rayflow.scheduler._cluster import cluster_runtime_env

        env, _, _ = cluster_runtime_env(self.cluster, self.flow_file, open_storage(self.datastore))
        return env

    # -- running ---------------------------------------------------------------------------
    def run(self, n_trials: int = 20, timeout: float | None = None) -> Any:
        """Run until the study has ``n_trials`` finished trials (counting earlier ones and other
        drivers' ones). Ctrl-C finishes this driver's running trials as failed, then re-raises."""
        from rayflow.scheduler._connect import connect, shutdown

        started_ray = connect(self.cluster, runtime_env=self._runtime_env())  # before importing ray
        import ray

        from ._broker import PruneBroker
        from ._drive import SweepDriver
        from ._liveness import Liveness

        live = broker = None
        try:
            study = self.study = self.load_study()
            live = Liveness(
                study, self.storage, self.retry_callback, self.heartbeat_interval, self.grace_period
            )
            broker = PruneBroker.remote()
            SweepDriver(self, study, live, broker, n_trials, timeout).drive()
        finally:
            if live is not None:
                live.stop()
            if broker is not None:
                try:
                    ray.kill(broker)
                except Exception:  # noqa: BLE001
                    pass
            shutdown(started_ray)
        return study

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The trial's parameters, through Optuna's public ``suggest_*`` (a retried trial gets
        back the values it already has)."""
        import optuna.distributions as d

        if callable(self.space):
            params = dict(self.space(trial))
        else:
            params = {}
            for name, dist in self.space.items():
                if isinstance(dist, d.FloatDistribution):
                    params[name] = trial.suggest_float(
                        name, dist.low, dist.high, step=dist.step, log=dist.log
                    )
                elif isinstance(dist, d.IntDistribution):
                    params[name] = trial.suggest_int(
                        name, dist.low, dist.high, step=dist.step, log=dist.log
                    )
                elif isinstance(dist, d.CategoricalDistribution):
                    params[name] = trial.suggest_categorical(name, list(dist.choices))
                else:
                    raise SweepError(f"space[{name!r}]: unsupported distribution {dist!r}")
        unknown = [n for n in params if n not in self.names]
        if unknown:
            raise SweepError(
                f"space returned {unknown[0]!r}, which is not a parameter of {self.flow_cls.__name__}"
            )
        return params

    def run_trial(
        self, number: int, params: dict[str, Any], broker: Any, slot: Any, events: Any
    ) -> tuple[str, Any, str]:
        """One trial's flow run, in a pool thread: (status, objective value, failure reason)."""
        import io

        from rayflow._launching import new_request
        from rayflow._parameters import resolve_values
        from rayflow.scheduler import launch

        from ._broker import make_reporter

        run_id = self._earlier_success(slot.earlier)
        if run_id is not None:  # a retried trial whose run had succeeded before its driver died
            events.put(("run_id", number, run_id))
        else:
            values = resolve_values(self.flow_cls, {**self.fixed, **params})
            result = launch(
                new_request(
                    self.flow_cls,
                    self.flow_file,
                    self.plan,
                    values,
                    self.datastore,
                    facts=self.code_facts(),
                    cluster=self.cluster,
                    tags=(f"study:{self.study_name}", f"trial:{number}"),
                    quiet=True,
                    out=io.StringIO(),
                    trial={"study": self.study_name, "number": number, "params": params},
                    reporter=make_reporter(broker, number),
                    should_stop=lambda: slot.stop,
                    on_started=lambda run_id: events.put(("run_id", number, run_id)),
                )
            )
            if result.status != "successful":
                reason = "; ".join(
                    f"{label}: {err.get('message', '')}" for label, err in result.failures[:3]
                )
                return result.status, None, reason or result.status
            run_id = result.run_id
        try:
            return "successful", self._objective_value(run_id), ""
        except SweepError as exc:
            return "failed", None, str(exc)

    def code_facts(self) -> dict[str, Any]:
        """The code and git facts every trial's run.json records, as a CLI run's does; found
        once per sweep (trials run the same source)."""
        if self._code_facts is None:
            from rayflow._lineage import lineage

            self._code_facts = lineage(self.flow_cls, self.flow_file, self.datastore)
        return self._code_facts

    def _earlier_success(self, pathspec: str | None) -> str | None:
        flow, _, run_id = (pathspec or "").partition("/")
        if flow != self.flow_cls.__name__ or not run_id:
            return None
        try:
            status = records.read_run(open_storage(self.datastore), flow, run_id).get("status")
        except Exception:  # noqa: BLE001 - unreadable or gone: run the trial again
            return None
        return run_id if status == "successful" else None

    def _objective_value(self, run_id: str) -> float:
        step, _, name = self.objective.rpartition(".")
        step = step or "end"
        storage = open_storage(self.datastore)
        flow = self.flow_cls.__name__
        tasks = records.list_tasks(storage, flow, run_id, step)
        if not tasks:
            raise SweepError(f"objective {self.objective}: the run has no step '{step}'")
        key = taskrecords.read_task(storage, flow, run_id, step, tasks[0]).artifacts.get(name)
        if key is None:
            raise SweepError(f"objective {self.objective}: step '{step}' has no artifact '{name}'")
        value = BlobStore(storage, flow).get(key)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise SweepError(f"objective {self.objective} is {value!r}, not a number") from None


def _grid_values(dist: Any) -> list[Any]:
    import optuna.distributions as d

    if isinstance(dist, d.CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, d.IntDistribution):
        return list(range(dist.low, dist.high + 1, dist.step))
    raise SweepError("grid sampling needs int or categorical spaces (a float range has no grid)")


def _liveness_periods(heartbeat_interval: Any, grace_period: Any) -> tuple[int, int]:
    """The sweep driver's heartbeat interval and the grace period after which another driver
    takes a silent driver's trials for dead: a late heartbeat must not look like a death."""
    interval, grace = int(heartbeat_interval), int(grace_period)
    if interval < 1 or grace <= interval:
        raise SweepError(
            f"heartbeat interval {heartbeat_interval} s, grace period {grace_period} s: the "
            "interval must be at least 1 s and the grace period longer than it (several "
            "intervals, so that a late heartbeat is not taken for a dead driver)"
        )
    return interval, grace
