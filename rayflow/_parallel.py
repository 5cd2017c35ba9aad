"""Metaflow's ``@parallel`` steps, run as a foreach over the node indices.

``self.next(self.train, num_parallel=N)`` starts N tasks of ``train``, each seeing
``current.parallel`` (``num_nodes``, ``node_index``, ``main_ip``, ``control_task_id``) and
``self.input == node_index``; the join after it gets all N as inputs. The tasks are ordinary
Ray tasks (no gang scheduling across nodes yet), which is what Metaflow's local runtime gives
too. Task 0 of the step is its control task (``Step.control_tasks()``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

# The artifact the split step gets: the node indices the parallel step runs over.
NODES_VAR = "_parallel_ubf_iter"


class ParallelInfo(NamedTuple):
    main_ip: str
    num_nodes: int
    node_index: int
    control_task_id: str | None


def parallel(func: Callable[..., Any] | None = None, **attributes: Any) -> Any:
    """Mark a step as a ``@parallel`` step (reached with ``self.next(step, num_parallel=N)``)."""

    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        f._rf_parallel = True  # type: ignore[attr-defined]
        return f

    if func is not None and callable(func):
        return apply(func)
    return apply


def parallel_info(flow: Any, step_name: str) -> ParallelInfo | None:
    """``current.parallel`` of a task of ``step_name`` (``None`` unless it is a @parallel step)."""
    func = getattr(type(flow), step_name, None)
    if not getattr(func, "_rf_parallel", False):
        return None
    stack = flow.foreach_stack()
    if not stack:
        return ParallelInfo("127.0.0.1", 1, 0, None)
    index, num, _ = stack[-1]
    return ParallelInfo("127.0.0.1", int(num), int(index), None)
