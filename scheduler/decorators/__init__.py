"""Step decorators: one class per decorator, one module each, and the hooks combined per step.

The scheduler, the client's statistics and the UI ask these functions about a step (given its
plan node), never a decorator by its name; adding a decorator is one new subclass of
``StepDecorator`` (imported here for the built-in ones). Options come from the plan node's
``decorators`` mapping (name -> options); a name without a registered class (Metaflow's platform
decorators, accepted and ignored) has no hooks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import cloudpickle

from ._base import REGISTRY, StepDecorator, TaskInfo

# isort: off
# The built-in decorators, registered in this order (the order ``--with`` lists them in).
from ._retry import RetryDecorator
from ._catch import CatchDecorator
from ._timeout import TimeoutDecorator
from ._resources import ResourcesDecorator
from ._environment import EnvironmentDecorator
from ._cache import CacheDecorator
from ._concurrency import ConcurrencyDecorator
from ._secrets import SecretsDecorator, SecretsError
# isort: on

__all__ = [
    "REGISTRY",
    "CacheDecorator",
    "CatchDecorator",
    "ConcurrencyDecorator",
    "EnvironmentDecorator",
    "ResourcesDecorator",
    "RetryDecorator",
    "SecretsDecorator",
    "SecretsError",
    "StepDecorator",
    "TaskInfo",
    "TimeoutDecorator",
    "after_step",
    "attached",
    "cache_key_options",
    "cache_policy",
    "catches_crash",
    "classes_for",
    "max_running",
    "on_failure",
    "ray_options",
    "retry_policy",
    "shipped_classes",
    "makes_cards",
    "task_cards",
    "wraps_step",
]

Classes = dict[str, type[StepDecorator]]


def attached(
    node: dict[str, Any], classes: Classes | None = None
) -> list[tuple[type[StepDecorator], dict]]:
    """The step's decorators as (class, options); ``classes`` (shipped to a worker) first."""
    found = []
    for name, attrs in (node.get("decorators") or {}).items():
        cls = (classes or {}).get(name) or REGISTRY.get(name) or StepDecorator
        found.append((cls, attrs if isinstance(attrs, dict) else {}))
    return found


# -- the driver's questions ---------------------------------------------------------------------
def ray_options(node: dict[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for cls, attrs in attached(node):
        opts.update(cls.ray_options(attrs))
    return opts


def retry_policy(node: dict[str, Any], remote: bool) -> tuple[int, float]:
    """``(retries, seconds between attempts)``; ``(0, 0.0)`` for a step that is not retried."""
    for cls, attrs in attached(node):
        policy = cls.retry_policy(attrs, remote)
        if policy is not None:
            return policy
    return 0, 0.0


def max_running(node: dict[str, Any]) -> int | None:
    limits = [n for cls, attrs in attached(node) if (n := cls.max_running(attrs))]
    return min(limits) if limits else None


def catches_crash(node: dict[str, Any]) -> bool:
    return any(cls.catches_crash(attrs) for cls, attrs in attached(node))


def cache_policy(node: dict[str, Any]) -> dict[str, Any] | None:
    for cls, attrs in attached(node):
        policy = cls.cache_policy(attrs)
        if policy is not None:
            return policy
    return None


def cache_key_options(node: dict[str, Any]) -> dict[str, Any]:
    """The options that enter the cross-run cache key (a change there runs the step again)."""
    return {
        name: attrs
        for name, attrs in (node.get("decorators") or {}).items()
        if REGISTRY.get(name, StepDecorator).cache_relevant
    }


# -- shipping the classes to the workers -----------------------------------------------------
def shipped_classes(plan: dict[str, dict[str, Any]]) -> bytes:
    """The classes the plan's decorators name, pickled for the run's context (a class defined
    in the flow's file travels by value with it; the built-in ones by reference)."""
    names = {n for node in plan.values() for n in (node.get("decorators") or {})}
    return cloudpickle.dumps({n: REGISTRY[n] for n in sorted(names) if n in REGISTRY})


def classes_for(ctx: dict[str, Any]) -> Classes:
    data = ctx.get("decorator_classes")
    return cloudpickle.loads(data) if data else {}


# -- the worker's hooks ----------------------------------------------------------------------
@contextlib.contextmanager
def wraps_step(node: dict[str, Any], classes: Classes, task: TaskInfo) -> Iterator[None]:
    """Every decorator's context around the step, entered in the order they are listed."""
    with contextlib.ExitStack() as stack:
        for cls, attrs in attached(node, classes):
            stack.enter_context(cls.wraps_step(attrs, task))
        yield


def on_failure(
    node: dict[str, Any], classes: Classes, task: TaskInfo, flow: Any, exc: BaseException
) -> bool:
    return any([cls.on_failure(attrs, task, flow, exc) for cls, attrs in attached(node, classes)])


def after_step(node: dict[str, Any], classes: Classes, flow: Any, caught: bool) -> None:
    for cls, attrs in attached(node, classes):
        cls.after_step(attrs, flow, caught)


def makes_cards(node: dict[str, Any], classes: Classes) -> bool:
    """Whether a decorator of the step renders cards (the task then captures what that prints)."""
    return any(
        cls.task_cards.__func__ is not StepDecorator.task_cards.__func__  # type: ignore[attr-defined]
        for cls, _ in attached(node, classes)
    )


def task_cards(
    node: dict[str, Any], classes: Classes, flow: Any, task: TaskInfo
) -> list[tuple[str, str]]:
    return [
        card for cls, attrs in attached(node, classes) for card in cls.task_cards(attrs, flow, task)
    ]
