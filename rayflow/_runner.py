"""``Runner``: start flow runs from Python (notebooks, scripts, tests) instead of the shell.

A flow may be given as a file path (``"flow.py"`` or ``"flow.py:MyFlow"``) or as the class
itself, including a class defined in a notebook cell (cloudpickle ships it by value).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from ._configuse import ConfigInput
from ._errors import LintError
from ._parameters import resolve_values
from ._prepare import plan_for

if TYPE_CHECKING:
    from rayflow.scheduler import RunRequest

    from ._async_run import AsyncRun


class RunOutcome:
    """What ``Runner.run`` returns: the run's id, status and the client ``Run`` to read it."""

    def __init__(self, result: Any, datastore: str) -> None:
        self.result = result
        self.run_id = result.run_id
        self.pathspec = result.pathspec
        self.status = result.status
        self.successful = result.successful
        self.failures = result.failures
        self.cancelled = getattr(result, "cancelled", [])  # labels of tasks --fail-fast stopped
        self.executed = result.executed
        self.cloned = result.cloned
        self.cached = getattr(result, "cached", [])
        self.datastore = datastore

    @property
    def run(self) -> Any:
        from . import _namespace
        from ._client import Run

        if _namespace._settings["datastore"] != self.datastore:
            _namespace.metadata(self.datastore)
        return Run(self.pathspec)

    def __enter__(self) -> RunOutcome:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<RunOutcome {self.pathspec} {self.status}>"


class Runner:
    def __init__(
        self,
        flow: Any,
        datastore: str | None = None,
        quiet: bool = True,
        cluster: str | None = None,
        max_workers: int | None = None,
        tags: tuple[str, ...] | list[str] = (),
        with_: tuple[str, ...] = (),
        fail_fast: bool = False,
        cache: bool | None = None,
        shared_datastore: bool = False,
        config: Any = None,
        config_value: Any = None,
    ) -> None:
        """``cache``: None honours @cache, True caches every step, False ignores every cache.
        ``shared_datastore``: a local-path datastore that every node of ``cluster`` mounts.
        ``config`` / ``config_value``: the flow's Configs as ``--config NAME FILE`` /
        ``--config-value NAME JSON`` give them: ``{name: file}`` / ``{name: value}`` (a dict
        value or JSON text), or lists of ``(name, ...)`` pairs as Metaflow's Runner takes."""
        from rayflow.datastore import default_url
        from rayflow.scheduler import cache_mode

        if isinstance(flow, str):
            from ._loader import load_flow

            self.flow_cls, self.flow_file = load_flow(flow)
        else:
            self.flow_cls, self.flow_file = flow, _file_of(flow)
        self.datastore = datastore or default_url()
        self.options = {
            "quiet": quiet,
            "cluster": cluster,
            "max_workers": max_workers,
            "tags": tuple(tags),
            "fail_fast": fail_fast,
            "shared_datastore": shared_datastore,
            "cache": cache_mode(cache),
        }
        self.with_ = tuple(with_)
        values = dict(config_value or {})
        self.configs = ConfigInput(
            files={k: str(v) for k, v in dict(config or {}).items()},
            values={k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()},
        )

    def plan(self) -> dict[str, Any]:
        _, plan = plan_for(self.flow_cls, self.with_, self.configs)
        return plan

    def request(self, params: dict[str, Any], **fields: Any) -> RunRequest:
        """The request for a run of this runner's flow with ``params`` (resolved here, so a bad
        value raises in the caller's thread)."""
        from ._launching import new_request

        plan = self.plan()  # reads the Configs first: a Parameter's default may use them
        values = resolve_values(self.flow_cls, params)
        return new_request(
            self.flow_cls, self.flow_file, plan, values, self.datastore, **self.options, **fields
        )

    def run(self, **params: Any) -> RunOutcome:
        from rayflow.scheduler import launch

        return RunOutcome(launch(self.request(params)), self.datastore)

    def async_run(self, **params: Any) -> AsyncRun:
        """Start a run in a background thread and return at once (notebooks: start, then poll)."""
        from ._async_run import AsyncRun

        return AsyncRun.start(self, params)

    def resume(
        self, step: str | None = None, origin_run_id: str | None = None, **params: Any
    ) -> RunOutcome:
        """Resume the latest run (or ``origin_run_id``): finished tasks are cloned, not re-run."""
        from ._resuming import resume_run

        result = resume_run(
            self.flow_cls,
            self.flow_file,
            datastore=self.datastore,
            origin_run_id=origin_run_id,
            step=step,
            given_params=params,
            with_=self.with_,
            **self.options,
        )
        return RunOutcome(result, self.datastore)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _file_of(flow_cls: type) -> str | None:
    import inspect

    try:
        path = inspect.getsourcefile(flow_cls)
    except TypeError:
        return None
    return os.path.abspath(path) if path and os.path.exists(path) else None


__all__ = ["LintError", "RunOutcome", "Runner"]
