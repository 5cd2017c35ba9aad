"""The run page's timeline: rayflow's own timeline (``rayflow._stats`` + ``rayflow._timeline``,
the same picture as ``rayflow timeline``), else a built-in stand-in drawn from the task records
the run page already read (``_svg.task_timeline``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from ._svg import task_timeline

log = logging.getLogger("rayflow.ui")


def timeline_html(view: Any) -> tuple[str, bool]:
    """``(html, from_generator)``; ``from_generator`` is False when the stand-in was drawn."""
    try:
        from rayflow import _stats, _timeline
    except ImportError:
        _stats = _timeline = None  # type: ignore[assignment]
    if _stats is not None and _timeline is not None:
        try:
            return _timeline.fragment(_stats.run_stats(view.run), heading=False), True
        except Exception as exc:  # noqa: BLE001 - a timeline problem must not break the run page
            log.warning(
                "timeline of %s failed (%s: %s); showing the built-in one",
                view.run.pathspec,
                type(exc).__name__,
                exc,
            )
    return task_timeline(view.tasks, now=time.time() if view.running else None), False
