"""``current``: what a running step can ask about itself (Metaflow's ``current``).

Set by the task body in the worker right before the user's step runs and cleared after, so it
holds one task's facts at a time (a Ray worker runs one task at a time).
"""

from __future__ import annotations

from typing import Any

_FIELDS = (
    "flow_name",
    "run_id",
    "step_name",
    "task_id",
    "retry_count",
    "origin_run_id",
    "namespace",
    "username",
    "tags",
    "node_id",
    "trial",
    "parameter_names",
    "project_name",
    "branch_name",
    "is_production",
    "project_flow_name",
    "parallel",
)


class Current:
    """Attributes are ``None`` (``is_running_flow`` is ``False``) outside a running step."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._reporter: Any = None

    def _set(self, values: dict[str, Any], reporter: Any = None) -> None:
        self._values = dict(values)
        self._reporter = reporter

    def _clear(self) -> None:
        self._values = {}
        self._reporter = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _FIELDS:
            return self._values.get(name)
        raise AttributeError(f"current has no attribute {name!r}")

    @property
    def card(self) -> Any:
        """The step's card components (``rayflow.cards``): rendered into its ``@card`` cards
        when the step ends."""
        collector = self._values.get("_card")
        if collector is None:
            from .cards._collector import CardCollector

            collector = CardCollector()
            if self._values:
                self._values["_card"] = collector
        return collector

    @property
    def tags(self) -> set[str] | None:
        """The run's tags, as a set of its own each time (Metaflow's ``current.tags`` is a set)."""
        if not self._values:
            return None
        return set(self._values.get("tags") or [])

    @property
    def task(self) -> Any:
        """The running task as a client ``Task`` (Metaflow's ``current.task``); can be stored as
        an artifact and read back in any namespace."""
        if not self._values:
            return None
        from ._client import Task

        return Task(self.pathspec, _lazy=True)

    @property
    def run(self) -> Any:
        """The running run as a client ``Run`` (Metaflow's ``current.run``)."""
        if not self._values:
            return None
        from ._client import Run

        return Run(f"{self._values['flow_name']}/{self._values['run_id']}", _namespace_check=False)

    @property
    def is_running_flow(self) -> bool:
        return bool(self._values)

    @property
    def pathspec(self) -> str | None:
        v = self._values
        if not v:
            return None
        return f"{v['flow_name']}/{v['run_id']}/{v['step_name']}/{v['task_id']}"

    def report(self, value: float, step: int) -> None:
        """Report an intermediate value of a sweep trial; raises ``TrialPruned`` if pruned."""
        if self._reporter is not None:
            self._reporter(float(value), int(step))

    def __reduce__(self) -> str:
        # Flows are pickled by value; ``current`` must stay the worker's own singleton.
        return "current"

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def __repr__(self) -> str:
        return f"<current {self.pathspec or '(not in a step)'}>"


current = Current()
