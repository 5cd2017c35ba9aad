"""Where a task sits in its run's graph: the tasks it came from and the tasks that came from it
(Metaflow's ``Task.parent_tasks`` / ``child_tasks``, ``Step.parent_steps`` / ``child_steps``).

Every task's record names its inputs (``inputs``: ``[step, task_id]`` pairs), so parents are
exact; children are the tasks of the following steps whose inputs name this task. Which steps
follow comes from the run's plan (kept in run.json).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._client import Step, Task


def _plan(run_path: str) -> dict:
    from ._client import Run

    return Run(run_path, _namespace_check=False)._load().get("plan") or {}


def parent_step_names(step: Step) -> list[str]:
    return list((_plan(f"{step.flow_name}/{step.run_id}").get(step.id) or {}).get("parents") or [])


def child_step_names(step: Step) -> list[str]:
    return list((_plan(f"{step.flow_name}/{step.run_id}").get(step.id) or {}).get("out") or [])


def parent_task_pathspecs(task: Task) -> list[str]:
    run = f"{task.flow_name}/{task.run_id}"
    return [f"{run}/{step}/{task_id}" for step, task_id in task._load().inputs or []]


def child_task_pathspecs(task: Task) -> list[str]:
    from ._client import Step

    run = f"{task.flow_name}/{task.run_id}"
    me = [task.step_name, task.id]
    found = []
    for name in child_step_names(task.parent):
        try:
            tasks = Step(f"{run}/{name}", _lazy=True).tasks()
        except Exception:  # noqa: BLE001 - a step that never ran has no children to list
            continue
        found += [t.pathspec for t in tasks if me in [list(i) for i in t._load().inputs or []]]
    return found


def control_tasks(step: Step) -> list[Task]:
    """The control task of a @parallel step (its node 0), none for any other step."""
    from ._parallel import NODES_VAR

    plan = _plan(f"{step.flow_name}/{step.run_id}")
    parents = (plan.get(step.id) or {}).get("parents") or []
    if not any((plan.get(p) or {}).get("foreach") == NODES_VAR for p in parents):
        return []
    return [t for t in step.tasks() if t.index == 0]
