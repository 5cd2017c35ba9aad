"""The run page at any size: per-step summaries, a window of each step's tasks, a cheap timeline.

A run of 10,000 tasks drawn as one table row and one timeline bar per task made a page of
megabytes that took seconds to build and to show. The page therefore lists at most ``PAGE``
tasks per step (failed ones first, then running ones, then the rest in task order; the others
are fetched a window at a time), and above ``TIMELINE_TASKS`` tasks draws one bar per step
instead of one per task (rayflow's full timeline stays one click away).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ._embed import timeline_html
from ._runview import RunView, StepRow, TaskRow
from ._svg import step_spans

log = logging.getLogger("rayflow.ui")

PAGE = 100
TIMELINE_TASKS = 500
_FIRST = {"failed": 0, "running": 1}


def ordered(step: StepRow) -> list[TaskRow]:
    """The step's tasks in the order the page lists them: failed, running, then the rest."""
    return sorted(step.tasks, key=lambda t: _FIRST.get(t.state, 2))  # stable: task order within


def window(step: StepRow, offset: int = 0, limit: int = PAGE) -> list[TaskRow]:
    offset = max(0, offset)
    return ordered(step)[offset : offset + max(1, min(limit, 1000))]


def find_step(view: RunView, name: str) -> StepRow | None:
    return next((s for s in view.steps if s.name == name), None)


def timeline(view: RunView) -> tuple[str, str]:
    """``(html, kind)``: rayflow's timeline (``generator``), the built-in one of every task
    (``built-in``) or, for a big run, one bar per step (``steps``)."""
    if len(view.tasks) > TIMELINE_TASKS:
        return step_spans(view.steps, now=time.time() if view.running else None), "steps"
    html, generated = timeline_html(view)
    return html, "generator" if generated else "built-in"


def context(view: RunView, focus: str | None = None, offset: int = 0) -> dict[str, Any]:
    """What the run templates need: each step's window of tasks (``focus`` starts at ``offset``)."""
    windows = {s.name: window(s, offset if s.name == focus else 0) for s in view.steps}
    starts = {s.name: (max(0, offset) if s.name == focus else 0) for s in view.steps}
    return {"view": view, "windows": windows, "starts": starts, "page_size": PAGE}
