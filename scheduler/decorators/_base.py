"""The base of every step decorator: its options, and the hooks through which it acts.

A decorator is one class: its ``name``, the options it accepts (``defaults``) and the hooks below.
The scheduler never asks for a decorator by name; it calls every attached decorator's hooks
(``rayflow.scheduler.decorators`` combines them per step). A hook gets the decorator's options as
recorded in the plan (plain data, so the plan stays JSON and picklable), never the instance.

Defining a subclass with a ``name`` registers it (``REGISTRY``, name -> class). The registry is
built when the classes are imported; a run ships the classes its plan uses to the workers with the
run's context, so a decorator defined in a flow's own file works on every node too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .._errors import DecoratorError

REGISTRY: dict[str, type[StepDecorator]] = {}


@dataclass
class TaskInfo:
    """What a worker-side hook may know about the attempt it acts on."""

    step: str
    attempt: int
    last_attempt: bool  # no retry follows a failure of this attempt
    kill: Callable[[str], None]  # record this failure and end the worker at once (a stuck step)
    pathspec: str = ""
    artifacts: dict[str, int] | None = (
        None  # name -> payload size, once the step's outputs are known
    )


class StepDecorator:
    """A named set of options attached to a step; ``defaults`` lists every accepted option."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    #: Whether the options enter the cross-run cache key (a changed value runs the step again).
    cache_relevant: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and not getattr(cls, "ignored", False):
            REGISTRY[cls.name] = cls

    def __init__(self, **attributes: Any) -> None:
        unknown = set(attributes) - set(self.defaults)
        if unknown:
            raise DecoratorError(
                f"@{self.name} got unknown option(s) {', '.join(sorted(unknown))} "
                f"(accepted: {', '.join(self.defaults) or 'none'})"
            )
        self.attributes = {**self.defaults, **attributes}

    def __repr__(self) -> str:
        args = ", ".join(
            f"{k}={v!r}" for k, v in self.attributes.items() if v != self.defaults.get(k)
        )
        return f"@{self.name}({args})" if args else f"@{self.name}"

    # -- hooks read by the driver ----------------------------------------------------------
    @classmethod
    def check(cls, attrs: dict[str, Any], step: str) -> None:
        """Raise a DecoratorError (one line naming ``step``) when the options cannot work; called
        when the plan is made, before anything runs."""

    @classmethod
    def ray_options(cls, attrs: dict[str, Any]) -> dict[str, Any]:
        """Ray task options for the step's tasks (``num_cpus``, ``num_gpus``, ``memory`` bytes)."""
        return {}

    @classmethod
    def retry_policy(cls, attrs: dict[str, Any], remote: bool) -> tuple[int, float] | None:
        """``(times, seconds between attempts)`` when this decorator retries a failed task."""
        return None

    @classmethod
    def max_running(cls, attrs: dict[str, Any]) -> int | None:
        """At most this many tasks of the step run at once (the driver holds back the rest)."""
        return None

    @classmethod
    def catches_crash(cls, attrs: dict[str, Any]) -> bool:
        """A task whose worker died gets one more attempt that runs no user code and stores the
        death as the step's outcome (``@catch``)."""
        return False

    @classmethod
    def cache_policy(cls, attrs: dict[str, Any]) -> dict[str, Any] | None:
        """``{"expire_after": seconds | None, "user_key": bool}`` when the step is cached."""
        return None

    # -- hooks run in the worker, around the user's step -------------------------------------
    @classmethod
    def wraps_step(
        cls, attrs: dict[str, Any], task: TaskInfo
    ) -> contextlib.AbstractContextManager[Any]:
        """A context entered just before the step's code and left just after it."""
        return contextlib.nullcontext()

    @classmethod
    def on_failure(
        cls, attrs: dict[str, Any], task: TaskInfo, flow: Any, exc: BaseException
    ) -> bool:
        """The step raised ``exc``; True when this decorator handled it and the flow goes on."""
        return False

    @classmethod
    def after_step(cls, attrs: dict[str, Any], flow: Any, caught: bool) -> None:
        """The step ended (``caught``: through ``on_failure``); before its artifacts are stored."""

    @classmethod
    def task_cards(cls, attrs: dict[str, Any], flow: Any, task: TaskInfo) -> list[tuple[str, str]]:
        """Cards of a task that succeeded (or was caught), as (file name, HTML): stored beside
        the task with its other files, before its record (``@card``). Must not raise."""
        return []
