"""``@retry``: a failed task runs again, each attempt with its own record and ``retry_count``."""

from __future__ import annotations

from typing import Any, ClassVar

from ._base import StepDecorator


class RetryDecorator(StepDecorator):
    name = "retry"
    defaults: ClassVar[dict[str, Any]] = {"times": 3, "minutes_between_retries": 2}
    cache_relevant = False  # how often a step may fail does not change what it computes

    @classmethod
    def retry_policy(cls, attrs: dict[str, Any], remote: bool) -> tuple[int, float]:
        times = int(attrs.get("times", cls.defaults["times"]))
        # As Metaflow's local runtime: retry at once; the delay is for remote executors.
        minutes = attrs.get("minutes_between_retries", cls.defaults["minutes_between_retries"])
        return times, (60.0 * float(minutes or 0) if remote else 0.0)
