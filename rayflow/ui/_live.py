"""What changed on a run's page since a client last looked, so live pages receive only that.

A live run page polls ``/api/runs/FLOW/RUN/changes?since=CURSOR``. The server keeps, for each
run asked about (the ``limit`` latest, in memory), a version counter and the version at which
each task row, each step row and the step graph last changed what they show. Each poll rebuilds
the run's view (finished task records come from the ``DoneCache``, so only unfinished tasks are
read again), compares it with what was last seen and moves the changed parts to a new version;
the answer carries the parts newer than the client's cursor.

A cursor is ``EPOCH.VERSION``; the epoch is chosen when the server starts, so a cursor from
before a restart (or one that was never given) is recognised, and the page reloads once.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]


def task_signature(task: Any) -> tuple[Any, ...]:
    """Everything a task row shows: when it changes, the row is sent again."""
    return (task.state, task.attempt, task.started_at, task.finished_at, task.node, task.exception)


def step_signature(step: Any) -> tuple[Any, ...]:
    return (
        step.status,
        step.total,
        tuple(step.counts.items()),
        step.start,
        step.end,
        len(step.tasks),
    )


@dataclass
class RunVersions:
    """Versions of the parts of one run's page (see the module docstring)."""

    born: int = 0
    version: int = 0
    tasks: dict[Key, tuple[tuple[Any, ...], int]] = field(default_factory=dict)
    steps: dict[str, tuple[tuple[Any, ...], int]] = field(default_factory=dict)
    graph: tuple[tuple[Any, ...], int] = ((), 0)

    def observe(self, view: Any) -> None:
        """Record ``view``: parts that differ from the last view get the next version."""
        new = self.version + 1
        changed = False
        for task in view.tasks:
            key, sig = (task.step, task.id), task_signature(task)
            if self.tasks.get(key, (None,))[0] != sig:
                self.tasks[key] = (sig, new)
                changed = True
        for step in view.steps:
            sig = step_signature(step)
            if self.steps.get(step.name, (None,))[0] != sig:
                self.steps[step.name] = (sig, new)
                changed = True
        graph = (view.running, tuple((s.name, s.status, bool(s.total)) for s in view.steps))
        if self.graph[0] != graph:
            self.graph = (graph, new)
            changed = True
        if changed:
            self.version = new

    def tasks_since(self, version: int) -> set[Key]:
        return {key for key, (_, v) in self.tasks.items() if v > version}

    def steps_since(self, version: int) -> set[str]:
        return {name for name, (_, v) in self.steps.items() if v > version}

    def graph_since(self, version: int) -> bool:
        return self.graph[1] > version


class LiveTracker:
    """``RunVersions`` of the runs asked about last (bounded), shared by every client."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self.epoch = secrets.token_hex(4)
        self._runs: OrderedDict[Key, RunVersions] = OrderedDict()
        self._high = 0  # the highest version given out: a run seen again starts above it
        self._lock = threading.Lock()

    def observe(self, run: Key, view: Any) -> tuple[RunVersions, str]:
        """The run's versions after seeing ``view``, and the cursor that stands for now."""
        with self._lock:
            versions = self._runs.pop(run, None) or RunVersions(self._high, self._high)
            self._runs[run] = versions
            while len(self._runs) > self.limit:
                self._runs.popitem(last=False)
            versions.observe(view)
            self._high = max(self._high, versions.version)
            return versions, f"{self.epoch}.{versions.version}"

    def version_of(self, cursor: str | None, versions: RunVersions) -> int | None:
        """The version a cursor names; None when it is not one of this server's, or was given
        before the run was last forgotten (the page reloads)."""
        epoch, _, number = (cursor or "").partition(".")
        if (
            epoch != self.epoch
            or not number.isdigit()
            or int(number) <= versions.born
            or int(number) > versions.version
        ):
            return None
        return int(number)
