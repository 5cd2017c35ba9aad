"""Metaflow's names on the client objects, kept apart from ``_client`` (which reads records):
equality by pathspec, ``path_components``, a task's parents and children, ``loglines``, a step's
neighbours and control tasks, ``replace_tags``, ``Flow.tags``. Mixed into Task/Step/Run/Flow."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import Step, Task


class _ByPathspec:
    pathspec: str

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.pathspec == self.pathspec  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.pathspec)

    @property
    def path_components(self) -> list[str]:
        return self.pathspec.split("/")


class TaskCompat(_ByPathspec):
    @property
    def parent_task_pathspecs(self) -> list[str]:
        from ._dag import parent_task_pathspecs

        return parent_task_pathspecs(self)  # type: ignore[arg-type]

    @property
    def parent_tasks(self) -> list[Task]:
        from ._client import Task

        return [Task(p, _lazy=True) for p in self.parent_task_pathspecs]

    @property
    def child_task_pathspecs(self) -> list[str]:
        from ._dag import child_task_pathspecs

        return child_task_pathspecs(self)  # type: ignore[arg-type]

    @property
    def child_tasks(self) -> list[Task]:
        from ._client import Task

        return [Task(p, _lazy=True) for p in self.child_task_pathspecs]

    def loglines(self, stream: str = "stdout") -> Iterator[tuple[datetime | None, str]]:
        """``(timestamp, line)`` for each saved line; rayflow keeps no per-line times, so the
        timestamp is the task's finish time."""
        me: Any = self
        when = me.finished_at
        return ((when, line) for line in me._log(stream).splitlines())


class StepCompat(_ByPathspec):
    flow_name: str
    run_id: str

    @property
    def origin_pathspec(self) -> str | None:
        """The step of the run this one was resumed from (from its first task), as Metaflow."""
        me: Any = self
        origin = me.task.origin_pathspec if me.tasks() else None
        return origin.rsplit("/", 1)[0] if origin else None

    @property
    def tags(self) -> frozenset[str]:
        """The run's tags (Metaflow's steps and tasks carry their run's tags)."""
        from ._client import Run

        return Run(f"{self.flow_name}/{self.run_id}", _namespace_check=False).tags

    def control_tasks(self) -> list[Task]:
        """The control task of a @parallel step (node 0), as Metaflow's ``control_tasks()``."""
        from ._dag import control_tasks

        return control_tasks(self)  # type: ignore[arg-type]

    @property
    def parent_steps(self) -> list[Step]:
        from ._client import Step
        from ._dag import parent_step_names

        names = parent_step_names(self)  # type: ignore[arg-type]
        return [Step(f"{self.flow_name}/{self.run_id}/{n}", _lazy=True) for n in names]

    @property
    def child_steps(self) -> list[Step]:
        from ._client import Step
        from ._dag import child_step_names

        names = child_step_names(self)  # type: ignore[arg-type]
        return [Step(f"{self.flow_name}/{self.run_id}/{n}", _lazy=True) for n in names]


class RunCompat(_ByPathspec):
    def replace_tag(
        self, tag_to_remove: str | list[str], tag_to_add: str | list[str]
    ) -> frozenset[str]:
        from ._client import _listed

        return self.replace_tags(_listed(tag_to_remove), _listed(tag_to_add))

    def replace_tags(
        self, tags_to_remove: Iterable[str], tags_to_add: Iterable[str]
    ) -> frozenset[str]:
        """Remove, then add (a tag that is a system tag is not added); naming no tag is an error."""
        from rayflow.datastore import records

        from . import _namespace as ns
        from ._client import _check_tags
        from ._errors import RayflowError

        me: Any = self
        remove, add = _check_tags(tags_to_remove), _check_tags(tags_to_add)
        if not remove and not add:
            raise RayflowError(
                f"replace_tags of run {me.pathspec}: name at least one tag to remove or add"
            )
        system = me.system_tags
        bad = [t for t in remove if t in system and t not in me.user_tags]
        if bad:
            raise RayflowError(f"cannot remove system tag {bad[0]!r} of run {me.pathspec}")
        new = records.update_run_tags(
            ns.storage(),
            me.flow_name,
            me.id,
            remove=remove,
            add=[t for t in add if t not in system],
        )  # one mutation: remove, then add
        me._record, me._mutated = None, frozenset(new)
        return me._mutated


class FlowCompat(_ByPathspec):
    @property
    def tags(self) -> frozenset[str]:
        """Empty: tags belong to runs, not to the flow (as Metaflow's ``Flow.tags``)."""
        return frozenset()
