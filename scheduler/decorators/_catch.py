"""``@catch``: a step that fails on its last attempt stores the exception and the flow goes on."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from .._tracebacks import CaughtException, user_traceback
from ._base import StepDecorator, TaskInfo


class CatchDecorator(StepDecorator):
    name = "catch"
    defaults: ClassVar[dict[str, Any]] = {"var": None, "print_exception": True}
    cache_relevant = False

    @classmethod
    def catches_crash(cls, attrs: dict[str, Any]) -> bool:
        return True

    @classmethod
    def on_failure(
        cls, attrs: dict[str, Any], task: TaskInfo, flow: Any, exc: BaseException
    ) -> bool:
        if not task.last_attempt:
            return False  # @retry goes first
        if attrs.get("print_exception", True):
            # Metaflow prints the whole traceback of what it caught.
            print(
                f"@catch caught this exception; the flow goes on:\n{user_traceback(exc)}",
                file=sys.stderr,
            )
        var = attrs.get("var")
        if var:
            flow.__dict__[var] = CaughtException(exc)
        return True

    @classmethod
    def after_step(cls, attrs: dict[str, Any], flow: Any, caught: bool) -> None:
        var = attrs.get("var")
        if var and not caught and var not in flow.__dict__:
            flow.__dict__[var] = None  # a step that did not fail has the variable, set to None
