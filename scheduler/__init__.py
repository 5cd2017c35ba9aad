"""rayflow.scheduler: turns a flow's graph into Ray tasks and drives them to the end.

One public entry, ``launch(RunRequest(...))`` (``run_flow`` is its keyword form); the loop
(``_driver.Driver``), the ready-set (``_planner.Planner``), the executor interface the loop talks
to (``_executor_api``) with its Ray implementation (``_executor.RayExecutor``) and an in-process
one for unit tests (``_inprocess``), and the task body (``_task``, with ``_stepoutputs``,
``_taskwrites``, ``_worker``) are each their own module.
"""

from __future__ import annotations

from ._connect import linger_until_exit, prepare_warm
from ._errors import (
    ClusterError,
    DecoratorError,
    ForeachError,
    MergeArtifactsError,
    ResumeError,
    SchedulerError,
    StepTimeout,
    TransitionError,
)
from ._identity import TaskSpec, new_run_id, task_id_of, username
from ._launch import launch
from ._request import RunRequest, cache_mode
from ._run import RunResult, run_flow
from ._warm import stop_warm

__all__ = [
    "ClusterError",
    "DecoratorError",
    "ForeachError",
    "MergeArtifactsError",
    "ResumeError",
    "RunRequest",
    "RunResult",
    "SchedulerError",
    "StepTimeout",
    "TaskSpec",
    "TransitionError",
    "cache_mode",
    "launch",
    "linger_until_exit",
    "prepare_warm",
    "new_run_id",
    "run_flow",
    "stop_warm",
    "task_id_of",
    "username",
]
