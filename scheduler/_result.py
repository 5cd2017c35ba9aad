"""What one task tells the driver when it ends: small, typed, and the same for every source.

A result comes from a task that ran (``_task``), from the executor when the task could not report
(a dead worker, a cancellation: ``_executor``), or from a clone (resume, cache: ``_clone``). The
driver and the planner read only these fields; artifacts never travel here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fanout:
    """A foreach's splits: how many, and the content key of each split's item."""

    n: int
    items: list[str]


@dataclass
class TaskResult:
    ok: bool
    next: list[str] = field(default_factory=list)  # steps this task leads to
    foreach: Fanout | None = None
    error: dict[str, Any] | None = None  # type, message, traceback, internal (as in the record)
    output: dict[str, str] | None = None  # the tail of stdout/stderr, for the driver to show
    attempt: int = 0  # the attempt whose record is the task's (a join reads it directly)
    crashed: bool = False  # the worker died: the task could not report itself
    cancelled: bool = False
    caught: bool = False  # @catch caught the step's exception; the flow goes on
    cloned: bool = False  # resume took it from the origin run
    cached: bool = False  # the cache took it from an earlier run
    record: dict[str, Any] | None = None  # the finished record as stored, for the done pages

    @classmethod
    def failure(
        cls,
        error: dict[str, Any],
        *,
        crashed: bool = False,
        cancelled: bool = False,
        output: dict[str, str] | None = None,
    ) -> TaskResult:
        return cls(ok=False, error=error, crashed=crashed, cancelled=cancelled, output=output)
